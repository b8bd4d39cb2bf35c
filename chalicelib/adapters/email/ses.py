"""Amazon SES (v2 API): the email sender, and the events a configuration set publishes through SNS."""

from __future__ import annotations

from email.utils import formataddr
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.aws_errors import classify
from chalicelib.domain.delivery import DeliveryEvent, DeliveryOutcome, parse_iso
from chalicelib.domain.errors import BadRequest, PermanentFailure
from chalicelib.domain.models import Channel, OutgoingEmail, SenderIdentity, SendResult


class SesEmailSender:
    name = "ses"

    def __init__(
        self,
        client: Any,
        from_email: str,
        from_name: str,
        configuration_set: str = "",
        reply_to: str = "",
    ) -> None:
        self._client = client
        self._default_sender = SenderIdentity(from_email, from_name, reply_to or None)
        self._configuration_set = configuration_set

    def send(self, email: OutgoingEmail) -> SendResult:
        sender = email.sender or self._default_sender
        request: dict[str, Any] = {
            "FromEmailAddress": _address(sender.from_email, sender.from_name),
            "Destination": {"ToAddresses": [_ses_recipient(email.to)]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                    "Body": {
                        "Html": {"Data": email.html, "Charset": "UTF-8"},
                        "Text": {"Data": email.text, "Charset": "UTF-8"},
                    },
                }
            },
            # SES events carry these tags, so each event maps back to its message by key.
            "EmailTags": [{"Name": f"herald_{k}", "Value": v} for k, v in email.tags.items()],
        }
        if sender.reply_to:
            request["ReplyToAddresses"] = [sender.reply_to]
        if email.headers:
            request["Content"]["Simple"]["Headers"] = [
                {"Name": name, "Value": value} for name, value in email.headers.items()
            ]
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        try:
            response = self._client.send_email(**request)
        except (ClientError, BotoCoreError) as error:
            raise classify("SES", error) from error
        return SendResult(provider=self.name, provider_message_id=response["MessageId"])


# -- events: what a configuration set's SNS event destination publishes ---------------------------

# SES event type → outcome; Send, Open, Click and Subscription are not delivery news.
SES_EVENT_OUTCOMES: dict[str, DeliveryOutcome] = {
    "Delivery": DeliveryOutcome.DELIVERED,
    "Bounce": DeliveryOutcome.BOUNCED,
    "Complaint": DeliveryOutcome.COMPLAINT,
    "Reject": DeliveryOutcome.DROPPED,
    "DeliveryDelay": DeliveryOutcome.DEFERRED,
    "Rendering Failure": DeliveryOutcome.FAILED,
}
# Where each event type keeps its own timestamp.
_DETAIL_KEYS = {
    "Delivery": "delivery",
    "Bounce": "bounce",
    "Complaint": "complaint",
    "Reject": "reject",
    "DeliveryDelay": "deliveryDelay",
    "Rendering Failure": "failure",
}


def is_ses_event(message: dict[str, Any]) -> bool:
    return isinstance(message.get("mail"), dict) and ("eventType" in message or "notificationType" in message)


def map_event(message: dict[str, Any]) -> DeliveryEvent | None:
    """One SES event (configuration-set `eventType` or identity-notification `notificationType`)."""
    event_type = str(message.get("eventType") or message.get("notificationType"))
    outcome = SES_EVENT_OUTCOMES.get(event_type)
    if outcome is None:
        return None
    mail = message["mail"]
    detail = message.get(_DETAIL_KEYS[event_type]) or {}
    try:
        occurred_at = parse_iso(str(detail.get("timestamp") or mail["timestamp"]))
        ses_message_id = str(mail["messageId"])
    except (KeyError, ValueError) as error:
        raise BadRequest("an SES event has no messageId or timestamp") from error
    tags = mail.get("tags") or {}
    permanent = outcome is DeliveryOutcome.BOUNCED and detail.get("bounceType") == "Permanent"
    return DeliveryEvent(
        provider="ses",
        event_id=f"{ses_message_id}:{event_type}:{detail.get('timestamp') or mail.get('timestamp')}",
        outcome=outcome,
        occurred_at=occurred_at,
        channel=Channel.EMAIL,
        comm_id=_first(tags.get("herald_comm_id")),
        message_id=_first(tags.get("herald_message_id")),
        provider_message_id=ses_message_id,
        recipient=_recipient(event_type, detail, mail),
        error=_ses_error(event_type, detail),
        permanent=permanent,
        raw=message,
    )


def _first(values: Any) -> str | None:
    if isinstance(values, list):
        return str(values[0]) if values else None
    return str(values) if values else None


def _recipient(event_type: str, detail: dict[str, Any], mail: dict[str, Any]) -> str | None:
    listed = {
        "Bounce": [r.get("emailAddress") for r in detail.get("bouncedRecipients") or []],
        "Complaint": [r.get("emailAddress") for r in detail.get("complainedRecipients") or []],
        "DeliveryDelay": [r.get("emailAddress") for r in detail.get("delayedRecipients") or []],
        "Delivery": list(detail.get("recipients") or []),
    }.get(event_type) or list(mail.get("destination") or [])
    return str(listed[0]) if listed and listed[0] else None


def _ses_error(event_type: str, detail: dict[str, Any]) -> str | None:
    if event_type == "Bounce":
        recipients = detail.get("bouncedRecipients") or [{}]
        diagnostic = recipients[0].get("diagnosticCode") or recipients[0].get("status") or ""
        kind = f"{detail.get('bounceType', 'Undetermined')}/{detail.get('bounceSubType', 'Undetermined')}"
        return f"SES bounce ({kind}): {diagnostic}".strip().rstrip(":")
    if event_type == "Reject":
        return f"SES reject: {detail.get('reason', '')}".strip().rstrip(":")
    if event_type == "Rendering Failure":
        return f"SES rendering failure: {detail.get('errorMessage', '')}".strip().rstrip(":")
    if event_type == "DeliveryDelay":
        return f"SES delivery delay: {detail.get('delayType', '')}".strip().rstrip(":")
    return None


def _address(email: str, name: str) -> str:
    # formataddr encodes a non-ASCII display name (RFC 2047), which SES requires.
    return formataddr((name, email)) if name else email


def _ses_recipient(address: str) -> str:
    """The address as SES takes it: a 7-bit ASCII local part (SES has no SMTPUTF8) and a Punycode domain."""
    local, _, domain = address.rpartition("@")
    if not local.isascii():
        raise PermanentFailure("SES: the part before the @ must be ASCII (SES does not support SMTPUTF8)")
    return f"{local}@{domain.encode('idna').decode('ascii')}" if not domain.isascii() else address
