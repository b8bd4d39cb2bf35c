"""SES's and End User Messaging's delivery events as Firehose writes them to S3.

Both services publish each event to the events delivery stream as one JSON record; Firehose
buffers them (up to 1 MB or a minute) and writes each buffer as one object, the records one after
another with no separator, and S3 reports the object on the event files queue. One object carries
hundreds of events for the price of a single notification, where SNS charged a publish and SQS a
request for every event.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from chalicelib.adapters.sns_events import events_from_aws_message
from chalicelib.domain.delivery import DeliveryEvent
from chalicelib.domain.errors import BadRequest

logger = logging.getLogger(__name__)
# What JSON allows around a value (`raw_decode` does not skip it before one).
_JSON_WHITESPACE = re.compile(r"[ \t\n\r]*")


def events_from_file(data: bytes) -> list[DeliveryEvent]:
    """The delivery events of a file of JSON records, concatenated or one per line.

    A record that is JSON but not a readable event (no message id, say) is logged whole and
    skipped, so that it does not hold back the file's other events; a file that is not JSON at all
    fails, to be handed over again and end in the dead-letter queue."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest("the events file is not UTF-8") from error
    decoder = json.JSONDecoder()
    events: list[DeliveryEvent] = []
    position = 0
    while True:
        position = _JSON_WHITESPACE.match(text, position).end()  # type: ignore[union-attr]
        if position == len(text):
            return events
        try:
            record, position = decoder.raw_decode(text, position)
        except ValueError as error:
            raise BadRequest(f"the events file holds no JSON record at offset {position}") from error
        try:
            events.extend(events_from_aws_message(record) if isinstance(record, dict) else [])
        except BadRequest as error:
            logger.error("unreadable delivery event skipped: %s", error, extra={"record": record})


class S3EventFiles:
    """Reads the events files of one bucket."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def events(self, key: str) -> list[DeliveryEvent]:
        body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"]
        try:
            return events_from_file(body.read())
        finally:
            body.close()
