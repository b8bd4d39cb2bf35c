"""The delivery-events queue: SNS envelopes from AWS, the events verified provider webhooks handed
over, and Herald's own hand-backs of early events.

Webhook requests only verify their events and queue them, so the events worker applies them in
batches like SES's: a burst of single-event webhooks (Mailgun, Twilio) becomes batched writes and
one counter move per communication per batch, instead of a transaction per request on the same
counters item, and an event is kept once SQS has it even when DynamoDB is slow to take it.

An event can arrive before the sender has recorded its message (providers are quick; a send task
records its messages when the whole task is through). Such events go back on the events queue with
a delay, carrying how many times they have been tried, until the record exists or attempts run out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from chalicelib.adapters.sns_events import events_from_envelope, inbound_sms_from_envelope, parse_envelope
from chalicelib.domain.delivery import DeliveryEvent
from chalicelib.domain.optout import InboundSms

RETRY_KEY = "herald_delivery_events"
SEND_BATCH_MAX = 10


def retry_body(events: Sequence[DeliveryEvent], attempt: int) -> str:
    return json.dumps({RETRY_KEY: [e.to_dict() for e in events], "attempt": attempt}, default=str)


def inbound_sms_from_body(body: str) -> InboundSms | None:
    """The recipient's SMS reply an events-queue record carries, if it carries one."""
    raw = json.loads(body)
    if isinstance(raw, dict) and RETRY_KEY in raw:
        return None
    return inbound_sms_from_envelope(parse_envelope(body))


def events_from_body(body: str) -> tuple[int, list[DeliveryEvent]]:
    """(attempt, events) of one events-queue record: an SNS envelope or a hand-back."""
    raw = json.loads(body)
    if isinstance(raw, dict) and RETRY_KEY in raw:
        return int(raw.get("attempt", 1)), [DeliveryEvent.from_dict(e) for e in raw[RETRY_KEY]]
    return 0, events_from_envelope(parse_envelope(body))


class SqsDeliveryEventQueue:
    def __init__(self, client: Any, queue_name: str, retry_delay_s: int) -> None:
        self._client = client
        self._queue_name = queue_name
        self._retry_delay_s = max(0, min(retry_delay_s, 900))

    @cached_property
    def _url(self) -> str:
        return str(self._client.get_queue_url(QueueName=self._queue_name)["QueueUrl"])

    def hand_over(self, events: Sequence[DeliveryEvent]) -> None:
        """Queue verified events for the events worker, to be applied at once."""
        self._send(events, 0, 0)

    def retry_later(self, events: Sequence[DeliveryEvent], attempt: int) -> None:
        self._send(events, attempt, self._retry_delay_s)

    def _send(self, events: Sequence[DeliveryEvent], attempt: int, delay_s: int) -> None:
        # One event per SQS message keeps each well under the 256 KB limit, raw payload included.
        for start in range(0, len(events), SEND_BATCH_MAX):
            entries = [
                {"Id": str(i), "MessageBody": retry_body([event], attempt), "DelaySeconds": delay_s}
                for i, event in enumerate(events[start : start + SEND_BATCH_MAX])
            ]
            response = self._client.send_message_batch(QueueUrl=self._url, Entries=entries)
            failed = response.get("Failed") or []
            if failed:
                raise RuntimeError(f"SQS refused {len(failed)} delivery events: {failed[0].get('Message')}")
