"""Each provider's vocabulary mapped into Herald's one delivery-status model."""

from __future__ import annotations

import json

import pytest

from chalicelib.adapters.email import mailgun, sendgrid, ses
from chalicelib.adapters.event_files import events_from_file
from chalicelib.adapters.sms import eum, twilio
from chalicelib.adapters.sns_events import events_from_envelope
from chalicelib.domain.delivery import OUTCOME_STATUS, DeliveryOutcome
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.models import MessageStatus, utc_now

pytestmark = pytest.mark.unit

D, DEF, B, DR, C, U, F = (
    DeliveryOutcome.DELIVERED,
    DeliveryOutcome.DEFERRED,
    DeliveryOutcome.BOUNCED,
    DeliveryOutcome.DROPPED,
    DeliveryOutcome.COMPLAINT,
    DeliveryOutcome.UNDELIVERED,
    DeliveryOutcome.FAILED,
)


def test_outcomes_lead_to_delivered_failed_or_nothing():
    assert OUTCOME_STATUS == {
        D: MessageStatus.DELIVERED,
        C: MessageStatus.DELIVERED,
        DEF: None,
        B: MessageStatus.FAILED,
        DR: MessageStatus.FAILED,
        U: MessageStatus.FAILED,
        F: MessageStatus.FAILED,
    }


# -- SES (configuration-set events as published to SNS) -------------------------------------------

MAIL = {
    "timestamp": "2026-11-26T14:00:00.000Z",
    "source": "notices@herald.example",
    "messageId": "0100018f-ses-id",
    "destination": ["person@example.com"],
    "tags": {
        "ses:configuration-set": ["herald-dev"],
        "herald_comm_id": ["c-1"],
        "herald_message_id": ["m-1"],
    },
}


@pytest.mark.parametrize(
    ("event", "outcome", "permanent", "error"),
    [
        (
            {
                "eventType": "Delivery",
                "delivery": {
                    "timestamp": "2026-11-26T14:00:01.000Z",
                    "recipients": ["person@example.com"],
                    "smtpResponse": "250 ok",
                },
            },
            D,
            False,
            None,
        ),
        (
            {
                "eventType": "Bounce",
                "bounce": {
                    "bounceType": "Permanent",
                    "bounceSubType": "General",
                    "timestamp": "2026-11-26T14:00:02.000Z",
                    "bouncedRecipients": [
                        {
                            "emailAddress": "person@example.com",
                            "status": "5.1.1",
                            "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                        }
                    ],
                },
            },
            B,
            True,
            "SES bounce (Permanent/General): smtp; 550 5.1.1 user unknown",
        ),
        (
            {
                "eventType": "Bounce",
                "bounce": {
                    "bounceType": "Transient",
                    "bounceSubType": "MailboxFull",
                    "timestamp": "2026-11-26T14:00:02.000Z",
                    "bouncedRecipients": [{"emailAddress": "person@example.com", "status": "4.2.2"}],
                },
            },
            B,
            False,
            "SES bounce (Transient/MailboxFull): 4.2.2",
        ),
        (
            {
                "eventType": "Complaint",
                "complaint": {
                    "timestamp": "2026-11-26T15:00:00.000Z",
                    "complaintFeedbackType": "abuse",
                    "complainedRecipients": [{"emailAddress": "person@example.com"}],
                },
            },
            C,
            False,
            None,
        ),
        ({"eventType": "Reject", "reject": {"reason": "Bad content"}}, DR, False, "SES reject: Bad content"),
        (
            {
                "eventType": "DeliveryDelay",
                "deliveryDelay": {
                    "timestamp": "2026-11-26T14:05:00.000Z",
                    "delayType": "MailboxFull",
                    "delayedRecipients": [{"emailAddress": "person@example.com"}],
                },
            },
            DEF,
            False,
            "SES delivery delay: MailboxFull",
        ),
        (
            {"eventType": "Rendering Failure", "failure": {"errorMessage": "missing var"}},
            F,
            False,
            "SES rendering failure: missing var",
        ),
        (
            {
                "notificationType": "Bounce",
                "bounce": {
                    "bounceType": "Permanent",
                    "bounceSubType": "Suppressed",
                    "timestamp": "2026-11-26T14:00:02.000Z",
                    "bouncedRecipients": [{"emailAddress": "person@example.com"}],
                },
            },
            B,
            True,
            "SES bounce (Permanent/Suppressed)",
        ),
    ],
)
def test_ses_events(event, outcome, permanent, error):
    mapped = ses.map_event({**event, "mail": MAIL})
    assert mapped is not None
    assert (mapped.outcome, mapped.permanent, mapped.error) == (outcome, permanent, error)
    assert (mapped.comm_id, mapped.message_id, mapped.provider_message_id) == (
        "c-1",
        "m-1",
        "0100018f-ses-id",
    )
    assert mapped.recipient == "person@example.com"


@pytest.mark.parametrize("event_type", ["Send", "Open", "Click", "Subscription"])
def test_ses_events_that_are_not_delivery_news(event_type):
    assert ses.map_event({"eventType": event_type, "mail": MAIL}) is None


def test_an_sns_wrapped_ses_event_is_unwrapped():
    message = {"eventType": "Delivery", "mail": MAIL, "delivery": {"timestamp": "2026-11-26T14:00:01.000Z"}}
    envelope = {
        "Type": "Notification",
        "Message": json.dumps(message),
        "TopicArn": "arn:aws:sns:us-east-1:1:t",
    }
    [event] = events_from_envelope(envelope)
    assert (event.provider, event.outcome) == ("ses", D)
    with pytest.raises(BadRequest):
        events_from_envelope({"Type": "Notification", "Message": "not json"})


def test_a_firehose_file_of_ses_and_sms_events_reads_record_by_record():
    delivery = {"eventType": "Delivery", "mail": MAIL, "delivery": {"timestamp": "2026-11-26T14:00:01.000Z"}}
    send = {"eventType": "Send", "mail": MAIL, "send": {}}
    sms = {
        "eventType": "TEXT_DELIVERED",
        "eventTimestamp": 1764165600000,
        "isFinal": True,
        "destinationPhoneNumber": "+15145550000",
        "messageId": "862a8790-60c0-4430-9b2b-658bdexample",
        "messageStatus": "DELIVERED",
        "context": {"herald_comm_id": "c-1", "herald_message_id": "m-2"},
    }
    no_id = {"eventType": "Delivery", "mail": {"timestamp": "2026-11-26T14:00:00.000Z"}, "delivery": {}}
    # As Firehose writes them: records back to back, no separator (a newline between them is read too).
    data = (json.dumps(delivery) + json.dumps(send) + "\n" + json.dumps(no_id) + json.dumps(sms)).encode()
    events = events_from_file(data)
    # The Send event is no delivery news, the record without a message id is skipped, the rest read.
    assert [(e.provider, e.outcome, e.message_id) for e in events] == [("ses", D, "m-1"), ("eum", D, "m-2")]
    assert events_from_file(b"") == []
    with pytest.raises(BadRequest):
        events_from_file(b"{not json")
    with pytest.raises(BadRequest):
        events_from_file(b"\xff\xfe")


# -- End User Messaging SMS ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "final", "outcome", "permanent"),
    [
        ("TEXT_DELIVERED", True, D, False),
        ("TEXT_SUCCESSFUL", True, D, False),
        ("TEXT_PENDING", False, DEF, False),
        ("TEXT_QUEUED", False, DEF, False),
        ("TEXT_INVALID", True, U, True),
        ("TEXT_CARRIER_UNREACHABLE", True, U, False),
        ("TEXT_CARRIER_UNREACHABLE", False, DEF, False),
        ("TEXT_BLOCKED", True, U, False),
        ("TEXT_SPAM", True, U, False),
        ("TEXT_TTL_EXPIRED", True, U, False),
        ("TEXT_UNKNOWN", True, U, False),
        ("TEXT_INVALID_MESSAGE", True, F, False),
        ("TEXT_PROTECT_BLOCKED", True, DR, False),
    ],
)
def test_eum_events(event_type, final, outcome, permanent):
    raw = {
        "eventType": event_type,
        "eventVersion": "1.0",
        "eventTimestamp": 1764165600000,
        "isFinal": final,
        "originationPhoneNumber": "+12065550152",
        "destinationPhoneNumber": "+15145550000",
        "messageId": "862a8790-60c0-4430-9b2b-658bdexample",
        "messageStatus": event_type.removeprefix("TEXT_"),
        "messageStatusDescription": "what the carrier said",
        "context": {"herald_comm_id": "c-1", "herald_message_id": "m-1"},
    }
    assert eum.is_sms_event(raw)
    event = eum.map_event(raw)
    assert event is not None
    assert (event.outcome, event.permanent, event.comm_id, event.message_id) == (
        outcome,
        permanent,
        "c-1",
        "m-1",
    )
    assert (event.error is None) is (outcome in (D, DEF))


# -- SendGrid ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "outcome", "permanent", "error"),
    [
        ({"event": "delivered", "response": "250 OK"}, D, False, None),
        (
            {"event": "deferred", "response": "400 try again later", "attempt": "5"},
            DEF,
            False,
            "SendGrid deferred: 400 try again later",
        ),
        (
            {"event": "bounce", "type": "bounce", "status": "5.1.1", "reason": "550 5.1.1 no such user"},
            B,
            True,
            "SendGrid bounce (5.1.1): 550 5.1.1 no such user",
        ),
        (
            {"event": "bounce", "type": "blocked", "status": "4.0.0", "reason": "blocked by policy"},
            B,
            False,
            "SendGrid blocked (4.0.0): blocked by policy",
        ),
        (
            {"event": "dropped", "reason": "Unsubscribed Address"},
            DR,
            False,
            "SendGrid dropped: Unsubscribed Address",
        ),
        ({"event": "spamreport"}, C, False, None),
    ],
)
def test_sendgrid_events(raw, outcome, permanent, error):
    base = {
        "email": "p@example.com",
        "timestamp": 1764165600,
        "sg_event_id": "e1",
        "sg_message_id": "abc.filter",
        "herald_comm_id": "c-1",
        "herald_message_id": "m-1",
    }
    event = sendgrid.map_event({**base, **raw})
    assert event is not None
    assert (event.outcome, event.permanent, event.error) == (outcome, permanent, error)
    assert (event.comm_id, event.message_id, event.provider_message_id) == ("c-1", "m-1", "abc")


@pytest.mark.parametrize("name", ["processed", "open", "click", "unsubscribe", "group_unsubscribe"])
def test_sendgrid_engagement_events_are_not_delivery_news(name):
    assert sendgrid.map_event({"event": name, "timestamp": 1}) is None


# -- Mailgun ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "outcome", "permanent"),
    [
        ({"event": "delivered"}, D, False),
        ({"event": "failed", "severity": "temporary", "reason": "generic"}, DEF, False),
        ({"event": "failed", "severity": "permanent", "reason": "bounce"}, B, True),
        ({"event": "failed", "severity": "permanent", "reason": "suppress-bounce"}, DR, False),
        ({"event": "failed", "severity": "permanent", "reason": "old"}, F, False),
        ({"event": "rejected", "reject": {"reason": "sandbox"}}, DR, False),
        ({"event": "complained"}, C, False),
        ({"event": "accepted"}, None, False),
        ({"event": "opened"}, None, False),
    ],
)
def test_mailgun_events(raw, outcome, permanent):
    base = {
        "id": "ev",
        "timestamp": 1764165600.5,
        "recipient": "p@example.com",
        "user-variables": {"herald_comm_id": "c-1", "herald_message_id": "m-1"},
        "message": {"headers": {"message-id": "2026.1@mg.example"}},
    }
    event = mailgun.map_event({**base, **raw})
    if outcome is None:
        assert event is None
        return
    assert event is not None
    assert (event.outcome, event.permanent, event.provider_message_id) == (
        outcome,
        permanent,
        "2026.1@mg.example",
    )


# -- Twilio ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "outcome", "permanent", "error"),
    [
        ("delivered", "", D, False, None),
        ("read", "", D, False, None),
        ("undelivered", "30003", U, False, "Twilio undelivered (30003): unreachable destination handset"),
        ("undelivered", "30005", U, True, "Twilio undelivered (30005): unknown destination handset"),
        ("failed", "30008", F, False, "Twilio failed (30008): unknown error"),
        ("sent", "", None, False, None),
        ("queued", "", None, False, None),
    ],
)
def test_twilio_callbacks(status, code, outcome, permanent, error):
    form = {"MessageSid": "SM1", "MessageStatus": status, "ErrorCode": code, "To": "+15145550000"}
    event = twilio.map_callback(form, {"comm_id": "c-1", "message_id": "m-1"}, utc_now())
    if outcome is None:
        assert event is None
        return
    assert event is not None
    assert (event.outcome, event.permanent, event.error) == (outcome, permanent, error)
    assert event.event_id == f"SM1:{status}:{code}"
