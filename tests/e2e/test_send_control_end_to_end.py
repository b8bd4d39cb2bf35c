"""Pause, resume and cancel over HTTP, against the embedded stack (workers, sweep ticker and all)."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ACCOUNTS = 800


def _import_accounts(stack) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(ACCOUNTS)]
    lines = ["account_id,first_name,last_name,email,language,channels"]
    lines += [
        f"{account_id},Ctl{i},Person,ctl{i}@control.example,en,email" for i, account_id in enumerate(ids)
    ]
    response = stack.call(
        "POST", "/accounts/import", data="\n".join(lines) + "\n", headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 200 and response.json()["upserted"] == ACCOUNTS, response.text
    return ids


def _communication(stack, tag: str, account_ids: list[str]) -> str:
    body = {
        "name": f"Control {tag}",
        "channels": ["email"],
        "default_language": "en",
        "content": {
            "email": {"en": {"subject": f"[{tag}] Notice for {{{{ account.first_name }}}}", "text": "Hi"}}
        },
    }
    comm_id = stack.call("POST", "/communications", json=body).json()["id"]
    csv = "account_id\n" + "\n".join(account_ids) + "\n"
    response = stack.call(
        "PUT", f"/communications/{comm_id}/audience", data=csv, headers={"Content-Type": "text/csv"}
    )
    assert response.json()["accepted"] == ACCOUNTS
    return str(comm_id)


def _detail(stack, comm_id: str) -> dict[str, Any]:
    return dict(stack.call("GET", f"/communications/{comm_id}").json())


def _settled(stack, comm_id: str, timeout_s: float = 120, still_s: float = 4) -> dict[str, Any]:
    """Wait until the counts stop moving; return the communication."""
    deadline = time.monotonic() + timeout_s
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        detail = _detail(stack, comm_id)
        snapshot = (detail["status"], detail["counts"])
        if snapshot != last:
            last, since = snapshot, time.monotonic()
        elif time.monotonic() - since >= still_s:
            return detail
        time.sleep(0.5)
    raise AssertionError(f"still moving after {timeout_s} s: {last}")


def _finished(stack, comm_id: str, timeout_s: float = 180) -> dict[str, Any]:
    """Wait until nothing is pending and the status is final (however slow the machine)."""
    deadline = time.monotonic() + timeout_s
    detail = _detail(stack, comm_id)
    while time.monotonic() < deadline:
        detail = _detail(stack, comm_id)
        counts = detail["counts"]
        planned = counts["messages_total"] == ACCOUNTS
        if detail["status"] in ("COMPLETED", "FAILED", "CANCELLED") and planned and counts["pending"] == 0:
            return detail
        time.sleep(0.5)
    raise AssertionError(f"not finished after {timeout_s} s: {detail['status']} {detail['counts']}")


def _received(stack, tag: str) -> Counter[str]:
    emails = stack.received()["emails"]
    return Counter(m["destinations"]["ToAddresses"][0] for m in emails if m["subject"].startswith(f"[{tag}]"))


def test_pause_stops_sending_and_resume_finishes_without_duplicates_or_gaps(stack):
    account_ids = _import_accounts(stack)
    comm_id = _communication(stack, "PAUSE", account_ids)
    assert stack.call("POST", f"/communications/{comm_id}/send").status_code == 202
    paused = stack.call("POST", f"/communications/{comm_id}/pause")
    assert (paused.status_code, paused.json()["status"]) == (200, "PAUSED")

    detail = _settled(stack, comm_id)
    assert detail["status"] == "PAUSED"
    sent_while_paused = detail["counts"]["sent"]
    assert sent_while_paused < ACCOUNTS
    assert sum(_received(stack, "PAUSE").values()) == sent_while_paused

    resumed = stack.call("POST", f"/communications/{comm_id}/resume")
    assert (resumed.status_code, resumed.json()["status"]) == (200, "IN_PROGRESS")
    detail = _finished(stack, comm_id)
    assert detail["status"] == "COMPLETED"
    received = _received(stack, "PAUSE")
    assert len(received) == ACCOUNTS and set(received.values()) == {1}
    assert detail["counts"]["sent"] == ACCOUNTS


def test_cancel_stops_what_is_pending_and_keeps_the_counts_exact(stack):
    account_ids = _import_accounts(stack)
    comm_id = _communication(stack, "CANCEL", account_ids)
    assert stack.call("POST", f"/communications/{comm_id}/send").status_code == 202
    cancelled = stack.call("POST", f"/communications/{comm_id}/cancel")
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "CANCELLED")

    detail = _finished(stack, comm_id)
    counts = detail["counts"]
    assert detail["status"] == "CANCELLED"
    # On a fast machine every message may have gone out before the cancel: then none is cancelled,
    # but the counts must still be exact.
    assert counts["pending"] == 0
    assert counts["sent"] + counts["cancelled"] == counts["messages_total"] == ACCOUNTS
    received = _received(stack, "CANCEL")
    assert sum(received.values()) == counts["sent"] and set(received.values()) <= {1}
    assert stack.call("POST", f"/communications/{comm_id}/resume").status_code == 409
