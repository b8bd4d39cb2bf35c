"""Delivery tracking on the embedded stack, over HTTP only: sandbox providers report back, the tabs fill in.

Each provider pairing runs on a stack of its own: SES + Twilio (the local default), SendGrid + End
User Messaging, Mailgun + Twilio. The sandboxes decide each message's fate by its address (README).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import RunningStack, run_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# (email local part, phone suffix, email status, sms status)
FATES = [
    ("ok", "1201", "DELIVERED", "DELIVERED"),
    ("ok", "1202", "DELIVERED", "DELIVERED"),
    ("bounce", "0000", "FAILED", "FAILED"),
    ("softbounce", "0001", "FAILED", "FAILED"),
    ("complaint", "1203", "DELIVERED", "DELIVERED"),
    ("drop", "1204", "FAILED", "DELIVERED"),
    ("delay", "1205", "DELIVERED", "DELIVERED"),
    ("reject", "9400", "SEND_FAILED", "SEND_FAILED"),
    ("ok", "9400", "DELIVERED", "SEND_FAILED"),
]
SUPPRESSED_EMAIL_FATES = {"bounce", "complaint"}
SUPPRESSED_PHONE_SUFFIXES = {"0000"}
CONTENT = {
    "email": {"en": {"subject": "Outage notice", "html": "<p>Hi {{ account.first_name }}</p>", "text": "Hi"}},
    "sms": {"en": {"body": "Hi {{ account.first_name }}: outage tonight"}},
}
PAIRINGS = {
    "ses+twilio": {},
    "sendgrid+eum": {"HERALD_EMAIL_PROVIDER": "sendgrid", "HERALD_SMS_PROVIDER": "eum"},
    "mailgun+twilio": {"HERALD_EMAIL_PROVIDER": "mailgun", "HERALD_SMS_PROVIDER": "twilio"},
}


@pytest.fixture(scope="module", params=list(PAIRINGS))
def provider_stack(request, tmp_path_factory) -> Iterator[tuple[str, RunningStack]]:
    # A stack of its own: what its providers received stays apart from the other e2e tests'.
    for running in run_stack(tmp_path_factory, PAIRINGS[request.param]):
        yield request.param, running


def _accounts() -> list[dict[str, Any]]:
    run = uuid.uuid4().hex[:6]
    # Real Canadian area codes with the 555 exchange: valid numbers (accounts refuse invalid ones),
    # one area code per account so each gets its own number; the last four digits pick the fate.
    areas = ["514", "438", "450", "579", "819", "873", "418", "581", "613"]
    accounts = []
    for i, (local, suffix, email_status, sms_status) in enumerate(FATES):
        accounts.append(
            {
                "account_id": str(uuid.uuid4()),
                "first_name": f"P{i}",
                "email": f"{local}-{run}-{i}@example.com",
                "phone": f"+1{areas[i]}555{suffix}",
                "expected": {"email": email_status, "sms": sms_status},
                "email_fate": local,
                "phone_suffix": suffix,
            }
        )
    return accounts


def _import(stack: RunningStack, accounts: list[dict[str, Any]]) -> None:
    lines = ["account_id,first_name,last_name,email,phone,language,channels"]
    lines += [
        f"{a['account_id']},{a['first_name']},Test,{a['email']},{a['phone']},en,email|sms" for a in accounts
    ]
    response = stack.call(
        "POST", "/accounts/import", data="\n".join(lines) + "\n", headers={"Content-Type": "text/csv"}
    )
    assert response.json() == {"upserted": len(accounts), "errors": []}


def _send(stack: RunningStack, account_ids: list[str]) -> str:
    created = stack.call(
        "POST",
        "/communications",
        json={"name": "Outage", "channels": ["email", "sms"], "default_language": "en", "content": CONTENT},
    )
    comm_id = str(created.json()["id"])
    audience = "account_id\n" + "\n".join(account_ids) + "\n"
    stack.call(
        "PUT", f"/communications/{comm_id}/audience", data=audience, headers={"Content-Type": "text/csv"}
    )
    assert stack.call("POST", f"/communications/{comm_id}/send").status_code == 202
    return comm_id


def _wait_for_reports(stack: RunningStack, comm_id: str, timeout_s: float = 120) -> dict[str, Any]:
    """Until the communication has finished and every handed-over message has a final report."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        detail = stack.call("GET", f"/communications/{comm_id}").json()
        counts = detail["counts"]
        reported = counts["delivered"] + counts["delivery_failed"]
        if detail["status"] not in ("DRAFT", "IN_PROGRESS") and reported == counts["sent"]:
            return detail
        time.sleep(0.5)
    raise AssertionError(f"not all reported after {timeout_s} s: {detail['status']} {detail['counts']}")


def _messages(stack: RunningStack, comm_id: str) -> list[dict[str, Any]]:
    return stack.call("GET", f"/communications/{comm_id}/messages?limit=200").json()["items"]


def test_sandbox_reports_fill_in_statuses_counts_failures_and_suppressions(provider_stack):
    pairing, stack = provider_stack
    email_provider, sms_provider = pairing.split("+")
    accounts = _accounts()
    by_id = {a["account_id"]: a for a in accounts}
    _import(stack, accounts)

    # WHEN a two-channel communication goes to them and the providers report back
    comm_id = _send(stack, list(by_id))
    detail = _wait_for_reports(stack, comm_id)

    # THEN each message shows what its provider reported, with the provider's own words on failures
    messages = _messages(stack, comm_id)
    assert len(messages) == 2 * len(accounts)
    for message in messages:
        account = by_id[message["account_id"]]
        assert message["status"] == account["expected"][message["channel"]], (message, account)
        provider = email_provider if message["channel"] == "email" else sms_provider
        if message["status"] in ("DELIVERED", "FAILED"):
            assert message["provider"] == provider
        if message["status"] == "DELIVERED":
            assert message["delivered_at"] and message["error"] is None
        if message["status"] in ("FAILED", "SEND_FAILED"):
            assert message["error"], message
    # AND the counts say exactly that
    expected = [a["expected"][c] for a in accounts for c in ("email", "sms")]
    counts = detail["counts"]
    assert counts["delivered"] == expected.count("DELIVERED")
    assert counts["delivery_failed"] == expected.count("FAILED")
    assert counts["send_failed"] == expected.count("SEND_FAILED")
    assert detail["status"] == "FAILED"  # some messages could not be sent at all
    failed = stack.call("GET", f"/communications/{comm_id}/messages?status=FAILED&channel=email").json()[
        "items"
    ]
    assert {by_id[m["account_id"]]["email_fate"] for m in failed} == {"bounce", "softbounce", "drop"}

    # AND the send-failures tab lists the accounts that could not be reached at all
    failures = stack.call("GET", f"/communications/{comm_id}/send-failures").json()["items"]
    got_other = {g["account_id"]: g["got_other_message"] for g in failures}
    rejected = [a["account_id"] for a in accounts if "SEND_FAILED" in a["expected"].values()]
    assert sorted(got_other) == sorted(rejected)
    assert [got_other[a] for a in rejected] == [
        "DELIVERED" in by_id[a]["expected"].values() for a in rejected
    ]
    csv = stack.call("GET", f"/communications/{comm_id}/send-failures", headers={"Accept": "text/csv"}).text
    assert sorted(csv.split()[1:]) == sorted(rejected)

    # AND a resend to the delivery failures targets exactly those accounts
    clone = stack.call("POST", f"/communications/{comm_id}/clone", json={"only": "delivery_failures"}).json()
    delivery_failed = {a["account_id"] for a in accounts if "FAILED" in a["expected"].values()}
    assert clone["audience"]["accepted"] == len(delivery_failed)

    # AND hard bounces, complaints and numbers that do not exist are skipped on the next send
    again = _send(stack, list(by_id))
    _wait_for_reports(stack, again)
    skipped = {
        (
            by_id[m["account_id"]]["email_fate"]
            if m["channel"] == "email"
            else by_id[m["account_id"]]["phone_suffix"]
        )
        for m in _messages(stack, again)
        if m["status"] == "SKIPPED" and m["skip_reason"] == "suppressed"
    }
    assert skipped == SUPPRESSED_EMAIL_FATES | SUPPRESSED_PHONE_SUFFIXES

    # AND the sandbox providers took each message with Herald's ids to map the reports back
    received = stack.sandbox_received()
    email_box = received[email_provider]
    first_email = next(m for m in email_box if m["to"] == accounts[0]["email"])
    tags = first_email.get("tags") or first_email.get("custom_args") or first_email.get("variables")
    assert tags["herald_comm_id"] == comm_id
