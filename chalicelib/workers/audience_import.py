"""The audience import worker: S3 reports an uploaded CSV (through SQS); import it into the draft."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.queue import created_keys_from_body
from chalicelib.wiring import services
from chalicelib.workers.batch import process_sqs_batch


def handle(event: dict[str, Any]) -> dict[str, Any]:
    def import_uploads(body: str) -> None:
        for key in created_keys_from_body(body):
            services().audience.import_upload(key)

    return process_sqs_batch(event, import_uploads)
