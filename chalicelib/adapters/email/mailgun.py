"""Mailgun: sending (Messages API), verifying its webhooks (HMAC + token replay), mapping its events.

Herald's ids travel as ``v:`` variables; Mailgun returns them in each event's ``user-variables``.
Webhooks are the JSON kind (``{"signature": {...}, "event-data": {...}}``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from chalicelib.adapters.http import basic_auth, failure_for, request
from chalicelib.domain.delivery import DeliveryEvent, DeliveryOutcome, from_epoch
from chalicelib.domain.errors import BadRequest, Forbidden, Unauthorized
from chalicelib.domain.models import Channel, OutgoingEmail, SendResult

PROVIDER = "mailgun"

# Remembers a token until the given time; False when it was already used.
TokenGuard = Callable[[str, datetime], bool]


def _address(email: str, name: str) -> str:
    from email.utils import formataddr

    return formataddr((name, email)) if name else email


class MailgunEmailSender:
    name = PROVIDER

    def __init__(
        self, http: Any, base_url: str, domain: str, api_key: str, from_email: str, from_name: str
    ) -> None:
        self._http = http
        self._url = f"{base_url.rstrip('/')}/v3/{domain}/messages"
        self._headers = {"Authorization": basic_auth("api", api_key)}
        self._from = _address(from_email, from_name)

    def send(self, email: OutgoingEmail) -> SendResult:
        sender = email.sender
        origin = _address(sender.from_email, sender.from_name) if sender else self._from
        fields = [("from", origin), ("to", email.to), ("subject", email.subject)]
        if sender and sender.reply_to:
            fields.append(("h:Reply-To", sender.reply_to))
        fields += [(f"h:{name}", value) for name, value in email.headers.items()]
        fields += [(kind, value) for kind, value in (("text", email.text), ("html", email.html)) if value]
        fields += [(f"v:herald_{k}", v) for k, v in email.tags.items()]
        answer = request(self._http, "Mailgun", "POST", self._url, headers=self._headers, fields=fields)
        body = answer.json()
        if answer.status == 200 and isinstance(body, dict) and body.get("id"):
            return SendResult(provider=PROVIDER, provider_message_id=str(body["id"]).strip("<>"))
        reason = body.get("message") if isinstance(body, dict) else None
        raise failure_for("Mailgun", answer, str(reason or answer.text))


def signature_is_valid(signing_key: str, timestamp: str, token: str, signature: str) -> bool:
    """HMAC-SHA256 of timestamp + token with the webhook signing key, hex, compared in constant time."""
    expected = hmac.new(signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.lower())


def events_from_webhook(
    body: bytes,
    signing_key: str,
    first_use: TokenGuard,
    max_age_s: int,
    now: Callable[[], float] = time.time,
) -> list[DeliveryEvent]:
    """Verify one webhook (signature, age, token never seen before), then map its event."""
    try:
        payload = json.loads(body)
    except ValueError as error:
        raise BadRequest("the Mailgun webhook body is not JSON") from error
    signature = payload.get("signature") if isinstance(payload, dict) else None
    if not isinstance(signature, dict) or not all(
        isinstance(signature.get(k), str) and signature.get(k) for k in ("timestamp", "token", "signature")
    ):
        raise Unauthorized("the request carries no Mailgun signature")
    timestamp, token = signature["timestamp"], signature["token"]
    if not signature_is_valid(signing_key, timestamp, token, signature["signature"]):
        raise Forbidden("the Mailgun signature does not match")
    try:
        signed_at = float(timestamp)
    except ValueError as error:
        raise Forbidden("the Mailgun timestamp is not a number") from error
    if abs(now() - signed_at) > max_age_s:
        raise Forbidden("the Mailgun webhook is too old (or from the future)")
    if not first_use(token, from_epoch(signed_at) + timedelta(seconds=max_age_s)):
        raise Forbidden("this Mailgun webhook token was already used")
    data = payload.get("event-data")
    if not isinstance(data, dict):
        raise BadRequest("the Mailgun webhook has no event-data")
    event = map_event(data)
    return [event] if event else []


def map_event(data: dict[str, Any]) -> DeliveryEvent | None:
    outcome, permanent = _outcome(data)
    if outcome is None:
        return None
    try:
        occurred_at = from_epoch(float(data["timestamp"]))
    except (KeyError, TypeError, ValueError) as error:
        raise BadRequest("the Mailgun event has no valid timestamp") from error
    variables = data.get("user-variables") or {}
    headers = (data.get("message") or {}).get("headers") or {}
    event_id = data.get("id") or hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    return DeliveryEvent(
        provider=PROVIDER,
        event_id=str(event_id),
        outcome=outcome,
        occurred_at=occurred_at,
        channel=Channel.EMAIL,
        comm_id=_text(variables.get("herald_comm_id")),
        message_id=_text(variables.get("herald_message_id")),
        provider_message_id=_text(str(headers.get("message-id") or "").strip("<>")),
        recipient=_text(data.get("recipient")),
        error=_error(data, outcome),
        permanent=permanent,
        raw=data,
    )


def _outcome(data: dict[str, Any]) -> tuple[DeliveryOutcome | None, bool]:
    event = data.get("event")
    if event == "delivered":
        return DeliveryOutcome.DELIVERED, False
    if event == "complained":
        return DeliveryOutcome.COMPLAINT, False
    if event == "rejected":
        return DeliveryOutcome.DROPPED, False
    if event != "failed":
        return None, False  # accepted, opened, clicked, unsubscribed, stored
    if data.get("severity") != "permanent":
        return DeliveryOutcome.DEFERRED, False  # Mailgun retries temporary failures itself
    reason = str(data.get("reason") or "")
    if reason == "bounce":
        return DeliveryOutcome.BOUNCED, True
    if reason.startswith("suppress-") or reason == "espblock":
        return DeliveryOutcome.DROPPED, False
    return DeliveryOutcome.FAILED, False


def _error(data: dict[str, Any], outcome: DeliveryOutcome) -> str | None:
    if outcome in (DeliveryOutcome.DELIVERED, DeliveryOutcome.COMPLAINT):
        return None
    status = data.get("delivery-status") or {}
    code = f" ({status['code']})" if status.get("code") else ""
    detail = status.get("description") or status.get("message") or data.get("reason") or ""
    kind = "bounce" if outcome is DeliveryOutcome.BOUNCED else str(data.get("event"))
    return f"Mailgun {kind}{code}: {detail}".strip().rstrip(":")


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
