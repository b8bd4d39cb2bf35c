"""Approval by a second admin and the audit trail, over HTTP against moto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.models import iso
from tests.integration.conftest import Api, drain, sent_emails
from tests.integration.rig import Rig

pytestmark = pytest.mark.integration

ADA = {"id": "admin-1", "first_name": "Ada", "last_name": "Lovelace"}
ALAN = {"id": "admin-2", "first_name": "Alan", "last_name": "Turing"}


@pytest.fixture
def reviewer(api: Api) -> Api:
    return api.as_admin("admin-2", "Alan", "Turing")


def ready(api: Api, accounts: int) -> str:
    comm_id = api.create_communication(channels=["email"])
    ids = [api.put_account(email=f"p{i}@example.com") for i in range(accounts)]
    api.set_audience(comm_id, ids)
    return comm_id


def test_a_large_send_waits_for_a_second_admin(api: Api, reviewer: Api, client: Any) -> None:
    # GIVEN sends to more than two accounts need approval
    assert api.call("put", "/settings", {"approval_threshold": 2}).status_code == 200
    comm_id = ready(api, accounts=3)
    # WHEN Ada sends it
    sent = api.call("post", f"/communications/{comm_id}/send")
    # THEN it waits for approval, and nothing goes out
    assert sent.status_code == 202
    assert sent.json["status"] == "PENDING_APPROVAL" and sent.json["sent_by"] == ADA
    drain(client)
    assert sent_emails() == []
    # WHEN Ada approves it herself
    own = api.call("post", f"/communications/{comm_id}/approve")
    # THEN it is forbidden
    assert own.status_code == 403
    assert own.json["error"]["code"] == "forbidden"
    assert "another admin" in own.json["error"]["message"]
    # WHEN Alan approves it
    approved = reviewer.call("post", f"/communications/{comm_id}/approve")
    # THEN it starts in Ada's name with Alan as approver, and goes out
    assert approved.status_code == 202, approved.body
    assert approved.json["status"] == "IN_PROGRESS"
    assert (approved.json["sent_by"], approved.json["approved_by"]) == (ADA, ALAN)
    assert approved.json["approved_at"] and approved.json["started_at"]
    drain(client)
    assert len(sent_emails()) == 3
    # approving again (a double click) is not an error; approving a finished one by someone else is
    assert reviewer.call("post", f"/communications/{comm_id}/approve").status_code == 202
    third = api.as_admin("admin-3", "Grace", "Hopper")
    assert third.call("post", f"/communications/{comm_id}/approve").status_code == 409


def test_nothing_goes_out_before_approval_whatever_the_workers_and_the_sweep_do(
    api: Api, client: Any
) -> None:
    # GIVEN a send waiting for approval
    api.call("put", "/settings", {"approval_threshold": 2})
    comm_id = ready(api, accounts=3)
    assert api.call("post", f"/communications/{comm_id}/send").json["status"] == "PENDING_APPROVAL"
    # WHEN the workers run, and the sweep long after
    rig = Rig()
    rig.drain()
    rig.sweep(after_s=rig.settings.send_lease_s + rig.settings.reconcile_window_s + 60)
    rig.drain()
    # THEN nothing was planned or sent, and it still waits
    assert sent_emails() == []
    assert (rig.depth("plan"), rig.depth("send")) == (0, 0)
    assert api.call("get", f"/communications/{comm_id}/messages").json["items"] == []
    detail = api.call("get", f"/communications/{comm_id}").json
    assert (detail["status"], detail["started_at"], detail["counts"]["sent"]) == ("PENDING_APPROVAL", None, 0)


def test_an_approved_send_goes_out_once_in_the_senders_name(api: Api, reviewer: Api, client: Any) -> None:
    # GIVEN a send waiting for approval
    api.call("put", "/settings", {"approval_threshold": 2})
    comm_id = ready(api, accounts=3)
    api.call("post", f"/communications/{comm_id}/send")
    # WHEN another admin approves it (twice: a double click)
    first = reviewer.call("post", f"/communications/{comm_id}/approve")
    again = reviewer.call("post", f"/communications/{comm_id}/approve")
    # THEN it is in progress, sent by the requester, approved by the reviewer, planned once
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json["status"] == again.json["status"] == "IN_PROGRESS"
    assert (first.json["sent_by"], first.json["approved_by"]) == (ADA, ALAN)
    rig = Rig()
    assert rig.depth("plan") == 1
    entries = api.call("get", f"/communications/{comm_id}/audit").json["items"]
    assert [(e["action"], e["actor"]["id"]) for e in entries].count(("approve", "admin-2")) == 1
    assert entries[-1]["details"]["to"] == "IN_PROGRESS"
    # AND the workers send each message once
    rig.drain()
    rig.sweep(after_s=rig.settings.send_lease_s + 1)
    rig.drain()
    received = sorted(m.destinations["ToAddresses"][0] for m in sent_emails())
    assert received == ["p0@example.com", "p1@example.com", "p2@example.com"]
    detail = api.call("get", f"/communications/{comm_id}").json
    assert (detail["status"], detail["counts"]["sent"], detail["counts"]["pending"]) == ("COMPLETED", 3, 0)
    assert (detail["sent_by"], detail["approved_by"]) == (ADA, ALAN)


def test_approving_a_draft_is_a_conflict_and_a_withdrawn_send_is_a_draft_again(
    api: Api, reviewer: Api
) -> None:
    api.call("put", "/settings", {"approval_threshold": 1})
    comm_id = ready(api, accounts=2)
    assert reviewer.call("post", f"/communications/{comm_id}/approve").status_code == 409
    api.call("post", f"/communications/{comm_id}/send")
    withdrawn = api.call("post", f"/communications/{comm_id}/withdraw")
    assert withdrawn.status_code == 200
    assert (withdrawn.json["status"], withdrawn.json["sent_by"]) == ("DRAFT", None)
    assert api.call("patch", f"/communications/{comm_id}", {"name": "Fewer people"}).status_code == 200
    assert api.call("post", f"/communications/{comm_id}/withdraw").status_code == 200
    assert reviewer.call("post", f"/communications/{comm_id}/approve").status_code == 409


def test_the_audit_trail_lists_every_action_with_its_actor_oldest_first(api: Api, reviewer: Api) -> None:
    api.call("put", "/settings", {"approval_threshold": 1})
    comm_id = ready(api, accounts=2)
    api.call("patch", f"/communications/{comm_id}", {"name": "Outage tonight", "wizard_step": "review"})
    send_at = iso(datetime.now(UTC) + timedelta(hours=1))
    api.call("post", f"/communications/{comm_id}/schedule", {"send_at": send_at})
    api.call("post", f"/communications/{comm_id}/unschedule")
    api.call("post", f"/communications/{comm_id}/send")
    reviewer.call("post", f"/communications/{comm_id}/approve")

    response = api.call("get", f"/communications/{comm_id}/audit")
    assert response.status_code == 200
    items = response.json["items"]
    assert [(e["action"], e["actor"]["id"]) for e in items] == [
        ("create", "admin-1"),
        ("audience", "admin-1"),
        ("edit", "admin-1"),
        ("schedule", "admin-1"),
        ("unschedule", "admin-1"),
        ("send", "admin-1"),
        ("approve", "admin-2"),
    ]
    assert items[0]["actor"] == ADA
    assert items[2]["details"] == {"fields": ["name"]}
    assert items[3]["details"]["send_at"] == send_at
    assert items[6]["details"]["from"] == "PENDING_APPROVAL" and items[6]["details"]["to"] == "IN_PROGRESS"
    stamps = [e["at"] for e in items]
    assert stamps == sorted(stamps) and all(s.endswith("Z") for s in stamps)
    assert response.json["next_cursor"] is None

    first = api.call("get", f"/communications/{comm_id}/audit?limit=3").json
    second = api.call("get", f"/communications/{comm_id}/audit?limit=3&cursor={first['next_cursor']}").json
    assert [e["action"] for e in first["items"] + second["items"]] == [e["action"] for e in items[:6]]
    assert api.call("get", f"/communications/{comm_id}/audit?cursor=garbage").status_code == 400


def test_a_deleted_drafts_trail_is_kept(api: Api) -> None:
    comm_id = api.create_communication()
    assert api.call("delete", f"/communications/{comm_id}").status_code == 204
    assert api.call("get", f"/communications/{comm_id}").status_code == 404
    items = api.call("get", f"/communications/{comm_id}/audit").json["items"]
    assert [e["action"] for e in items] == ["create", "delete"]
