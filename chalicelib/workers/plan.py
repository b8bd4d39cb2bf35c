"""The planner worker: expands a communication's audience into send tasks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.adapters.queue import planning_from_body
from chalicelib.wiring import services
from chalicelib.workers.batch import process_sqs_batch

if TYPE_CHECKING:
    from chalicelib.wiring import Services


def handle(event: dict[str, Any], svc: Services | None = None) -> dict[str, Any]:
    svc = svc or services()

    def plan(body: str) -> None:
        comm_id, first_chunk = planning_from_body(body)
        svc.planner.plan(comm_id, first_chunk)

    return process_sqs_batch(event, plan)
