"""The event files worker: S3 reports a file of SES / End User Messaging events (through SQS);
record its events with the DeliveryTracker, in the tracker's own batches.

A file that cannot be read or recorded fails alone: SQS hands it over again, and recording the
same events twice changes nothing (the tracker counts each status change once).
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.queue import created_keys_from_body
from chalicelib.wiring import services
from chalicelib.workers.batch import process_sqs_batch


def handle(event: dict[str, Any]) -> dict[str, Any]:
    def record_files(body: str) -> None:
        for key in created_keys_from_body(body):
            services().delivery_tracker.record(services().event_files.events(key))

    return process_sqs_batch(event, record_files)
