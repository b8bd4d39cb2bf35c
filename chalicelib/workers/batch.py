"""SQS batches with partial failures: only the records that failed go back to the queue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def process_sqs_batch(event: dict[str, Any], handle_body: Callable[[str], None]) -> dict[str, Any]:
    """Run `handle_body` per record; returns {"batchItemFailures": [...]} for the event source mapping."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    from chalicelib.observability import bind_record

    def handle_record(record: Any) -> None:
        bind_record(record.message_id)
        handle_body(record.body)

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(  # type: ignore[return-value]
        event=event,
        record_handler=handle_record,
        processor=processor,
    )
