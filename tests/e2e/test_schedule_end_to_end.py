"""A scheduled communication through the embedded stack: HTTP in, the ticker starts it, moto out."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CONTENT = {
    "email": {
        "en": {"subject": "Maintenance at 2 am", "html": "<p>Hi {{ account.first_name }}</p>", "text": "Hi"}
    },
    "sms": {"en": {"body": "Maintenance at 2 am, {{ account.first_name }}"}},
}


def _draft_for(stack: Any, accounts: int, tag: str) -> tuple[str, list[str]]:
    emails = [f"{tag}-{i}-{uuid.uuid4().hex[:6]}@example.com" for i in range(accounts)]
    ids = []
    for i, email in enumerate(emails):
        account_id = str(uuid.uuid4())
        body = {
            "first_name": f"P{i}",
            "last_name": "Q",
            "email": email,
            "language": "en",
            "channels": ["email"],
        }
        assert stack.call("PUT", f"/accounts/{account_id}", json=body).status_code == 201
        ids.append(account_id)
    created = stack.call(
        "POST",
        "/communications",
        json={
            "name": f"Scheduled {tag}",
            "channels": ["email"],
            "default_language": "en",
            "content": CONTENT,
        },
    )
    comm_id = created.json()["id"]
    audience = "account_id\n" + "\n".join(ids) + "\n"
    response = stack.call(
        "PUT", f"/communications/{comm_id}/audience", data=audience, headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    return comm_id, emails


def _wait_for_status(stack: Any, comm_id: str, wanted: set[str], timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        detail: dict[str, Any] = stack.call("GET", f"/communications/{comm_id}").json()
        if detail["status"] in wanted:
            return detail
        time.sleep(0.3)
    raise AssertionError(f"{comm_id} still {detail['status']} after {timeout_s} s")


def _emails_to(stack: Any, addresses: list[str]) -> list[str]:
    wanted = set(addresses)
    return [
        m["destinations"]["ToAddresses"][0]
        for m in stack.received()["emails"]
        if m["destinations"]["ToAddresses"][0] in wanted
    ]


def test_the_ticker_starts_a_scheduled_communication_which_then_goes_out(stack):
    # GIVEN a ready communication scheduled three seconds ahead
    comm_id, emails = _draft_for(stack, accounts=3, tag="scheduled")
    send_at = (datetime.now(UTC) + timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    scheduled = stack.call("POST", f"/communications/{comm_id}/schedule", json={"send_at": send_at})
    assert scheduled.status_code == 200, scheduled.text
    assert scheduled.json()["status"] == "SCHEDULED"
    # THEN it waits for its time
    assert stack.call("GET", f"/communications/{comm_id}").json()["status"] == "SCHEDULED"
    assert _emails_to(stack, emails) == []
    # and the stack's ticker starts it, and it completes, each email sent once
    detail = _wait_for_status(stack, comm_id, {"COMPLETED", "FAILED"}, timeout_s=60)
    assert detail["status"] == "COMPLETED"
    assert detail["started_at"] >= send_at
    assert detail["scheduled_at"] == send_at
    assert detail["sent_by"]["last_name"] == "Hopper"
    assert sorted(_emails_to(stack, emails)) == sorted(emails)
    audit = stack.call("GET", f"/communications/{comm_id}/audit").json()["items"]
    assert [e["action"] for e in audit] == ["create", "audience", "schedule", "start"]
    assert audit[-1]["actor"]["first_name"] == "Herald"


def test_a_scheduled_communication_cancelled_before_its_time_never_goes_out(stack):
    comm_id, emails = _draft_for(stack, accounts=2, tag="cancelled")
    send_at = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    stack.call("POST", f"/communications/{comm_id}/schedule", json={"send_at": send_at})
    assert stack.call("POST", f"/communications/{comm_id}/cancel").json()["status"] == "CANCELLED"
    time.sleep(4)  # past its time, through several ticks
    assert stack.call("GET", f"/communications/{comm_id}").json()["status"] == "CANCELLED"
    assert _emails_to(stack, emails) == []


def test_a_send_above_the_threshold_goes_out_once_a_second_admin_approves(stack):
    reviewer = stack.as_admin("e2e-reviewer", "Alan", "Turing")
    assert stack.call("PUT", "/settings", json={"approval_threshold": 1}).status_code == 200
    try:
        comm_id, emails = _draft_for(stack, accounts=2, tag="approval")
        assert stack.call("POST", f"/communications/{comm_id}/send").json()["status"] == "PENDING_APPROVAL"
        assert stack.call("POST", f"/communications/{comm_id}/approve").status_code == 403
        time.sleep(1)
        assert _emails_to(stack, emails) == []
        approved = reviewer.call("POST", f"/communications/{comm_id}/approve")
        assert approved.status_code == 202, approved.text
        detail = _wait_for_status(stack, comm_id, {"COMPLETED", "FAILED"}, timeout_s=60)
        assert detail["status"] == "COMPLETED"
        assert detail["approved_by"]["last_name"] == "Turing"
        assert sorted(_emails_to(stack, emails)) == sorted(emails)
    finally:
        stack.call("PUT", "/settings", json={"approval_threshold": None})
