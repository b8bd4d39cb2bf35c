"""The send workers (bulk and urgent lanes): each SQS record is one task of many messages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.adapters.queue import send_task_from_body
from chalicelib.wiring import services
from chalicelib.workers.batch import process_sqs_batch

if TYPE_CHECKING:
    from chalicelib.wiring import Services

DEFAULT_TIME_S = 300.0


def handle(event: dict[str, Any], context: Any = None, svc: Services | None = None) -> dict[str, Any]:
    svc = svc or services()
    deadline = svc.clock.now() + remaining_seconds(context)
    return process_sqs_batch(event, lambda body: svc.sender.send(send_task_from_body(body), deadline))


def remaining_seconds(context: Any) -> float:
    """Time left before Lambda stops this invocation (what a worker hands back work ahead of)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining() / 1000 if callable(remaining) else DEFAULT_TIME_S
