"""Provider webhooks: not behind admin auth; each request proves itself by its provider's signature."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.http import (
    current_request,
    json_response,
    lowercase_headers,
    query_params,
    raw_body,
    route,
)
from chalicelib.wiring import services

bp = Blueprint(__name__)

# SNS posts text/plain; Twilio form-encoded; SendGrid and Mailgun JSON.
WEBHOOK_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded"]
MAX_WEBHOOK_BYTES = 1024 * 1024


@route(bp, "/webhooks/sendgrid", methods=["POST"], content_types=WEBHOOK_TYPES)
def sendgrid_webhook() -> Response:
    request = current_request(bp)
    result = services().webhooks.sendgrid(lowercase_headers(request), raw_body(request, MAX_WEBHOOK_BYTES))
    return json_response(result.to_api())


@route(bp, "/webhooks/mailgun", methods=["POST"], content_types=WEBHOOK_TYPES)
def mailgun_webhook() -> Response:
    result = services().webhooks.mailgun(raw_body(current_request(bp), MAX_WEBHOOK_BYTES))
    return json_response(result.to_api())


@route(bp, "/webhooks/twilio", methods=["POST"], content_types=WEBHOOK_TYPES)
def twilio_webhook() -> Response:
    request = current_request(bp)
    result = services().webhooks.twilio(
        lowercase_headers(request),
        raw_body(request, MAX_WEBHOOK_BYTES),
        query_params(request),
    )
    return json_response(result.to_api())


@route(bp, "/webhooks/sns", methods=["POST"], content_types=WEBHOOK_TYPES)
def sns_webhook() -> Response:
    result = services().webhooks.sns(raw_body(current_request(bp), MAX_WEBHOOK_BYTES))
    return json_response({"confirmed": True} if result is None else result.to_api())
