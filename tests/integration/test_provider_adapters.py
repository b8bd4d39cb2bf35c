"""SendGrid, Mailgun and Twilio senders over real HTTP against the sandbox servers; EUM with Stubber."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.adapters.email.mailgun import MailgunEmailSender
from chalicelib.adapters.email.sendgrid import SendGridEmailSender
from chalicelib.adapters.http import pool
from chalicelib.adapters.sms.eum import EumSmsSender
from chalicelib.adapters.sms.twilio import TwilioSmsSender
from chalicelib.domain.errors import PermanentFailure, Throttled, TransientFailure
from chalicelib.domain.models import OutgoingEmail, OutgoingSms
from chalicelib.local.sandboxes import Sandboxes
from chalicelib.local.stack import free_port

pytestmark = pytest.mark.integration

TAGS = {"comm_id": "c-1", "message_id": "m-1"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandboxes]:
    # Nothing listens on these ports: reports are never due during these tests anyway.
    dead = f"http://127.0.0.1:{free_port()}"
    sandboxes = Sandboxes(dead, dead, report_delay_s=600).start()
    yield sandboxes
    sandboxes.stop()


@pytest.fixture(scope="module")
def http():
    return pool(5)


def email(to: str) -> OutgoingEmail:
    return OutgoingEmail(to, "Maintenance tonight", "<p>Hello</p>", "Hello", TAGS)


# -- SendGrid ------------------------------------------------------------------------------------


def sendgrid(sandbox: Sandboxes, http, key: str | None = None) -> SendGridEmailSender:
    return SendGridEmailSender(
        http, f"{sandbox.url}/sendgrid", key or sandbox.sendgrid_api_key, "notices@herald.example", "Herald"
    )


def test_sendgrid_send_is_accepted_with_its_message_id_and_our_custom_args(sandbox, http):
    result = sendgrid(sandbox, http).send(email("ada@example.com"))
    assert result.provider == "sendgrid" and result.provider_message_id
    received = next(r for r in sandbox.received["sendgrid"] if r["message_id"] == result.provider_message_id)
    assert received["to"] == "ada@example.com"
    assert received["custom_args"] == {"herald_comm_id": "c-1", "herald_message_id": "m-1"}
    assert received["content"] == {"text/plain": "Hello", "text/html": "<p>Hello</p>"}


@pytest.mark.parametrize(
    ("to", "failure", "text"),
    [
        ("throttle@example.com", Throttled, "SendGrid 429: Too many requests"),
        ("outage@example.com", TransientFailure, "SendGrid 500: SendGrid sandbox: internal error"),
        (
            "reject@example.com",
            PermanentFailure,
            "SendGrid 400: SendGrid sandbox: the recipient address is refused",
        ),
    ],
)
def test_sendgrid_refusals_map_to_domain_failures(sandbox, http, to, failure, text):
    with pytest.raises(failure) as raised:
        sendgrid(sandbox, http).send(email(to))
    assert type(raised.value) is failure
    assert raised.value.reason == text


def test_sendgrid_bad_key_is_a_permanent_failure(sandbox, http):
    with pytest.raises(PermanentFailure, match="SendGrid 401: The provided authorization grant is invalid"):
        sendgrid(sandbox, http, key="SG.wrong").send(email("ada@example.com"))


# -- Mailgun -------------------------------------------------------------------------------------


def mailgun(sandbox: Sandboxes, http, key: str | None = None) -> MailgunEmailSender:
    return MailgunEmailSender(
        http,
        f"{sandbox.url}/mailgun",
        sandbox.mailgun_domain,
        key or sandbox.mailgun_api_key,
        "notices@herald.example",
        "Herald",
    )


def test_mailgun_send_is_accepted_with_variables(sandbox, http):
    result = mailgun(sandbox, http).send(email("grace@example.com"))
    assert result.provider == "mailgun" and result.provider_message_id.endswith("@mg.herald.test")
    received = next(r for r in sandbox.received["mailgun"] if r["message_id"] == result.provider_message_id)
    assert received["variables"] == {"herald_comm_id": "c-1", "herald_message_id": "m-1"}
    assert (received["to"], received["text"], received["html"]) == (
        "grace@example.com",
        "Hello",
        "<p>Hello</p>",
    )


@pytest.mark.parametrize(
    ("to", "failure"),
    [
        ("throttle@example.com", Throttled),
        ("outage@example.com", TransientFailure),
        ("reject@example.com", PermanentFailure),
    ],
)
def test_mailgun_refusals_map_to_domain_failures(sandbox, http, to, failure):
    with pytest.raises(failure) as raised:
        mailgun(sandbox, http).send(email(to))
    assert type(raised.value) is failure
    assert raised.value.reason.startswith("Mailgun ")


def test_mailgun_bad_key_is_a_permanent_failure(sandbox, http):
    with pytest.raises(PermanentFailure, match="Mailgun 401: Forbidden"):
        mailgun(sandbox, http, key="key-wrong").send(email("grace@example.com"))


# -- Twilio --------------------------------------------------------------------------------------


def twilio(sandbox: Sandboxes, http, token: str | None = None) -> TwilioSmsSender:
    return TwilioSmsSender(
        http,
        f"{sandbox.url}/twilio",
        sandbox.twilio_account_sid,
        token or sandbox.twilio_auth_token,
        "+15005550006",
        public_url="https://herald.example/api",
    )


def test_twilio_send_is_accepted_with_a_status_callback_carrying_our_ids(sandbox, http):
    result = twilio(sandbox, http).send(OutgoingSms("+15145551234", "Hello", TAGS))
    assert result.provider == "twilio" and result.provider_message_id.startswith("SM")
    received = next(r for r in sandbox.received["twilio"] if r["sid"] == result.provider_message_id)
    assert (
        received["status_callback"] == "https://herald.example/api/webhooks/twilio?comm_id=c-1&message_id=m-1"
    )
    assert (received["to"], received["body"]) == ("+15145551234", "Hello")


@pytest.mark.parametrize(
    ("to", "failure", "text"),
    [
        ("+15145559429", Throttled, "Twilio 429: Too Many Requests (20429)"),
        ("+15145559500", TransientFailure, "Twilio 500: Internal Server Error (20500)"),
        (
            "+15145559400",
            PermanentFailure,
            "Twilio 400: The 'To' number +15145559400 is not a valid phone number. (21211)",
        ),
    ],
)
def test_twilio_refusals_map_to_domain_failures(sandbox, http, to, failure, text):
    with pytest.raises(failure) as raised:
        twilio(sandbox, http).send(OutgoingSms(to, "Hello", TAGS))
    assert type(raised.value) is failure
    assert raised.value.reason == text


def test_twilio_bad_token_and_an_unreachable_api(sandbox, http):
    with pytest.raises(PermanentFailure, match="Twilio 401: Authenticate"):
        twilio(sandbox, http, token="wrong").send(OutgoingSms("+15145551234", "Hello", TAGS))
    nowhere = TwilioSmsSender(http, f"http://127.0.0.1:{free_port()}", "AC1", "t", "+15005550006")
    with pytest.raises(TransientFailure, match="Twilio: no answer"):
        nowhere.send(OutgoingSms("+15145551234", "Hello", TAGS))


# -- End User Messaging SMS (moto lacks it: botocore's Stubber) ------------------------------------


@pytest.fixture
def eum_client():
    client = boto3.client(
        "pinpoint-sms-voice-v2",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield client, stubber


def test_eum_sends_with_our_ids_in_context(eum_client):
    client, stubber = eum_client
    stubber.add_response(
        "send_text_message",
        {"MessageId": "862a8790-60c0-4430-9b2b-658bdexample"},
        {
            "DestinationPhoneNumber": "+15145551234",
            "MessageBody": "Hello",
            "MessageType": "TRANSACTIONAL",
            "OriginationIdentity": "+12065550152",
            "ConfigurationSetName": "herald-dev",
            "Context": {"herald_comm_id": "c-1", "herald_message_id": "m-1"},
        },
    )
    sender = EumSmsSender(client, "+12065550152", "herald-dev")
    result = sender.send(OutgoingSms("+15145551234", "Hello", TAGS))
    assert (result.provider, result.provider_message_id) == ("eum", "862a8790-60c0-4430-9b2b-658bdexample")
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "status", "failure"),
    [
        ("ThrottlingException", 400, Throttled),
        ("InternalServerException", 500, TransientFailure),
        ("ConflictException", 400, PermanentFailure),
        ("ValidationException", 400, PermanentFailure),
    ],
)
def test_eum_errors_map_to_domain_failures(eum_client, code, status, failure):
    client, stubber = eum_client
    stubber.add_client_error(
        "send_text_message", service_error_code=code, service_message="the reason", http_status_code=status
    )
    with pytest.raises(failure) as raised:
        EumSmsSender(client).send(OutgoingSms("+15145551234", "Hello", TAGS))
    assert type(raised.value) is failure
    assert raised.value.reason == f"End User Messaging {code}: the reason"
