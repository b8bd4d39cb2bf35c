"""Opting out and erasure through the real routes and workers on moto: one-click unsubscribe,
SMS STOP / START (Twilio webhook and End User Messaging over the events queue), erasure."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from chalicelib.adapters.sms import twilio
from chalicelib.domain.delivery import DeliveryEvent, DeliveryOutcome
from chalicelib.domain.models import Channel
from chalicelib.domain.optout import UnsubscribeSigner
from chalicelib.settings import get_settings
from chalicelib.wiring import services
from tests.integration.conftest import ACCOUNT, deliver_once, drain

pytestmark = pytest.mark.integration

PUBLIC_URL = "https://notices.example.com/api"
UNSUBSCRIBE_KEY = "integration-unsubscribe-key"
TWILIO_TOKEN = "twilio-auth-token"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PHONE = "+15145550123"


@pytest.fixture
def optout_env(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HERALD_PUBLIC_URL", PUBLIC_URL)
    monkeypatch.setenv("HERALD_UNSUBSCRIBE_KEY", UNSUBSCRIBE_KEY)
    monkeypatch.setenv("HERALD_TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
    get_settings.cache_clear()
    services.cache_clear()
    yield
    get_settings.cache_clear()
    services.cache_clear()


def capture_ses_sends() -> list[dict[str, Any]]:
    """The parameters of every SESv2 SendEmail the send worker makes (the calls still reach moto)."""
    calls: list[dict[str, Any]] = []
    client = services().email_sender._client  # type: ignore[attr-defined]
    client.meta.events.register(
        "provide-client-params.sesv2.SendEmail", lambda params, **_: calls.append(dict(params))
    )
    return calls


def headers_of(call: dict[str, Any]) -> dict[str, str]:
    return {h["Name"]: h["Value"] for h in call["Content"]["Simple"].get("Headers", [])}


def send(api, client, account_id: str, **overrides: Any) -> str:
    comm_id = api.create_communication(**overrides)
    api.set_audience(comm_id, [account_id])
    assert api.call("post", f"/communications/{comm_id}/send").status_code == 202
    drain(client)
    return comm_id


def unsubscribe_path(call: dict[str, Any]) -> str:
    link = headers_of(call)["List-Unsubscribe"]
    assert link.startswith(f"<{PUBLIC_URL}/unsubscribe?token=") and link.endswith(">")
    return link[1 + len(PUBLIC_URL) : -1]


def raw_post(client, path: str, body: str | bytes, headers: dict[str, str]) -> Any:
    response = client.http.post(path, headers=headers, body=body)
    is_json = str(response.headers.get("Content-Type", "")).startswith("application/json")
    response.json = json.loads(response.body) if response.body and is_json else None
    return response


def suppressions(api, channel: str) -> list[dict[str, Any]]:
    return api.call("get", f"/suppressions?channel={channel}").json["items"]


@pytest.fixture
def marie(optout_env, api) -> str:
    return api.put_account(email="Marie@Example.com", phone=PHONE, channels=["email"], language="en")


def test_only_non_essential_emails_carry_one_click_unsubscribe_headers(api, client, marie):
    calls = capture_ses_sends()
    # GIVEN a transactional notice (the default) and a non-essential message
    notice = send(api, client, marie)
    offer = send(api, client, marie, transactional=False)
    assert api.call("get", f"/communications/{notice}").json["transactional"] is True
    assert api.call("get", f"/communications/{offer}").json["transactional"] is False
    # THEN only the non-essential email carries RFC 8058's headers
    by_comm = {call["EmailTags"][0]["Value"]: call for call in calls}
    assert "List-Unsubscribe" not in headers_of(by_comm[notice])
    offer_headers = headers_of(by_comm[offer])
    assert offer_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert offer_headers["List-Unsubscribe"].startswith(f"<{PUBLIC_URL}/unsubscribe?token=")


def test_one_click_unsubscribe_suppresses_the_address_and_the_next_send_skips_it(api, client, marie):
    calls = capture_ses_sends()
    offer = send(api, client, marie, transactional=False)
    path = unsubscribe_path(calls[0])

    # WHEN a link scanner (or the recipient) opens the link: a confirmation page, nothing changes
    page = client.http.get(path, headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert b'<form method="post"' in page.body and "M•••@Example.com".encode() in page.body
    assert suppressions(api, "email") == []

    # WHEN the mail client posts RFC 8058's one-click body, twice
    first = raw_post(client, path, "List-Unsubscribe=One-Click", FORM)
    second = raw_post(client, path, "List-Unsubscribe=One-Click", FORM)
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.json["changed"], second.json["changed"]) == (True, False)

    # THEN the address is suppressed once, with its reason and source, and audited once
    (suppression,) = suppressions(api, "email")
    assert (suppression["address"], suppression["reason"], suppression["comm_id"]) == (
        "marie@example.com",
        "unsubscribed",
        offer,
    )
    audit = api.call("get", "/suppressions/audit").json["items"]
    assert [(e["action"], e["details"]["comm_id"]) for e in audit] == [("unsubscribe", offer)]

    # AND the next send to that address is skipped as suppressed
    later = send(api, client, marie)
    (message,) = api.call("get", f"/communications/{later}/messages").json["items"]
    assert (message["status"], message["skip_reason"]) == ("SKIPPED", "suppressed")
    assert len(calls) == 1


def test_the_confirmation_pages_button_unsubscribes_and_says_so(api, client, marie):
    calls = capture_ses_sends()
    send(api, client, marie, transactional=False)
    path = unsubscribe_path(calls[0])
    # An empty body (some clients send none) from a browser that wants HTML
    done = raw_post(client, path, "", {**FORM, "Accept": "text/html"})
    assert done.status_code == 200 and b"You are unsubscribed" in done.body
    assert [s["reason"] for s in suppressions(api, "email")] == ["unsubscribed"]


def test_bad_tokens_are_refused_and_change_nothing(api, client, marie):
    calls = capture_ses_sends()
    offer = send(api, client, marie, transactional=False)
    token = unsubscribe_path(calls[0]).split("token=", 1)[1]
    expired = UnsubscribeSigner(UNSUBSCRIBE_KEY.encode(), ttl=timedelta(seconds=-1)).sign(
        marie, Channel.EMAIL, "marie@example.com", offer
    )
    other_key = UnsubscribeSigner(b"another key").sign(marie, Channel.EMAIL, "marie@example.com", offer)
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad, status in ((tampered, 403), (expired, 403), (other_key, 403), ("", 400), ("nonsense", 403)):
        response = raw_post(client, f"/unsubscribe?token={bad}", "List-Unsubscribe=One-Click", FORM)
        assert response.status_code == status, (bad, response.body)
        assert set(response.json["error"]) == {"code", "message", "details"}
        page = client.http.get(f"/unsubscribe?token={bad}", headers={"Accept": "text/html"})
        assert page.status_code == status and page.headers["Content-Type"].startswith("text/html")
    assert "expired" in raw_post(client, f"/unsubscribe?token={expired}", "", FORM).json["error"]["message"]
    assert suppressions(api, "email") == []
    assert api.call("get", "/suppressions/audit").json["items"] == []


# -- SMS STOP / START ------------------------------------------------------------------------------


def twilio_inbound(client, body: str, sender: str = PHONE, signature: str | None = None) -> Any:
    form = [
        ("MessageSid", "SM" + "0" * 32),
        ("AccountSid", "AC" + "1" * 32),
        ("From", sender),
        ("To", "+15005550006"),
        ("Body", body),
        ("NumMedia", "0"),
    ]
    url = f"{PUBLIC_URL}{twilio.INBOUND_PATH}"
    headers = {**FORM, "X-Twilio-Signature": signature or twilio.compute_signature(TWILIO_TOKEN, url, form)}
    return raw_post(client, twilio.INBOUND_PATH, urlencode(form), headers)


def test_stop_then_start_through_the_signed_twilio_webhook(api, client, optout_env):
    sms_account = api.put_account(phone=PHONE, channels=["sms"], email=None)
    # A forged request changes nothing
    forged = twilio_inbound(client, "STOP", signature="AAAA")
    assert forged.status_code == 403 and suppressions(api, "sms") == []

    stop = twilio_inbound(client, "  Stop ")
    assert stop.status_code == 200 and stop.headers["Content-Type"] == "text/xml"
    assert [(s["address"], s["reason"]) for s in suppressions(api, "sms")] == [(PHONE, "stop")]
    skipped = send(api, client, sms_account, channels=["sms"])
    (message,) = api.call("get", f"/communications/{skipped}/messages").json["items"]
    assert message["skip_reason"] == "suppressed"

    assert twilio_inbound(client, "what is this?").status_code == 200  # ignored
    assert twilio_inbound(client, "START").status_code == 200
    assert suppressions(api, "sms") == []
    actions = [e["action"] for e in api.call("get", "/suppressions/audit").json["items"]]
    assert actions == ["sms_stop", "sms_start"]


def test_start_does_not_lift_a_bounce_suppression(api, client, optout_env):
    added = api.call("post", "/suppressions", {"channel": "sms", "address": PHONE, "reason": "hard_bounce"})
    assert added.status_code == 201
    assert twilio_inbound(client, "START").status_code == 200
    assert twilio_inbound(client, "STOP").status_code == 200
    assert [(s["address"], s["reason"]) for s in suppressions(api, "sms")] == [(PHONE, "hard_bounce")]
    assert api.call("get", "/suppressions/audit").json["items"] == []


def test_stop_over_end_user_messaging_two_way_sms_reaches_the_events_worker(api, client, optout_env):
    # GIVEN the number's two-way channel publishes replies to the events topic (SNS → events queue)
    reply = {
        "originationNumber": PHONE,
        "destinationNumber": "+18005550199",
        "messageKeyword": "KEYWORD_123456789012",
        "messageBody": "STOPALL",
        "inboundMessageId": "cae173d2-66b9-564c-8309-21f858e9fb84",
        "previousPublishedMessageId": "wJ0Ow5Z1bXPlZd2tmsl2ARMQmQ",
    }
    topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:herald-dev-events"
    boto3.client("sns").publish(TopicArn=topic, Message=json.dumps(reply))
    # WHEN the events worker takes the batch
    records = deliver_once(client, get_settings().events_queue, "events_worker")
    # THEN the number is suppressed
    assert len(records) == 1
    assert [(s["address"], s["reason"]) for s in suppressions(api, "sms")] == [(PHONE, "stop")]


# -- erasure ---------------------------------------------------------------------------------------


def test_erasure_removes_personal_data_and_keeps_counts(api, client, optout_env):
    account = api.put_account(
        first_name="Marie",
        last_name="Curie",
        email="marie@example.com",
        phone=PHONE,
        channels=["email", "sms"],
    )
    bystander = api.put_account(
        first_name="Pierre",
        last_name="Martin",
        email="pierre@example.com",
        phone="+15145550124",
        channels=["email"],
    )
    comm_id = api.create_communication()
    api.set_audience(comm_id, [account, bystander])
    api.call("post", f"/communications/{comm_id}/send")
    drain(client)
    messages = {
        (m["account_id"], m["channel"]): m
        for m in api.call("get", f"/communications/{comm_id}/messages").json["items"]
    }
    email = messages[(account, "email")]
    # GIVEN provider events about its messages (one bounce naming the address in its error, and a
    # delay report, kept for audit as it changed nothing)
    now = datetime.now(UTC)
    services().delivery_tracker.record(
        [
            DeliveryEvent(
                provider="ses",
                event_id="delay-1",
                outcome=DeliveryOutcome.DEFERRED,
                occurred_at=now - timedelta(minutes=1),
                channel=Channel.EMAIL,
                comm_id=comm_id,
                message_id=email["id"],
                recipient="marie@example.com",
                error="SES delivery delay: <Marie@Example.com> mailbox full",
                raw={"mail": {"destination": ["marie@example.com"]}},
            ),
            DeliveryEvent(
                provider="ses",
                event_id="bounce-1",
                outcome=DeliveryOutcome.BOUNCED,
                occurred_at=now,
                channel=Channel.EMAIL,
                comm_id=comm_id,
                message_id=email["id"],
                recipient="marie@example.com",
                error="SES bounce (Permanent/General): 550 5.1.1 <Marie@Example.com>: no such user",
                permanent=True,
                raw={"mail": {"destination": ["marie@example.com"]}},
            ),
            DeliveryEvent(
                provider="ses",
                event_id="delivery-2",
                outcome=DeliveryOutcome.DELIVERED,
                occurred_at=now,
                channel=Channel.EMAIL,
                comm_id=comm_id,
                message_id=messages[(bystander, "email")]["id"],
                raw={"mail": {"destination": ["pierre@example.com"]}},
            ),
        ]
    )
    before = api.call("get", f"/communications/{comm_id}").json
    statuses = {
        (m["account_id"], m["channel"]): m["status"]
        for m in api.call("get", f"/communications/{comm_id}/messages").json["items"]
    }
    assert statuses[(account, "email")] == "FAILED"

    # A viewer may not erase
    viewer = api.as_admin("viewer-1", "Vera", "Viewer", permissions="mass_communications:read")
    assert api_status(viewer.call("delete", f"/accounts/{account}/personal-data")) == 403

    # WHEN an admin erases the account's personal data
    erased = api.call("delete", f"/accounts/{account}/personal-data")
    assert erased.status_code == 200, erased.body
    assert erased.json == {
        "account_id": account,
        "erased": {"account": 1, "messages": 2, "provider_events": 1},
    }

    # THEN the account, its message records and their raw events no longer hold name, email or phone
    stored = api.call("get", f"/accounts/{account}").json
    names = ("first_name", "last_name", "email", "phone")
    assert [stored[name] for name in names] == ["", "", None, None]
    after = {
        (m["account_id"], m["channel"]): m
        for m in api.call("get", f"/communications/{comm_id}/messages").json["items"]
    }
    for channel in ("email", "sms"):
        assert after[(account, channel)]["address"] is None
        assert after[(account, channel)]["status"] == statuses[(account, channel)]
    scrubbed = "SES bounce (Permanent/General): 550 5.1.1 <[erased]>: no such user"
    assert after[(account, "email")]["error"] == scrubbed
    assert after[(bystander, "email")]["address"] == "pierre@example.com"
    dump = json.dumps(
        boto3.client("dynamodb").scan(TableName=get_settings().messages_table)["Items"]
        + boto3.client("dynamodb").scan(TableName=get_settings().delivery_events_table)["Items"]
    )
    for personal in ("marie@example.com", PHONE, "marie", "curie"):
        assert personal not in dump.lower(), personal
    assert "pierre@example.com" in dump

    # AND statuses and counts are as they were; the erasure is audited
    final = api.call("get", f"/communications/{comm_id}").json
    assert (final["counts"], final["counts_by_channel"]) == (before["counts"], before["counts_by_channel"])
    (entry,) = api.call("get", f"/accounts/{account}/audit").json["items"]
    assert (entry["action"], entry["actor"]["id"], entry["details"]) == (
        "erase",
        "admin-1",
        {"messages": 2, "provider_events": 1},
    )
    # Asking again is harmless
    assert api.call("delete", f"/accounts/{account}/personal-data").status_code == 200
    unknown = "/accounts/00000000-0000-4000-8000-000000000000/personal-data"
    assert api.call("delete", unknown).status_code == 404


def api_status(response: Any) -> int:
    return int(response.status_code)
