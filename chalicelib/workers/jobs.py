"""The jobs worker: exports and dry runs too long for an HTTP request."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.queue import job_id_from_body
from chalicelib.wiring import services
from chalicelib.workers.batch import process_sqs_batch


def handle(event: dict[str, Any]) -> dict[str, Any]:
    return process_sqs_batch(event, lambda body: services().jobs.run(job_id_from_body(body)))
