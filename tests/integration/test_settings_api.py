"""Operator settings over HTTP against moto: defaults, validation, audit, and their use when sending."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from chalicelib.adapters.dynamodb.messages import TTL_ATTRIBUTE
from chalicelib.wiring import services
from tests.integration.conftest import Api, drain, sent_emails, sent_sms
from tests.integration.rig import Rig
from tests.support import CallHooks

pytestmark = pytest.mark.integration

DEFAULTS = {
    "from_email": "notices@herald.example",
    "from_name": "Herald",
    "reply_to": None,
    "sms_sender": None,
    "default_language": "en",
    "default_timezone": "UTC",
    # The environment's defaults as tests/conftest.py sets them: the contact window open all
    # week, so sends in tests never wait…
    "contact_hours": {
        "start": "00:00",
        "end": "24:00",
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    },
    "providers": {"email": "ses", "sms": "sns"},
    # tests/conftest.py raises the rate limits (HERALD_EMAIL_RATE_PER_S, HERALD_SMS_RATE_PER_S)
    "rate_limits": {"email_per_s": 1000.0, "sms_per_s": 1000.0},
    "approval_threshold": None,
    "retention_days": 180,
}


def settings_of(api: Api) -> dict[str, Any]:
    body = api.call("get", "/settings").json
    return {key: body[key] for key in DEFAULTS}


def test_the_settings_start_as_the_environments_defaults(api: Api) -> None:
    response = api.call("get", "/settings")
    assert response.status_code == 200
    # The rate limits are the environment's: tests/conftest.py raises them so tests send fast.
    env = services().settings
    rate_limits = {"email_per_s": float(env.email_rate_per_s), "sms_per_s": float(env.sms_rate_per_s)}
    assert settings_of(api) == {**DEFAULTS, "rate_limits": rate_limits}
    assert response.json["updated_by"] is None


def test_a_change_is_stored_merged_and_audited(api: Api) -> None:
    # WHEN an admin changes some settings
    change = {
        "from_name": "Utilité Nord",
        "reply_to": "aide@utilite.example",
        "sms_sender": "UTILITE",
        "default_timezone": "America/Toronto",
        "contact_hours": {"start": "09:00", "end": "20:30", "days": ["sat", "mon", "mon", "fri"]},
        "rate_limits": {"email_per_s": 50, "sms_per_s": 2.5},
        "approval_threshold": 5000,
        "retention_days": 90,
    }
    response = api.call("put", "/settings", change)
    # THEN the answer and later reads have them, the rest unchanged, days in week order
    assert response.status_code == 200, response.body
    expected = {
        **DEFAULTS,
        **change,
        "contact_hours": {"start": "09:00", "end": "20:30", "days": ["mon", "fri", "sat"]},
        "rate_limits": {"email_per_s": 50.0, "sms_per_s": 2.5},
    }
    assert {k: response.json[k] for k in DEFAULTS} == expected
    assert settings_of(api) == expected
    assert api.call("get", "/settings").json["updated_by"]["last_name"] == "Lovelace"
    # AND the settings trail records it with the values before and after
    (entry,) = api.call("get", "/settings/audit").json["items"]
    assert entry["action"] == "settings_change"
    assert entry["actor"] == {"id": "admin-1", "first_name": "Ada", "last_name": "Lovelace"}
    assert entry["details"]["changed"]["approval_threshold"] == {"from": None, "to": 5000}
    assert entry["details"]["changed"]["from_name"] == {"from": "Herald", "to": "Utilité Nord"}
    # and null clears a nullable setting
    api.call("put", "/settings", {"reply_to": None, "approval_threshold": None})
    assert settings_of(api)["reply_to"] is None and settings_of(api)["approval_threshold"] is None


BAD_SETTINGS: list[tuple[dict[str, Any], str]] = [
    ({"from_email": "not an address"}, "from_email"),
    ({"from_email": None}, "body"),
    ({"reply_to": "nobody@"}, "reply_to"),
    ({"from_name": "Herald\r\nBcc: everyone@example.com"}, "from_name"),
    ({"sms_sender": "TOO-LONG-SENDER"}, "sms_sender"),
    ({"sms_sender": "12345"}, "sms_sender"),
    ({"default_language": "english please"}, "default_language"),
    ({"default_timezone": "Mars/Olympus_Mons"}, "default_timezone"),
    ({"default_timezone": "EST5EDT/../../etc"}, "default_timezone"),
    ({"contact_hours": {"start": "8:00", "end": "21:00", "days": ["mon"]}}, "contact_hours.start"),
    ({"contact_hours": {"start": "08:00", "end": "24:30", "days": ["mon"]}}, "contact_hours.end"),
    ({"contact_hours": {"start": "24:00", "end": "24:00", "days": ["mon"]}}, "contact_hours.start"),
    ({"contact_hours": {"start": "21:00", "end": "08:00", "days": ["mon"]}}, "contact_hours"),
    ({"contact_hours": {"start": "08:00", "end": "21:00", "days": []}}, "contact_hours.days"),
    ({"contact_hours": {"start": "08:00", "end": "21:00", "days": ["monday"]}}, "contact_hours.days.0"),
    ({"contact_hours": {"start": "08:00", "end": "21:00"}}, "contact_hours.days"),
    ({"providers": {"email": "carrier-pigeon", "sms": "sns"}}, "providers.email"),
    ({"providers": {"email": "ses"}}, "providers.sms"),
    ({"rate_limits": {"email_per_s": 0, "sms_per_s": 1}}, "rate_limits.email_per_s"),
    ({"rate_limits": {"email_per_s": 10, "sms_per_s": -1}}, "rate_limits.sms_per_s"),
    ({"rate_limits": {"email_per_s": "fast", "sms_per_s": 1}}, "rate_limits.email_per_s"),
    ({"approval_threshold": -1}, "approval_threshold"),
    ({"approval_threshold": 2.5}, "approval_threshold"),
    ({"approval_threshold": True}, "approval_threshold"),
    ({"retention_days": 0}, "retention_days"),
    ({"retention_days": 3}, "retention_days"),
    ({"retention_days": 100_000}, "retention_days"),
    ({"colour": "blue"}, "colour"),
]


def test_bad_settings_are_refused_field_by_field_and_change_nothing(api: Api) -> None:
    api.call("put", "/settings", {"from_name": "Utility Co"})
    before = settings_of(api)
    for body, field in BAD_SETTINGS:
        response = api.call("put", "/settings", {"retention_days": 30, **body})
        assert response.status_code == 422, (body, response.body)
        error = response.json["error"]
        assert error["code"] == "validation_error"
        assert field in [d["field"] for d in error["details"]], (body, error)
    for raw in ("{not json", "[1, 2]"):
        assert api.call("put", "/settings", raw).status_code == 400
    assert settings_of(api) == before
    assert len(api.call("get", "/settings/audit").json["items"]) == 1


def test_sends_use_the_sender_identity_and_retention_from_the_settings(api: Api, client: Any) -> None:
    # GIVEN an operator identity (verified in SES) and a 30-day retention
    boto3.client("ses").verify_email_identity(EmailAddress="outages@utility.example")
    change = {
        "from_email": "outages@utility.example",
        "from_name": "Utility Co",
        "reply_to": "help@utility.example",
        "sms_sender": "UTILITY",
        "retention_days": 30,
    }
    assert api.call("put", "/settings", change).status_code == 200
    comm_id = api.create_communication()
    api.set_audience(comm_id, [api.put_account(email="marie@example.com", phone="+15145550100")])
    # WHEN it is sent
    api.call("post", f"/communications/{comm_id}/send")
    drain(client)
    # THEN SES got the operator's From, and the message records expire after the retention
    (email,) = sent_emails()
    assert email.source == "Utility Co <outages@utility.example>"
    assert len(sent_sms()) == 1
    table = services().settings.messages_table
    items = boto3.client("dynamodb").query(
        TableName=table,
        KeyConditionExpression="comm_id = :c",
        ExpressionAttributeValues={":c": {"S": comm_id}},
    )["Items"]
    assert len(items) == 2
    for item in items:
        expires_at = int(item[TTL_ATTRIBUTE]["N"])
        assert abs(expires_at - (time.time() + 30 * 86_400)) < 120
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", TTL_ATTRIBUTE)
    # AND the communication's counts stay on the communication, not in the records
    assert api.call("get", f"/communications/{comm_id}").json["counts"]["sent"] == 2


def test_every_message_goes_out_as_the_operator_reading_the_settings_once_per_cache_period(
    api: Api, client: Any
) -> None:
    # GIVEN an operator sender identity (verified in SES) and a 20-account, two-channel send
    boto3.client("ses").verify_email_identity(EmailAddress="outages@utility.example")
    identity = {
        "from_email": "outages@utility.example",
        "from_name": "Utility Co",
        "reply_to": "help@utility.example",
        "sms_sender": "UTILITY",
    }
    assert api.call("put", "/settings", identity).status_code == 200
    comm_id = api.create_communication(channels=["email", "sms"])
    accounts = [
        api.put_account(channels=["email", "sms"], email=f"p{i}@example.com", phone=f"+1514555{i:04d}")
        for i in range(20)
    ]
    assert api.set_audience(comm_id, accounts).json["accepted"] == 20
    rig = Rig(send_task_size=5)
    rig.svc.operator_settings.clock = rig.clock.now  # the settings cache runs on the rig's time
    settings_reads: list[str] = []
    emails: list[dict[str, Any]] = []
    sms: list[dict[str, Any]] = []

    def count_settings_reads(operation: str, params: dict[str, Any]) -> None:
        if params.get("TableName") == rig.settings.settings_table:
            settings_reads.append(operation)

    CallHooks(rig.svc.dynamodb).before = count_settings_reads
    CallHooks(rig.svc.sesv2).after = lambda operation, params, parsed: emails.append(params)
    CallHooks(rig.svc.sns).after = lambda operation, params, parsed: sms.append(params)
    # WHEN it is sent: one task, then the rest once the cache period has passed
    assert api.call("post", f"/communications/{comm_id}/send").status_code == 202
    rig.deliver("plan")
    rig.deliver("send", count=1)
    assert settings_reads == ["GetItem"]
    rig.clock.advance(rig.settings.settings_cache_s + 1)
    rig.drain()
    # THEN every email and SMS went out as the operator, once to each address
    assert len(emails) == 20 and len({e["Destination"]["ToAddresses"][0] for e in emails}) == 20
    assert {e["FromEmailAddress"] for e in emails} == {"Utility Co <outages@utility.example>"}
    assert {tuple(e["ReplyToAddresses"]) for e in emails} == {("help@utility.example",)}
    assert len(sms) == 20 and len({s["PhoneNumber"] for s in sms}) == 20
    assert {s["MessageAttributes"]["AWS.SNS.SMS.SenderID"]["StringValue"] for s in sms} == {"UTILITY"}
    # AND the workers read the settings once per cache period, not per message or per task
    assert settings_reads == ["GetItem", "GetItem"]
    detail = api.call("get", f"/communications/{comm_id}").json
    assert (detail["status"], detail["counts"]["sent"]) == ("COMPLETED", 40)
