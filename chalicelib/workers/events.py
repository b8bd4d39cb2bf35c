"""The events worker: batches of SNS-delivered SES / SMS events (and early hand-backs) → DeliveryTracker.

All events of a batch are recorded together (batched reads and writes, counters once per
communication). A record that cannot be parsed fails alone and ends in the dead-letter queue.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from chalicelib.domain.delivery import DeliveryEvent
from chalicelib.wiring import services

logger = logging.getLogger(__name__)


def handle(event: dict[str, Any]) -> dict[str, Any]:
    from chalicelib.adapters.events_queue import events_from_body, inbound_sms_from_body

    failures: list[str] = []
    by_attempt: dict[int, list[DeliveryEvent]] = defaultdict(list)
    records_by_attempt: dict[int, list[str]] = defaultdict(list)
    for record in event.get("Records", []):
        try:
            # A recipient's reply (STOP / START) arrives on the same topic as delivery events.
            inbound = inbound_sms_from_body(record["body"])
            if inbound is not None:
                services().opt_out.inbound_sms(inbound)
                continue
            attempt, events = events_from_body(record["body"])
        except Exception:
            logger.exception(
                "unreadable delivery event record", extra={"sqs_message_id": record.get("messageId")}
            )
            failures.append(record["messageId"])
            continue
        by_attempt[attempt].extend(events)
        records_by_attempt[attempt].append(record["messageId"])
    for attempt, events in by_attempt.items():
        try:
            services().delivery_tracker.record(events, attempt)
        except Exception:
            logger.exception("recording delivery events failed; SQS will redeliver them")
            failures.extend(records_by_attempt[attempt])
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}
