"""SendGrid: sending (v3 Mail Send), verifying the signed Event Webhook, and mapping its events.

Herald's ids travel as ``custom_args``; SendGrid copies them onto every event of the message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from chalicelib.adapters.http import failure_for, request
from chalicelib.domain.delivery import DeliveryEvent, DeliveryOutcome, from_epoch
from chalicelib.domain.errors import BadRequest, Forbidden, Unauthorized
from chalicelib.domain.models import Channel, OutgoingEmail, SendResult

PROVIDER = "sendgrid"
SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"

# SendGrid's event names → Herald's outcomes; engagement events (open, click…) are not delivery news.
EVENT_OUTCOMES: dict[str, DeliveryOutcome] = {
    "delivered": DeliveryOutcome.DELIVERED,
    "deferred": DeliveryOutcome.DEFERRED,
    "bounce": DeliveryOutcome.BOUNCED,
    "dropped": DeliveryOutcome.DROPPED,
    "spamreport": DeliveryOutcome.COMPLAINT,
}


def custom_args(tags: Mapping[str, str]) -> dict[str, str]:
    return {f"herald_{k}": v for k, v in tags.items()}


def _party(email: str, name: str) -> dict[str, str]:
    return {"email": email, **({"name": name} if name else {})}


class SendGridEmailSender:
    name = PROVIDER

    def __init__(self, http: Any, base_url: str, api_key: str, from_email: str, from_name: str) -> None:
        self._http = http
        self._url = f"{base_url.rstrip('/')}/v3/mail/send"
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self._from = _party(from_email, from_name)

    def send(self, email: OutgoingEmail) -> SendResult:
        content = [
            {"type": mime, "value": value}
            for mime, value in (("text/plain", email.text), ("text/html", email.html))
            if value
        ]
        sender = email.sender
        payload: dict[str, Any] = {
            "personalizations": [{"to": [{"email": email.to}]}],
            "from": _party(sender.from_email, sender.from_name) if sender else self._from,
            "subject": email.subject,
            "content": content,
            "custom_args": custom_args(email.tags),
        }
        if sender and sender.reply_to:
            payload["reply_to"] = {"email": sender.reply_to}
        if email.headers:
            payload["headers"] = dict(email.headers)
        answer = request(
            self._http,
            "SendGrid",
            "POST",
            self._url,
            headers=self._headers,
            body=json.dumps(payload).encode(),
        )
        if answer.status == 202:
            return SendResult(provider=PROVIDER, provider_message_id=answer.headers.get("x-message-id", ""))
        body = answer.json()
        errors = body.get("errors") if isinstance(body, dict) else None
        reason = "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict)) if errors else ""
        raise failure_for("SendGrid", answer, reason or answer.text)


def load_public_key(key: str) -> Any:
    """SendGrid's verification key: base64 DER (as the dashboard shows it) or PEM; must be P-256."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

    text = key.strip()
    loaded = (
        load_pem_public_key(text.encode())
        if "BEGIN PUBLIC KEY" in text
        else load_der_public_key(base64.b64decode(text))
    )
    if not isinstance(loaded, ec.EllipticCurvePublicKey) or loaded.curve.name != "secp256r1":
        raise ValueError("the SendGrid webhook key is not an ECDSA P-256 public key")
    return loaded


def signature_is_valid(public_key: Any, body: bytes, signature: str, timestamp: str) -> bool:
    """ECDSA P-256 / SHA-256 over the timestamp header followed by the raw body."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        public_key.verify(
            base64.b64decode(signature, validate=True),
            timestamp.encode() + body,
            ec.ECDSA(hashes.SHA256()),
        )
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def events_from_webhook(headers: Mapping[str, str], body: bytes, public_key: Any) -> list[DeliveryEvent]:
    """Verify a signed Event Webhook request, then map its (batched) events."""
    signature, timestamp = headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER)
    if not signature or not timestamp:
        raise Unauthorized("the request carries no SendGrid signature")
    if not signature_is_valid(public_key, body, signature, timestamp):
        raise Forbidden("the SendGrid signature does not match")
    try:
        payload = json.loads(body)
    except ValueError as error:
        raise BadRequest("the SendGrid webhook body is not JSON") from error
    if not isinstance(payload, list) or not all(isinstance(e, dict) for e in payload):
        raise BadRequest("the SendGrid webhook body is not an array of events")
    return [event for raw in payload if (event := map_event(raw)) is not None]


def map_event(raw: dict[str, Any]) -> DeliveryEvent | None:
    outcome = EVENT_OUTCOMES.get(str(raw.get("event", "")))
    if outcome is None:
        return None
    try:
        occurred_at = from_epoch(float(raw["timestamp"]))
    except (KeyError, TypeError, ValueError) as error:
        raise BadRequest("a SendGrid event has no valid timestamp") from error
    permanent = outcome is DeliveryOutcome.BOUNCED and raw.get("type", "bounce") == "bounce"
    event_id = raw.get("sg_event_id") or hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()
    sg_message_id = str(raw.get("sg_message_id") or "")
    return DeliveryEvent(
        provider=PROVIDER,
        event_id=str(event_id),
        outcome=outcome,
        occurred_at=occurred_at,
        channel=Channel.EMAIL,
        comm_id=_text(raw.get("herald_comm_id")),
        message_id=_text(raw.get("herald_message_id")),
        # X-Message-Id from the send answer is the part before the first dot.
        provider_message_id=sg_message_id.split(".")[0] or None,
        recipient=_text(raw.get("email")),
        error=_error(raw, outcome),
        permanent=permanent,
        raw=raw,
    )


def _error(raw: dict[str, Any], outcome: DeliveryOutcome) -> str | None:
    if outcome in (DeliveryOutcome.DELIVERED, DeliveryOutcome.COMPLAINT):
        return None
    kind = "blocked" if raw.get("type") == "blocked" else str(raw.get("event"))
    detail = raw.get("reason") or raw.get("response") or ""
    status = f" ({raw['status']})" if raw.get("status") else ""
    return f"SendGrid {kind}{status}: {detail}".strip().rstrip(":")


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
