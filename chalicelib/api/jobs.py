"""Job routes: poll an export or a dry run that runs on a worker."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.http import caller, json_response, route
from chalicelib.wiring import services

bp = Blueprint(__name__)


@route(bp, "/jobs/{job_id}", methods=["GET"])
def get_job(job_id: str) -> Response:
    caller(bp)
    return json_response(services().jobs.get_api(job_id))
