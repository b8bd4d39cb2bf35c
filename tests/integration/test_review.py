"""Preview, dry run and test send: the numbers and content a send would then produce."""

from __future__ import annotations

from collections import Counter

import boto3
import pytest

from chalicelib.settings import get_settings
from tests.integration.conftest import BILINGUAL_CONTENT, deliver_once, drain, sent_emails, sent_sms

pytestmark = pytest.mark.integration

CONTENT = {
    "email": {
        **BILINGUAL_CONTENT["email"],
        "en": {
            "subject": "Maintenance for {{ account.first_name }}",
            "html": "<p>Hello {{ account.first_name }}</p>",
            # A VIP without a plan on file cannot be rendered: that message fails at send.
            "text": (
                "Hello {{ account.first_name }}"
                "{% if account.segment == 'vip' %} {{ account.attributes.plan }}{% endif %}"
            ),
        },
    },
    "sms": BILINGUAL_CONTENT["sms"],
}


def _table(name: str):
    return boto3.client("dynamodb"), getattr(get_settings(), name)


@pytest.fixture
def mixed(api):
    """An audience where every planning rule shows up, with the expected skips."""
    ids = {
        "en_both": api.put_account(language="en", email="a@example.com", phone="+15145550001"),
        "frca_both": api.put_account(language="fr-CA", email="b@example.com", phone="+15145550002"),
        "de_email": api.put_account(language="de", channels=["email"], email="c@example.com"),
        "fr_sms_no_phone": api.put_account(language="fr", channels=["sms"], phone=None),
        "no_channel": api.put_account(language="en", channels=[]),
        "vip_without_plan": api.put_account(language="en", channels=["email"], segment="vip"),
        "vip_with_plan": api.put_account(
            language="en", channels=["email"], segment="vip", attributes={"plan": "Fibre 1G"}
        ),
        "to_deactivate": api.put_account(language="en"),
        "to_delete": api.put_account(language="en"),
        "bad_email": api.put_account(language="en", channels=["email"]),
    }
    return ids


def _after_audience_is_set(api, ids):
    # Account data changes after the audience was frozen: read fresh at send (and dry run) time.
    api.put_account(account_id=ids["to_deactivate"], language="en", status="inactive")
    client, table = _table("accounts_table")
    client.delete_item(TableName=table, Key={"account_id": {"S": ids["to_delete"]}})
    client.update_item(
        TableName=table,
        Key={"account_id": {"S": ids["bad_email"]}},
        UpdateExpression="SET email = :e",
        ExpressionAttributeValues={":e": {"S": "not-an-address@"}},
    )


def _all_messages(api, comm_id):
    items, cursor = [], None
    while True:
        path = f"/communications/{comm_id}/messages?limit=200" + (f"&cursor={cursor}" if cursor else "")
        page = api.call("get", path).json
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def test_the_dry_run_agrees_exactly_with_the_send_that_follows(api, client, mixed):
    # GIVEN a communication whose audience exercises every skip reason, fallback and a render failure
    comm_id = api.create_communication(content=CONTENT)
    assert api.set_audience(comm_id, list(mixed.values())).json["accepted"] == len(mixed)
    _after_audience_is_set(api, mixed)
    # WHEN it is dry-run, then really sent through the workers
    dry = api.call("post", f"/communications/{comm_id}/dry-run")
    assert dry.status_code == 200, dry.body
    dry = dry.json
    api.call("post", f"/communications/{comm_id}/send")
    drain(client)
    detail = api.call("get", f"/communications/{comm_id}").json
    messages = _all_messages(api, comm_id)
    # THEN every number of the dry run is what the send produced
    assert dry["messages_total"] == detail["counts"]["messages_total"] == len(messages) == 13
    assert dry["skipped"] == dict(Counter(m["skip_reason"] for m in messages if m["status"] == "SKIPPED"))
    assert dry["skipped"] == {
        "no_phone": 1,
        "no_preferred_channel": 1,
        "account_inactive": 2,
        "account_missing": 1,
        "invalid_email": 1,
    }
    assert sum(dry["skipped"].values()) == detail["counts"]["skipped"]
    assert dry["by_channel"] == {
        ch: detail["counts_by_channel"][ch]["messages_total"] for ch in ("email", "sms")
    }
    assert dry["by_language"] == dict(Counter(m["language"] for m in messages if m["status"] != "SKIPPED"))
    assert dry["by_language"] == {"en": 5, "fr": 2}
    assert dry["render_errors"] == detail["counts"]["send_failed"] == 1
    failed = [m for m in messages if m["status"] == "SEND_FAILED"]
    assert [m["account_id"] for m in failed] == [mixed["vip_without_plan"]]
    assert dry["fallbacks"] == 3  # fr-CA→fr twice (email, sms), de→en once
    assert dry["fallbacks_by_language"] == {"fr-CA->fr": 2, "de->en": 1}
    sent = detail["counts"]["sent"]
    assert sent == dry["messages_total"] - sum(dry["skipped"].values()) - dry["render_errors"]
    assert dry["sms_segments"] == len(sent_sms()) == 2
    assert len(sent_emails()) == 4


def test_a_dry_run_over_a_large_audience_is_a_job_with_the_same_result(api, client, mixed, monkeypatch):
    comm_id = api.create_communication(content=CONTENT)
    api.set_audience(comm_id, list(mixed.values()))
    direct = api.call("post", f"/communications/{comm_id}/dry-run").json
    _use_settings(monkeypatch, HERALD_DRY_RUN_DIRECT_MAX_ACCOUNTS="3")
    started = api.call("post", f"/communications/{comm_id}/dry-run")
    assert started.status_code == 202
    job_id = started.json["job_id"]
    assert api.call("get", f"/jobs/{job_id}").json["state"] == "queued"
    assert deliver_once(client, get_settings().jobs_queue, "jobs_worker")
    job = api.call("get", f"/jobs/{job_id}").json
    assert job["state"] == "done"
    assert job["result"] == direct
    assert job["progress"] == {"done": 1, "total": 1}
    # Nothing was sent by either.
    assert api.call("get", f"/communications/{comm_id}").json["counts"]["messages_total"] == 0
    assert sent_emails() == [] and sent_sms() == []


def _use_settings(monkeypatch, **env):
    from chalicelib.wiring import services

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    services.cache_clear()


def test_unknown_jobs_are_404(api):
    assert api.call("get", "/jobs/nope").status_code == 404


# -- preview ------------------------------------------------------------------------------------


def test_preview_shows_exactly_what_the_account_would_receive(api):
    account = api.put_account(
        language="fr-CA", first_name="Gaston", email="g@example.com", phone="+15145550002"
    )
    comm_id = api.create_communication()
    response = api.call("post", f"/communications/{comm_id}/preview", {"account_id": account})
    assert response.status_code == 200, response.body
    email, sms = response.json["messages"]
    assert email == {
        "channel": "email",
        "status": "WOULD_SEND",
        "address": "g@example.com",
        "language": "fr",
        "fell_back": True,
        "requested_language": "fr-CA",
        "subject": "Maintenance pour Gaston",
        "html": "<p>Bonjour Gaston, nous améliorons le réseau.</p>",
        "text": "Bonjour Gaston, nous améliorons le réseau.",
    }
    assert sms["body"] == "Bonjour Gaston : maintenance du réseau ce soir."
    assert sms["sms"] == {"encoding": "gsm7", "units": 47, "segments": 1, "characters": 47}
    assert set(sms["sms_by_language"]) == {"en", "fr"}
    only_sms = api.call(
        "post", f"/communications/{comm_id}/preview", {"account_id": account, "channel": "sms"}
    )
    assert [m["channel"] for m in only_sms.json["messages"]] == ["sms"]


def test_preview_gives_the_skip_reason(api):
    account = api.put_account(channels=["sms"], phone=None)
    comm_id = api.create_communication()
    (message,) = api.call("post", f"/communications/{comm_id}/preview", {"account_id": account}).json[
        "messages"
    ]
    assert message == {
        "channel": "sms",
        "status": "SKIPPED",
        "address": None,
        "skip_reason": "no_phone",
        "error": "no phone number on file",
    }


def test_preview_of_content_that_does_not_render_for_the_account_is_422(api):
    account = api.put_account(language="en", channels=["email"], segment="vip")
    comm_id = api.create_communication(content=CONTENT, channels=["email"])
    response = api.call("post", f"/communications/{comm_id}/preview", {"account_id": account})
    assert response.status_code == 422
    (detail,) = response.json["error"]["details"]
    assert detail["field"] == "content.email.en.text" and detail["line"] == 1
    assert "plan" in detail["error"]


@pytest.mark.parametrize(
    ("body", "status"),
    [({}, 422), ({"account_id": "missing"}, 404), ({"account_id": "x", "channel": "fax"}, 422)],
)
def test_bad_preview_requests(api, body, status):
    comm_id = api.create_communication()
    assert api.call("post", f"/communications/{comm_id}/preview", body).status_code == status


# -- test send ----------------------------------------------------------------------------------


def test_a_test_send_reaches_one_account_and_changes_no_counts_or_records(api, client):
    account = api.put_account(
        language="en", first_name="Alan", email="alan@example.com", phone="+15145550001"
    )
    comm_id = api.create_communication()
    api.set_audience(comm_id, [account])
    response = api.call("post", f"/communications/{comm_id}/test-send", {"account_id": account})
    assert response.status_code == 200, response.body
    assert [(m["channel"], m["address"]) for m in response.json["sent"]] == [
        ("email", "alan@example.com"),
        ("sms", "+15145550001"),
    ]
    (email,) = sent_emails()
    assert email.subject == "Maintenance for Alan"
    assert dict(sent_sms())["+15145550001"].startswith("Hello Alan")
    detail = api.call("get", f"/communications/{comm_id}").json
    assert detail["status"] == "DRAFT" and detail["counts"]["messages_total"] == 0
    assert api.call("get", f"/communications/{comm_id}/messages").json["items"] == []


def test_a_test_send_to_an_address_renders_for_the_caller_or_a_given_account(api):
    comm_id = api.create_communication()
    response = api.call("post", f"/communications/{comm_id}/test-send", {"email": "me@example.com"})
    assert [m["address"] for m in response.json["sent"]] == ["me@example.com"]
    assert sent_emails()[0].subject == "Maintenance for Ada"  # the caller, Ada Lovelace
    account = api.put_account(language="fr", first_name="Émile")
    api.call("post", f"/communications/{comm_id}/test-send", {"account_id": account, "phone": "+15145550009"})
    assert dict(sent_sms())["+15145550009"].startswith("Bonjour Émile")


@pytest.mark.parametrize("body", [{}, {"email": "not-an-address"}, {"phone": "12345"}])
def test_a_test_send_needs_a_valid_recipient(api, body):
    comm_id = api.create_communication()
    assert api.call("post", f"/communications/{comm_id}/test-send", body).status_code == 422
    assert sent_emails() == [] and sent_sms() == []
