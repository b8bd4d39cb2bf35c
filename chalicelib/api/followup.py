"""Fixing what failed: the send-failures tab, cloning for a resend, and the suppression list."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.api.http import (
    JSON_TYPES,
    caller,
    current_request,
    json_object,
    json_response,
    limit_param,
    page_response,
    query_param,
    route,
)
from chalicelib.domain.addresses import email_problem, phone_problem
from chalicelib.domain.delivery import Suppression
from chalicelib.domain.errors import NotFound, ValidationError
from chalicelib.domain.models import Channel, utc_now
from chalicelib.domain.planning import normalise_address
from chalicelib.wiring import services

bp = Blueprint(__name__)


def _wants_csv(request: Request) -> bool:
    headers: Any = request.headers or {}
    accept = str(headers.get("accept") or "")
    return "text/csv" in accept.lower()


@route(bp, "/communications/{comm_id}/send-failures", methods=["GET"])
def send_failures(comm_id: str) -> Response:
    caller(bp)
    request = current_request(bp)
    followup = services().followup
    if _wants_csv(request):
        lines = "".join(f"{account_id}\n" for account_id in followup.send_failure_account_ids(comm_id))
        return Response(
            body="account_id\n" + lines,
            status_code=200,
            headers={
                "Content-Type": "text/csv",
                "Content-Disposition": f'attachment; filename="send-failures-{comm_id}.csv"',
            },
        )
    page = followup.send_failures(comm_id, query_param(request, "cursor"), limit_param(request))
    return page_response(page, lambda group: group)


@route(bp, "/communications/{comm_id}/clone", methods=["POST"], content_types=JSON_TYPES)
def clone_communication(comm_id: str) -> Response:
    admin = caller(bp, write=True)
    request = current_request(bp)
    from chalicelib.api.schemas import CloneBody, validated

    only = validated(CloneBody, json_object(request) if request.raw_body else {}).only
    clone = services().followup.clone(comm_id, only, by=admin)
    return json_response(clone.to_api(detail=True), status=201)


def _channel(raw: str | None) -> Channel:
    try:
        return Channel(raw or "")
    except ValueError as error:
        raise ValidationError(
            "channel must be email or sms", [{"field": "channel", "error": "unknown"}]
        ) from error


@route(bp, "/suppressions", methods=["GET"])
def list_suppressions() -> Response:
    caller(bp)
    request = current_request(bp)
    raw_channel = query_param(request, "channel")
    channel = _channel(raw_channel) if raw_channel else None
    page = services().suppression_list.list(channel, query_param(request, "cursor"), limit_param(request))
    return page_response(page, Suppression.to_api)


@route(bp, "/suppressions", methods=["POST"], content_types=JSON_TYPES)
def add_suppression() -> Response:
    caller(bp, write=True)
    from chalicelib.api.schemas import SuppressionBody, validated

    body = validated(SuppressionBody, json_object(current_request(bp)))
    channel, address, reason = Channel(body.channel), body.address.strip(), body.reason or "manual"
    if (email_problem if channel is Channel.EMAIL else phone_problem)(address) is not None:
        raise ValidationError(
            f"address must be a valid {'email address' if channel is Channel.EMAIL else 'E.164 number'}",
            [{"field": "address", "error": "invalid"}],
        )
    suppression = Suppression(
        channel=channel,
        address=normalise_address(channel, address),
        reason=reason,
        source="admin",
        created_at=utc_now(),
    )
    services().suppression_list.put(suppression)
    return json_response(suppression.to_api(), status=201)


@route(bp, "/suppressions/{channel}/{address}", methods=["DELETE"])
def delete_suppression(channel: str, address: str) -> Response:
    caller(bp, write=True)
    from urllib.parse import unquote

    kind = _channel(channel)
    if not services().suppression_list.delete(kind, normalise_address(kind, unquote(address))):
        raise NotFound(f"{unquote(address)} is not suppressed for {kind}")
    return Response(body="", status_code=204)
