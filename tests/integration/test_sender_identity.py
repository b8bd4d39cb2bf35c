"""The SES and SNS adapters send as the operator's identity: From, Reply-To, SMS sender (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from chalicelib.adapters.email.ses import SesEmailSender
from chalicelib.adapters.sms.sns import SnsSmsSender
from chalicelib.domain.models import OutgoingEmail, OutgoingSms, SenderIdentity
from tests.integration.conftest import sent_emails, sent_sms

pytestmark = pytest.mark.integration


def capture(client: Any, operation: str) -> list[dict[str, Any]]:
    """The parameters of every `operation` call the client makes (the call still goes to moto)."""
    calls: list[dict[str, Any]] = []
    client.meta.events.register(
        f"provide-client-params.{client.meta.service_model.service_name}.{operation}",
        lambda params, **_: calls.append(dict(params)),
    )
    return calls


@pytest.fixture
def sesv2(aws: None) -> Iterator[Any]:
    client = boto3.client("sesv2")
    boto3.client("ses").verify_email_identity(EmailAddress="outages@utility.example")
    yield client


def email(sender: SenderIdentity | None) -> OutgoingEmail:
    return OutgoingEmail(
        "marie@example.com", "Outage", "<p>Outage</p>", "Outage", {"comm_id": "c"}, sender=sender
    )


def test_an_email_goes_out_as_the_operator_with_a_reply_to(sesv2: Any) -> None:
    calls = capture(sesv2, "SendEmail")
    adapter = SesEmailSender(sesv2, "notices@herald.example", "Herald")
    identity = SenderIdentity("outages@utility.example", "Utilité Nord", "help@utility.example")
    adapter.send(email(identity))
    assert calls[0]["FromEmailAddress"] == "=?utf-8?q?Utilit=C3=A9_Nord?= <outages@utility.example>"
    assert calls[0]["ReplyToAddresses"] == ["help@utility.example"]
    assert sent_emails()[0].source == calls[0]["FromEmailAddress"]


def test_without_an_identity_the_adapters_configured_sender_is_used(sesv2: Any) -> None:
    calls = capture(sesv2, "SendEmail")
    SesEmailSender(sesv2, "notices@herald.example", "Herald", reply_to="desk@herald.example").send(
        email(None)
    )
    SesEmailSender(sesv2, "notices@herald.example", "").send(email(None))
    assert calls[0]["FromEmailAddress"] == "Herald <notices@herald.example>"
    assert calls[0]["ReplyToAddresses"] == ["desk@herald.example"]
    assert calls[1]["FromEmailAddress"] == "notices@herald.example"
    assert "ReplyToAddresses" not in calls[1]


@pytest.mark.parametrize(
    ("sender_id", "attribute"),
    [
        ("UTILITY", "AWS.SNS.SMS.SenderID"),
        ("+15145550199", "AWS.MM.SMS.OriginationNumber"),
    ],
)
def test_an_sms_goes_out_from_the_operators_sender(aws: None, sender_id: str, attribute: str) -> None:
    sns = boto3.client("sns")
    calls = capture(sns, "Publish")
    SnsSmsSender(sns, "HERALD").send(OutgoingSms("+15145550100", "Outage", {}, sender_id=sender_id))
    SnsSmsSender(sns, "HERALD").send(OutgoingSms("+15145550101", "Outage", {}))
    assert calls[0]["MessageAttributes"][attribute]["StringValue"] == sender_id
    assert calls[1]["MessageAttributes"]["AWS.SNS.SMS.SenderID"]["StringValue"] == "HERALD"
    assert calls[0]["MessageAttributes"]["AWS.SNS.SMS.SMSType"]["StringValue"] == "Transactional"
    assert len(sent_sms()) == 2
