"""The send worker: each SQS record is one task of many messages."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.queue import send_task_from_body
from chalicelib.wiring import services
from chalicelib.workers.batch import process_sqs_batch


def handle(event: dict[str, Any]) -> dict[str, Any]:
    return process_sqs_batch(event, lambda body: services().sender.send(send_task_from_body(body)))
