"""SES and End User Messaging SMS events as SNS delivers them: verified (HTTPS), unwrapped, mapped.

The events queue is subscribed to the topic *without* raw message delivery, so an SQS record's
body is the same SNS JSON envelope that an HTTPS subscription posts to ``/webhooks/sns``: one
parser serves both. Over SQS the queue policy already proves the sender (only the topic may send),
so the worker does not check signatures; over HTTPS every message is verified first:

- ``SignatureVersion`` 1 (RSA/SHA1) or 2 (RSA/SHA256) over the canonical string of the message type;
- the certificate only from ``https://sns.<region>.amazonaws.com/…`` (the topic's region), cached;
- ``TopicArn`` on the allow-list; ``SubscriptionConfirmation`` confirmed by fetching its
  ``SubscribeURL`` only when that too is on ``sns.<region>.amazonaws.com``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import urlsplit

from chalicelib.adapters.email import ses
from chalicelib.adapters.sms import eum
from chalicelib.domain.delivery import DeliveryEvent
from chalicelib.domain.errors import BadRequest, Forbidden, Unauthorized
from chalicelib.domain.optout import InboundSms

logger = logging.getLogger(__name__)

Fetch = Callable[[str], bytes]

SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}


def parse_envelope(body: bytes | str) -> dict[str, Any]:
    try:
        envelope = json.loads(body)
    except ValueError as error:
        raise BadRequest("the body is not an SNS message (not JSON)") from error
    if not isinstance(envelope, dict) or envelope.get("Type") not in SIGNED_FIELDS:
        raise BadRequest("the body is not an SNS message")
    return envelope


def string_to_sign(envelope: dict[str, Any]) -> bytes:
    """SNS's canonical form: each signed field present, as ``name\\nvalue\\n``, in this order."""
    fields = SIGNED_FIELDS[envelope["Type"]]
    return "".join(f"{name}\n{envelope[name]}\n" for name in fields if name in envelope).encode()


def _topic_region(topic_arn: str) -> str:
    parts = topic_arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns":
        raise Forbidden("the SNS message names no valid topic")
    return parts[3]


def is_sns_host_url(url: str, region: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" and parts.hostname == f"sns.{region}.amazonaws.com" and parts.port is None


class SnsMessageVerifier:
    """Checks SNS message signatures; certificates come only from SNS itself and are cached."""

    def __init__(self, allowed_topics: Collection[str], fetch: Fetch) -> None:
        self._allowed = frozenset(allowed_topics)
        self._fetch = fetch
        self._certificates: dict[str, Any] = {}

    def verify(self, envelope: dict[str, Any]) -> None:
        """Raise Unauthorized / Forbidden unless the message is signed by SNS for an allowed topic."""
        topic = str(envelope.get("TopicArn", ""))
        if topic not in self._allowed:
            raise Forbidden("the SNS topic is not one this deployment listens to")
        region = _topic_region(topic)
        version = str(envelope.get("SignatureVersion", ""))
        if "Signature" not in envelope or "SigningCertURL" not in envelope:
            raise Unauthorized("the SNS message is not signed")
        if version not in ("1", "2"):
            raise Forbidden("the SNS signature version is not 1 or 2")
        cert_url = str(envelope["SigningCertURL"])
        if not is_sns_host_url(cert_url, region) or not urlsplit(cert_url).path.endswith(".pem"):
            raise Forbidden("the SNS signing certificate is not on sns.<region>.amazonaws.com")
        missing = [n for n in SIGNED_FIELDS[envelope["Type"]] if n not in envelope and n != "Subject"]
        if missing:
            raise BadRequest(f"the SNS message lacks {', '.join(missing)}")
        if not self._signature_matches(envelope, cert_url, version):
            raise Forbidden("the SNS signature does not match")

    def _signature_matches(self, envelope: dict[str, Any], cert_url: str, version: str) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        public_key = self._certificate(cert_url).public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            return False
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # version 1 is SHA1 by definition
        try:
            signature = base64.b64decode(str(envelope["Signature"]), validate=True)
            public_key.verify(signature, string_to_sign(envelope), padding.PKCS1v15(), algorithm)
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True

    def _certificate(self, url: str) -> Any:
        if url not in self._certificates:
            from cryptography import x509

            try:
                self._certificates[url] = x509.load_pem_x509_certificate(self._fetch(url))
            except ValueError as error:
                raise Forbidden("the SNS signing certificate could not be read") from error
        return self._certificates[url]


def confirm_subscription(envelope: dict[str, Any], fetch: Fetch) -> None:
    """Confirm a (verified) subscription by visiting its SubscribeURL, which must be SNS's own."""
    url = str(envelope.get("SubscribeURL", ""))
    if not is_sns_host_url(url, _topic_region(str(envelope["TopicArn"]))):
        raise Forbidden("the SubscribeURL is not on sns.<region>.amazonaws.com")
    fetch(url)
    logger.info("SNS subscription confirmed", extra={"topic_arn": envelope["TopicArn"]})


def _message(envelope: dict[str, Any]) -> dict[str, Any]:
    try:
        message = json.loads(envelope["Message"])
    except (KeyError, TypeError, ValueError) as error:
        raise BadRequest("the SNS notification does not carry a JSON event") from error
    if not isinstance(message, dict):
        raise BadRequest("the SNS notification does not carry a JSON event")
    return message


def inbound_sms_from_envelope(envelope: dict[str, Any]) -> InboundSms | None:
    """The recipient's reply, when the notification is an End User Messaging two-way SMS message."""
    if envelope.get("Type") != "Notification":
        return None
    message = _message(envelope)
    return eum.map_inbound(message) if eum.is_inbound_sms(message) else None


def events_from_envelope(envelope: dict[str, Any]) -> list[DeliveryEvent]:
    """The delivery events of one SNS Notification carrying an SES or End User Messaging event."""
    if envelope.get("Type") != "Notification":
        return []
    message = _message(envelope)
    if eum.is_inbound_sms(message):
        return []  # a recipient's reply, not delivery news: see inbound_sms_from_envelope
    mapper = _event_mapper(message)
    if mapper is None:
        logger.info(
            "SNS notification that is not a delivery event", extra={"topic_arn": envelope.get("TopicArn")}
        )
        return []
    event = mapper(message)
    return [event] if event else []


def events_from_aws_message(message: dict[str, Any]) -> list[DeliveryEvent]:
    """The delivery event of one SES or End User Messaging SMS event record (none for other records),
    however it arrived: in an SNS notification or in a file Firehose wrote."""
    mapper = _event_mapper(message)
    event = mapper(message) if mapper else None
    return [event] if event else []


def _event_mapper(message: dict[str, Any]) -> Callable[[dict[str, Any]], DeliveryEvent | None] | None:
    """The mapping of an SES or End User Messaging SMS event record; None for any other record."""
    if ses.is_ses_event(message):
        return ses.map_event
    if eum.is_sms_event(message):
        return eum.map_event
    return None
