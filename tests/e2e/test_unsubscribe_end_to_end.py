"""One-click unsubscribe on the embedded stack, over HTTP only: the link in the email SES took is
posted as a mail client would, and the next send to that address is skipped."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import requests

from tests.e2e.conftest import RunningStack

pytestmark = [pytest.mark.e2e]

CONTENT = {"email": {"en": {"subject": "Our autumn offers", "html": "<p>Offers</p>", "text": "Offers"}}}


def _send(stack: RunningStack, account_id: str, transactional: bool) -> str:
    created = stack.call(
        "post",
        "/communications",
        json={
            "name": f"Offers {uuid.uuid4().hex[:6]}",
            "channels": ["email"],
            "default_language": "en",
            "content": CONTENT,
            "transactional": transactional,
        },
    )
    assert created.status_code == 201, created.text
    comm_id = str(created.json()["id"])
    audience = stack.call(
        "put",
        f"/communications/{comm_id}/audience",
        data=f"account_id\n{account_id}\n",
        headers={"Content-Type": "text/csv"},
    )
    assert audience.json()["accepted"] == 1
    assert stack.call("post", f"/communications/{comm_id}/send").status_code == 202
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        detail: dict[str, Any] = stack.call("get", f"/communications/{comm_id}").json()
        if detail["status"] in ("COMPLETED", "FAILED"):
            return comm_id
        time.sleep(0.2)
    raise AssertionError(f"{comm_id} did not finish")


def test_a_mail_clients_one_click_post_unsubscribes(stack: RunningStack) -> None:
    address = f"reader-{uuid.uuid4().hex[:8]}@example.com"
    account_id = str(uuid.uuid4())
    put = stack.call(
        "put",
        f"/accounts/{account_id}",
        json={
            "first_name": "Rea",
            "last_name": "Der",
            "email": address,
            "language": "en",
            "channels": ["email"],
        },
    )
    assert put.status_code == 201, put.text
    _send(stack, account_id, transactional=False)

    (sent,) = [m for m in stack.sandbox_received()["ses"] if m["to"] == address]
    link = sent["headers"]["List-Unsubscribe"].strip("<>")
    assert link.startswith(f"{stack.api_url}/unsubscribe?token=")
    assert sent["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # Opening the link (a scanner) changes nothing; the one-click POST (no sign-in) unsubscribes
    assert requests.get(link, timeout=30).status_code == 200
    answer = requests.post(
        link,
        data="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    listed = stack.call("get", "/suppressions?channel=email&limit=200").json()["items"]
    assert [s["reason"] for s in listed if s["address"] == address] == ["unsubscribed"]

    later = _send(stack, account_id, transactional=True)
    (message,) = stack.call("get", f"/communications/{later}/messages").json()["items"]
    assert message["skip_reason"] == "suppressed"
