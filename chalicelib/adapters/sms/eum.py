"""AWS End User Messaging SMS (pinpoint-sms-voice-v2): SendTextMessage, and its SMS events.

Herald's ids travel in ``Context``; the configuration set's SNS event destination publishes every
event with that context, and the events worker (or /webhooks/sns) maps it back by key.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.aws_errors import classify
from chalicelib.domain.delivery import DeliveryEvent, DeliveryOutcome, from_epoch
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.models import Channel, OutgoingSms, SendResult
from chalicelib.domain.optout import InboundSms

PROVIDER = "eum"
SERVICE = "End User Messaging"

# eventType → (outcome when final, whether the number itself is bad)
EVENT_OUTCOMES: dict[str, tuple[DeliveryOutcome, bool]] = {
    "TEXT_DELIVERED": (DeliveryOutcome.DELIVERED, False),
    "TEXT_SUCCESSFUL": (DeliveryOutcome.DELIVERED, False),
    "TEXT_QUEUED": (DeliveryOutcome.DEFERRED, False),
    "TEXT_PENDING": (DeliveryOutcome.DEFERRED, False),
    "TEXT_INVALID": (DeliveryOutcome.UNDELIVERED, True),
    "TEXT_UNREACHABLE": (DeliveryOutcome.UNDELIVERED, False),
    "TEXT_CARRIER_UNREACHABLE": (DeliveryOutcome.UNDELIVERED, False),
    "TEXT_BLOCKED": (DeliveryOutcome.UNDELIVERED, False),
    "TEXT_CARRIER_BLOCKED": (DeliveryOutcome.UNDELIVERED, False),
    "TEXT_SPAM": (DeliveryOutcome.UNDELIVERED, False),
    "TEXT_TTL_EXPIRED": (DeliveryOutcome.UNDELIVERED, False),
    "TEXT_UNKNOWN": (DeliveryOutcome.UNDELIVERED, False),
    "TEXT_INVALID_MESSAGE": (DeliveryOutcome.FAILED, False),
    "TEXT_PROTECT_BLOCKED": (DeliveryOutcome.DROPPED, False),
}


class EumSmsSender:
    name = PROVIDER

    def __init__(self, client: Any, origination_identity: str = "", configuration_set: str = "") -> None:
        self._client = client
        self._fixed: dict[str, Any] = {"MessageType": "TRANSACTIONAL"}
        if origination_identity:
            self._fixed["OriginationIdentity"] = origination_identity
        if configuration_set:
            self._fixed["ConfigurationSetName"] = configuration_set

    def send(self, sms: OutgoingSms) -> SendResult:
        try:
            response = self._client.send_text_message(
                DestinationPhoneNumber=sms.to,
                MessageBody=sms.body,
                Context={f"herald_{k}": v for k, v in sms.tags.items()},
                **(self._fixed | ({"OriginationIdentity": sms.sender_id} if sms.sender_id else {})),
            )
        except (ClientError, BotoCoreError) as error:
            raise classify(SERVICE, error) from error
        return SendResult(provider=PROVIDER, provider_message_id=response["MessageId"])


def is_sms_event(message: dict[str, Any]) -> bool:
    return str(message.get("eventType", "")).startswith("TEXT_") and "messageId" in message


def map_event(message: dict[str, Any]) -> DeliveryEvent | None:
    """One End User Messaging SMS event (as its SNS event destination publishes it)."""
    event_type = str(message.get("eventType"))
    mapped = EVENT_OUTCOMES.get(event_type)
    if mapped is None:
        return None
    outcome, permanent = mapped
    if outcome is not DeliveryOutcome.DELIVERED and not message.get("isFinal", True):
        outcome, permanent = DeliveryOutcome.DEFERRED, False  # the carrier may still deliver it
    try:
        occurred_at = from_epoch(int(message["eventTimestamp"]) / 1000)
    except (KeyError, TypeError, ValueError) as error:
        raise BadRequest("an SMS event has no valid eventTimestamp") from error
    context = message.get("context") or {}
    description = message.get("messageStatusDescription") or message.get("messageStatus") or ""
    failed = outcome not in (DeliveryOutcome.DELIVERED, DeliveryOutcome.DEFERRED)
    return DeliveryEvent(
        provider=PROVIDER,
        event_id=f"{message['messageId']}:{event_type}:{message['eventTimestamp']}",
        outcome=outcome,
        occurred_at=occurred_at,
        channel=Channel.SMS,
        comm_id=context.get("herald_comm_id"),
        message_id=context.get("herald_message_id"),
        provider_message_id=str(message["messageId"]),
        recipient=message.get("destinationPhoneNumber"),
        error=f"{SERVICE} {event_type}: {description}".strip().rstrip(":") if failed else None,
        permanent=permanent,
        raw=message,
    )


def is_inbound_sms(message: dict[str, Any]) -> bool:
    """A two-way SMS message: what a number's two-way channel (an SNS topic) publishes for each reply."""
    return "originationNumber" in message and "messageBody" in message and "inboundMessageId" in message


def map_inbound(message: dict[str, Any]) -> InboundSms:
    return InboundSms(
        provider=PROVIDER,
        sender=str(message["originationNumber"]),
        body=str(message.get("messageBody") or ""),
        provider_message_id=str(message["inboundMessageId"]),
    )
