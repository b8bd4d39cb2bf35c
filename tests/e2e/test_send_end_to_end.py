"""A real communication through the embedded stack: HTTP in, moto's SES and SNS out."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ACCOUNTS = 1_200
LANGUAGES = ["en", "fr", "fr-CA", "en-GB"]
CHANNEL_MIXES = [["email"], ["sms"], ["email", "sms"]]
CONTENT = {
    "email": {
        "en": {
            "subject": "[EN] Service notice for {{ account.first_name }}",
            "html": "<p>Hello {{ account.first_name }} {{ account.last_name }}</p>",
            "text": "Hello {{ account.first_name }}",
        },
        "fr": {
            "subject": "[FR] Avis de service pour {{ account.first_name }}",
            "html": "<p>Bonjour {{ account.first_name }} {{ account.last_name }}</p>",
            "text": "Bonjour {{ account.first_name }}",
        },
    },
    "sms": {
        "en": {"body": "[EN] Hello {{ account.first_name }}"},
        "fr": {"body": "[FR] Bonjour {{ account.first_name }}"},
    },
}


def _accounts() -> list[dict[str, Any]]:
    accounts = []
    for i in range(ACCOUNTS):
        accounts.append(
            {
                "account_id": str(uuid.uuid4()),
                "first_name": f"First{i}",
                "last_name": f"Last{i}",
                "email": f"person{i}@example.com",
                # every seventh account has no phone on file
                "phone": "" if i % 7 == 0 else f"+1514555{i:04d}",
                "language": LANGUAGES[i % len(LANGUAGES)],
                "channels": CHANNEL_MIXES[i % len(CHANNEL_MIXES)],
            }
        )
    return accounts


def _accounts_csv(accounts: list[dict[str, Any]]) -> str:
    lines = ["account_id,first_name,last_name,email,phone,language,channels"]
    for a in accounts:
        fields = [a["account_id"], a["first_name"], a["last_name"], a["email"], a["phone"], a["language"]]
        lines.append(",".join([*fields, "|".join(a["channels"])]))
    return "\n".join(lines) + "\n"


def _expected_tag(language: str) -> str:
    return "[FR]" if language.startswith("fr") else "[EN]"


@pytest.mark.timeout(360)  # its own wait allows 300 s; the default 120 s is too short on a busy machine
def test_a_thousand_accounts_get_each_message_once_in_their_language(stack):
    accounts = _accounts()
    # The stack is shared with other tests: only what providers receive from here on counts.
    already = {kind: len(items) for kind, items in stack.received().items()}
    imported = stack.call(
        "POST", "/accounts/import", data=_accounts_csv(accounts), headers={"Content-Type": "text/csv"}
    )
    assert imported.status_code == 200, imported.text
    assert imported.json() == {"upserted": ACCOUNTS, "errors": []}

    created = stack.call(
        "POST",
        "/communications",
        json={
            "name": "Fibre upgrade",
            "channels": ["email", "sms"],
            "default_language": "en",
            "content": CONTENT,
        },
    )
    assert created.status_code == 201, created.text
    comm_id = created.json()["id"]

    audience_csv = "account_id\n" + "\n".join(a["account_id"] for a in accounts) + "\nnot-a-uuid\n"
    audience_csv += accounts[0]["account_id"] + "\n"
    audience = stack.call(
        "PUT", f"/communications/{comm_id}/audience", data=audience_csv, headers={"Content-Type": "text/csv"}
    )
    assert audience.status_code == 200, audience.text
    assert audience.json()["accepted"] == ACCOUNTS
    assert audience.json()["duplicates"] == 1
    assert audience.json()["errors"] == [{"line": ACCOUNTS + 2, "value": "not-a-uuid", "error": "not a UUID"}]

    started_at = time.monotonic()
    assert stack.call("POST", f"/communications/{comm_id}/send").status_code == 202
    assert stack.call("POST", f"/communications/{comm_id}/send").status_code == 202  # a double click
    detail = _wait_until_finished(stack, comm_id, timeout_s=300)
    elapsed = time.monotonic() - started_at
    print(
        f"\n{ACCOUNTS} accounts, {detail['counts']['messages_total']} messages: COMPLETED in {elapsed:.1f} s"
    )

    expected_emails = {a["email"]: _expected_tag(a["language"]) for a in accounts if "email" in a["channels"]}
    expected_sms = {
        a["phone"]: _expected_tag(a["language"]) for a in accounts if "sms" in a["channels"] and a["phone"]
    }
    no_phone = {a["account_id"] for a in accounts if "sms" in a["channels"] and not a["phone"]}

    received = {kind: items[already[kind] :] for kind, items in stack.received().items()}
    # Other tests of the session send through the same stack: this one's subjects are tagged.
    received["emails"] = [m for m in received["emails"] if m["subject"][:4] in ("[EN]", "[FR]")]
    email_counts = Counter(m["destinations"]["ToAddresses"][0] for m in received["emails"])
    assert set(email_counts) == set(expected_emails)
    assert set(email_counts.values()) == {1}
    for message in received["emails"]:
        assert message["subject"].startswith(expected_emails[message["destinations"]["ToAddresses"][0]])
    sms_counts = Counter(m["phone_number"] for m in received["sms"])
    assert set(sms_counts) == set(expected_sms)
    assert set(sms_counts.values()) == {1}
    for message in received["sms"]:
        assert message["message"].startswith(expected_sms[message["phone_number"]])

    counts = detail["counts"]
    assert detail["status"] == "COMPLETED"
    assert counts["messages_total"] == len(expected_emails) + len(expected_sms) + len(no_phone)
    assert counts["sent"] == len(expected_emails) + len(expected_sms)
    assert counts["skipped"] == len(no_phone)
    assert (counts["pending"], counts["send_failed"]) == (0, 0)
    assert detail["counts_by_channel"]["email"]["sent"] == len(expected_emails)
    assert detail["sent_pct"] == 100.0

    skipped = _all_messages(stack, comm_id, "status=SKIPPED")
    assert {m["account_id"] for m in skipped} == no_phone
    assert {m["skip_reason"] for m in skipped} == {"no_phone"}
    listed = stack.call("GET", "/communications").json()["items"]
    assert listed[0]["id"] == comm_id
    assert listed[0]["sent_by"]["last_name"] == "Hopper"


def _wait_until_finished(stack, comm_id: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        detail = stack.call("GET", f"/communications/{comm_id}").json()
        if detail["status"] not in ("IN_PROGRESS", "DRAFT"):
            return detail
        time.sleep(0.5)
    raise AssertionError(f"still {detail['status']} after {timeout_s} s: {detail['counts']}")


def _all_messages(stack, comm_id: str, query: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = stack.call("GET", f"/communications/{comm_id}/messages?limit=200&{query}{cursor}").json()
        items += page["items"]
        if not page["next_cursor"]:
            return items
        cursor = f"&cursor={page['next_cursor']}"
