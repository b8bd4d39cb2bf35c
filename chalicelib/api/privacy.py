"""Recipients' opt-outs and erasure: one-click unsubscribe, SMS STOP / START, erasing an account's data.

`/unsubscribe` and `/webhooks/twilio/inbound` are public (auth.is_public_path): the first proves
itself by its signed token, the second by Twilio's signature. Erasure is for admins who may write.
"""

from __future__ import annotations

from html import escape

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.api.http import (
    caller,
    current_request,
    error_response,
    json_response,
    limit_param,
    lowercase_headers,
    page_response,
    query_param,
    query_params,
    raw_body,
    route,
)
from chalicelib.domain.errors import HeraldError
from chalicelib.domain.models import AuditEntry
from chalicelib.domain.optout import SUPPRESSIONS_AUDIT_SUBJECT, UnsubscribeRequest
from chalicelib.wiring import services

bp = Blueprint(__name__)

# RFC 8058 clients post a form; the confirmation page does too. Some send nothing at all.
UNSUBSCRIBE_TYPES = [
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "text/plain",
    "application/json",
]
MAX_UNSUBSCRIBE_BYTES = 4096
TWILIO_TYPES = ["application/x-www-form-urlencoded"]
MAX_INBOUND_BYTES = 64 * 1024
# The token is in the URL: no referrer, no caching, no indexing; the page runs no script.
PAGE_HEADERS: dict[str, str | list[str]] = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _wants_html(request: Request) -> bool:
    return "text/html" in lowercase_headers(request).get("accept", "").lower()


def _page(title: str, body: str, status: int = 200) -> Response:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#1f2933}"
        "button{font:inherit;padding:.6rem 1.2rem;border:0;border-radius:.4rem;background:#1f4fd1;color:#fff;"
        "cursor:pointer}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )
    return Response(body=html, status_code=status, headers=dict(PAGE_HEADERS))


def _confirmation_page(token: str, request: UnsubscribeRequest) -> Response:
    action = f"unsubscribe?token={escape(token, quote=True)}"
    return _page(
        "Unsubscribe",
        f"<p>Stop receiving messages like this one at <strong>{escape(request.masked_address)}</strong>?</p>"
        f'<form method="post" action="{action}">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>',
    )


def _error_page(error: HeraldError) -> Response:
    return _page("This link does not work", f"<p>{escape(error.message)}</p>", status=error.status)


@route(bp, "/unsubscribe", methods=["GET"])
def unsubscribe_page() -> Response:
    """A confirmation page: visiting it (as link scanners do) changes nothing."""
    token = query_param(current_request(bp), "token") or ""
    try:
        request = services().opt_out.check(token)
    except HeraldError as error:
        return _error_page(error)
    return _confirmation_page(token, request)


@route(bp, "/unsubscribe", methods=["POST"], content_types=UNSUBSCRIBE_TYPES)
def unsubscribe() -> Response:
    """RFC 8058 one-click unsubscribe (and the confirmation page's button); repeating it is harmless."""
    request = current_request(bp)
    raw_body(request, MAX_UNSUBSCRIBE_BYTES)  # the body only says "List-Unsubscribe=One-Click"
    html = _wants_html(request)
    try:
        result = services().opt_out.unsubscribe(query_param(request, "token"))
    except HeraldError as error:
        return _error_page(error) if html else error_response(error)
    address = result.masked_address or ""
    if html:
        return _page(
            "You are unsubscribed",
            f"<p>No more messages like this one will go to <strong>{escape(address)}</strong>.</p>",
        )
    return json_response(
        {
            "unsubscribed": True,
            "channel": str(result.channel),
            "address": address,
            "changed": result.changed,
        }
    )


@route(bp, "/webhooks/twilio/inbound", methods=["POST"], content_types=TWILIO_TYPES)
def twilio_inbound() -> Response:
    """Twilio's incoming-message webhook: STOP / START keywords change the suppression list."""
    request = current_request(bp)
    services().webhooks.twilio_inbound(
        lowercase_headers(request),
        raw_body(request, MAX_INBOUND_BYTES),
        query_params(request),
    )
    # An empty TwiML answer: Twilio sends no reply of ours (it confirms STOP / START itself).
    return Response(body=EMPTY_TWIML, status_code=200, headers={"Content-Type": "text/xml"})


@route(bp, "/suppressions/audit", methods=["GET"])
def suppressions_audit() -> Response:
    caller(bp)
    request = current_request(bp)
    page = services().audit_log.list(
        SUPPRESSIONS_AUDIT_SUBJECT, query_param(request, "cursor"), limit_param(request)
    )
    return page_response(page, AuditEntry.to_api)


@route(bp, "/accounts/{account_id}/personal-data", methods=["DELETE"])
def erase_personal_data(account_id: str) -> Response:
    admin = caller(bp, write=True)
    return json_response(services().erasure.erase(account_id, by=admin).to_api())


@route(bp, "/accounts/{account_id}/audit", methods=["GET"])
def account_audit(account_id: str) -> Response:
    from chalicelib.domain.erasure import account_audit_subject

    caller(bp)
    request = current_request(bp)
    page = services().audit_log.list(
        account_audit_subject(account_id), query_param(request, "cursor"), limit_param(request)
    )
    return page_response(page, AuditEntry.to_api)
