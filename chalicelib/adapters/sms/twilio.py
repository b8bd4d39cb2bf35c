"""Twilio: sending (Messages API), verifying status callbacks (X-Twilio-Signature), mapping them.

Herald's ids travel in the StatusCallback URL's query (keys sorted, so the URL we verify against
is rebuilt byte for byte). Twilio's callbacks carry no event time: the time received stands in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from chalicelib.adapters.http import basic_auth, failure_for, request
from chalicelib.domain.delivery import DeliveryEvent, DeliveryOutcome
from chalicelib.domain.errors import BadRequest, Forbidden, Unauthorized
from chalicelib.domain.models import Channel, OutgoingSms, SendResult, utc_now
from chalicelib.domain.optout import InboundSms

logger = logging.getLogger(__name__)

PROVIDER = "twilio"
SIGNATURE_HEADER = "x-twilio-signature"
WEBHOOK_PATH = "/webhooks/twilio"
# Where the number's (or Messaging Service's) "A message comes in" webhook points.
INBOUND_PATH = "/webhooks/twilio/inbound"

STATUS_OUTCOMES: dict[str, DeliveryOutcome] = {
    "delivered": DeliveryOutcome.DELIVERED,
    "read": DeliveryOutcome.DELIVERED,
    "undelivered": DeliveryOutcome.UNDELIVERED,
    "failed": DeliveryOutcome.FAILED,
}
# Error codes that say the number itself cannot receive SMS (suppressed like a hard bounce).
PERMANENT_ERRORS = frozenset({"21211", "21612", "21614", "30005", "30006"})
ERROR_TEXT = {
    "30001": "queue overflow",
    "30002": "account suspended",
    "30003": "unreachable destination handset",
    "30004": "message blocked",
    "30005": "unknown destination handset",
    "30006": "landline or unreachable carrier",
    "30007": "message filtered by the carrier",
    "30008": "unknown error",
    "30034": "message from an unregistered number",
    "21610": "the recipient has opted out (STOP)",
    "21614": "not a mobile number",
}


def callback_url(public_url: str, tags: Mapping[str, str]) -> str:
    return f"{public_url}{WEBHOOK_PATH}?{urlencode(sorted(tags.items()))}"


class TwilioSmsSender:
    name = PROVIDER

    def __init__(
        self,
        http: Any,
        base_url: str,
        account_sid: str,
        auth_token: str,
        sender: str,
        messaging_service_sid: str = "",
        public_url: str = "",
    ) -> None:
        self._http = http
        self._url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._headers = {"Authorization": basic_auth(account_sid, auth_token)}
        self._origin = (
            ("MessagingServiceSid", messaging_service_sid) if messaging_service_sid else ("From", sender)
        )
        self._public_url = public_url
        if not public_url:
            logger.warning("HERALD_PUBLIC_URL is not set: Twilio will not report deliveries")

    def send(self, sms: OutgoingSms) -> SendResult:
        # The operator's sender id replaces the configured number, not a Messaging Service.
        origin = ("From", sms.sender_id) if sms.sender_id and self._origin[0] == "From" else self._origin
        fields = [("To", sms.to), origin, ("Body", sms.body)]
        if self._public_url:
            fields.append(("StatusCallback", callback_url(self._public_url, sms.tags)))
        answer = request(self._http, "Twilio", "POST", self._url, headers=self._headers, fields=fields)
        body = answer.json()
        if answer.status in (200, 201) and isinstance(body, dict) and body.get("sid"):
            return SendResult(provider=PROVIDER, provider_message_id=str(body["sid"]))
        if isinstance(body, dict) and body.get("message"):
            code = f" ({body['code']})" if body.get("code") else ""
            raise failure_for("Twilio", answer, f"{body['message']}{code}")
        raise failure_for("Twilio", answer, answer.text)


def compute_signature(auth_token: str, url: str, params: Sequence[tuple[str, str]]) -> str:
    """Base64 HMAC-SHA1 of the full URL followed by each POST parameter's name and value, sorted."""
    signed = url + "".join(f"{k}{v}" for k, v in sorted(params))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_is_valid(auth_token: str, url: str, params: Sequence[tuple[str, str]], signature: str) -> bool:
    return hmac.compare_digest(compute_signature(auth_token, url, params), signature)


def request_url(public_url: str, query: Mapping[str, str], path: str = WEBHOOK_PATH) -> str:
    """The URL Twilio called: our callback URLs always carry their query keys sorted."""
    return f"{public_url}{path}" + (f"?{urlencode(sorted(query.items()))}" if query else "")


def verified_form(
    headers: Mapping[str, str], body: bytes, url: str, auth_token: str
) -> list[tuple[str, str]]:
    """The form Twilio posted to `url`, once its X-Twilio-Signature checks out (nothing read before)."""
    signature = headers.get(SIGNATURE_HEADER)
    if not signature:
        raise Unauthorized("the request carries no Twilio signature")
    # The signature covers every parameter, so the form is parsed first, then nothing else is read.
    params = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    if not signature_is_valid(auth_token, url, params, signature):
        raise Forbidden("the Twilio signature does not match")
    return params


def inbound_from_webhook(
    headers: Mapping[str, str], body: bytes, query: Mapping[str, str], public_url: str, auth_token: str
) -> InboundSms:
    """A recipient's text to one of the operator's numbers (Twilio's incoming-message webhook)."""
    url = request_url(public_url, query, INBOUND_PATH)
    form = dict(verified_form(headers, body, url, auth_token))
    if not form.get("From"):
        raise BadRequest("the Twilio message has no From")
    return InboundSms(
        provider=PROVIDER,
        sender=form["From"],
        body=form.get("Body", ""),
        provider_message_id=form.get("MessageSid") or form.get("SmsSid"),
    )


def events_from_webhook(
    headers: Mapping[str, str],
    body: bytes,
    query: Mapping[str, str],
    public_url: str,
    auth_token: str,
    now: Callable[[], datetime] = utc_now,
) -> list[DeliveryEvent]:
    form = dict(verified_form(headers, body, request_url(public_url, query), auth_token))
    if not form.get("MessageSid") or not form.get("MessageStatus"):
        raise BadRequest("the Twilio callback has no MessageSid or MessageStatus")
    event = map_callback(form, query, now())
    return [event] if event else []


def map_callback(
    form: Mapping[str, str], query: Mapping[str, str], received_at: datetime
) -> DeliveryEvent | None:
    status = form["MessageStatus"]
    outcome = STATUS_OUTCOMES.get(status)
    if outcome is None:
        return None  # queued, sending, sent, accepted…: still on its way
    code = form.get("ErrorCode") or ""
    return DeliveryEvent(
        provider=PROVIDER,
        event_id=f"{form['MessageSid']}:{status}:{code}",
        outcome=outcome,
        occurred_at=received_at,
        channel=Channel.SMS,
        comm_id=query.get("comm_id"),
        message_id=query.get("message_id"),
        provider_message_id=form["MessageSid"],
        recipient=form.get("To"),
        error=None if outcome is DeliveryOutcome.DELIVERED else _error(status, code),
        permanent=code in PERMANENT_ERRORS,
        raw=dict(form),
    )


def _error(status: str, code: str) -> str:
    if not code:
        return f"Twilio {status}"
    return f"Twilio {status} ({code}): {ERROR_TEXT.get(code, 'see twilio.com/docs/api/errors/' + code)}"
