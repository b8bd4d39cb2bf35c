"""A large-audience flow over HTTP only: presigned upload to S3, import worker, filter, dry run, send."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from typing import Any

import pytest
import requests

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ACCOUNTS = 400
LANGUAGES = ["en", "fr", "fr-CA", "de"]
CONTENT = {
    "email": {
        "en": {
            "subject": "[EN] {{ communication.name }}",
            "html": "<p>Hi {{ account.first_name }}</p>",
            "text": "Hi",
        },
        "fr": {
            "subject": "[FR] {{ communication.name }}",
            "html": "<p>Salut {{ account.first_name }}</p>",
            "text": "Salut",
        },
    },
    "sms": {
        "en": {"body": "[EN] Hi {{ account.first_name }}"},
        "fr": {"body": "[FR] Salut {{ account.first_name }}"},
    },
}


def _accounts_csv(run: str) -> tuple[str, list[str]]:
    lines = ["account_id,first_name,last_name,email,phone,language,channels,segment"]
    ids = []
    for i in range(ACCOUNTS):
        account_id = str(uuid.uuid4())
        ids.append(account_id)
        phone = "" if i % 5 == 0 else f"+1438{2000000 + i:07d}"
        channels = ["email", "sms", "email|sms"][i % 3]
        segment = f"{run}-{'gold' if i % 2 else 'silver'}"
        fields = [
            account_id,
            f"P{i}",
            "Test",
            f"p{i}.{run}@example.com",
            phone,
            LANGUAGES[i % 4],
            channels,
            segment,
        ]
        lines.append(",".join(fields))
    return "\n".join(lines) + "\n", ids


def _wait_for_audience(stack, comm_id: str, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        audience = stack.call("GET", f"/communications/{comm_id}").json()["audience"]
        if audience["state"] in ("ready", "failed"):
            return audience
        time.sleep(0.3)
    raise AssertionError(f"audience still {audience}")


def _wait_until_finished(stack, comm_id: str, timeout_s: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        detail = stack.call("GET", f"/communications/{comm_id}").json()
        if detail["status"] not in ("IN_PROGRESS", "DRAFT"):
            return detail
        time.sleep(0.5)
    raise AssertionError(f"still {detail['status']}: {detail['counts']}")


def _messages(stack, comm_id: str) -> list[dict[str, Any]]:
    items, cursor = [], ""
    while True:
        page = stack.call("GET", f"/communications/{comm_id}/messages?limit=200{cursor}").json()
        items += page["items"]
        if not page["next_cursor"]:
            return items
        cursor = f"&cursor={page['next_cursor']}"


def test_an_uploaded_audience_is_imported_dry_run_and_sent_with_the_same_numbers(stack):
    run = uuid.uuid4().hex[:8]
    accounts_csv, ids = _accounts_csv(run)
    assert stack.call("POST", "/accounts/import", data=accounts_csv, headers={"Content-Type": "text/csv"}).ok
    created = stack.call(
        "POST",
        "/communications",
        json={
            "name": f"Upload {run}",
            "channels": ["email", "sms"],
            "default_language": "en",
            "content": CONTENT,
        },
    )
    comm_id = created.json()["id"]

    # The browser's part: a presigned form POST straight to S3 (moto), never through the API.
    ticket = stack.call("POST", f"/communications/{comm_id}/audience/upload-url")
    assert ticket.status_code == 201, ticket.text
    assert ticket.json()["url"].startswith(stack.moto_url)
    body = (
        "\ufeffaccount_id;note\r\n" + "".join(f"{i};x\r\n" for i in ids) + f"{ids[0]};dup\r\nnope;x\r\n"
    ).encode()
    uploaded = requests.post(
        ticket.json()["url"],
        data=ticket.json()["fields"],
        files={"file": ("audience.csv", body, "text/csv")},
        timeout=60,
    )
    assert uploaded.status_code == 204, uploaded.text
    audience = _wait_for_audience(stack, comm_id)
    assert audience["state"] == "ready", audience
    assert (audience["accepted"], audience["duplicates"], audience["rejected"]) == (ACCOUNTS, 1, 1)
    errors = stack.call("GET", audience["errors_url"], allow_redirects=False)
    assert errors.status_code == 302
    assert (
        requests.get(errors.headers["Location"], timeout=30).text.splitlines()[1]
        == f"{ACCOUNTS + 3},nope,not a UUID"
    )

    dry = stack.call("POST", f"/communications/{comm_id}/dry-run")
    assert dry.status_code == 200, dry.text
    dry = dry.json()
    assert stack.call("POST", f"/communications/{comm_id}/send").status_code == 202
    detail = _wait_until_finished(stack, comm_id)
    messages = _messages(stack, comm_id)
    assert detail["status"] == "COMPLETED"
    assert dry["messages_total"] == detail["counts"]["messages_total"] == len(messages)
    assert dry["skipped"] == dict(Counter(m["skip_reason"] for m in messages if m["status"] == "SKIPPED"))
    # Handed to a provider: SENT, or already DELIVERED / FAILED by the sandbox providers' reports.
    handed_over = ("SENT", "DELIVERED", "FAILED")
    assert dry["by_language"] == dict(Counter(m["language"] for m in messages if m["status"] in handed_over))
    assert dry["by_channel"] == {ch: c["messages_total"] for ch, c in detail["counts_by_channel"].items()}


def test_a_filter_audience_over_http(stack):
    run = uuid.uuid4().hex[:8]
    accounts_csv, _ = _accounts_csv(run)
    assert stack.call("POST", "/accounts/import", data=accounts_csv, headers={"Content-Type": "text/csv"}).ok
    created = stack.call(
        "POST",
        "/communications",
        json={"name": f"Filter {run}", "channels": ["sms"], "default_language": "en", "content": CONTENT},
    )
    comm_id = created.json()["id"]
    response = stack.call(
        "PUT", f"/communications/{comm_id}/audience", json={"filter": {"segment": [f"{run}-gold"]}}
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == ACCOUNTS // 2
    exported = stack.call("GET", f"/accounts/export.csv?segment={run}-gold")
    assert exported.status_code == 200
    assert len(exported.text.strip().splitlines()) == ACCOUNTS // 2 + 1
