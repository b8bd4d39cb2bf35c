"""Scheduling over HTTP and the schedule handler against moto: the index, once-only starts, cancel."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import boto3
import pytest

from chalicelib.domain.models import Page, iso
from chalicelib.domain.scheduling import Scheduler
from chalicelib.wiring import services
from chalicelib.workers import schedule as schedule_worker
from tests.integration.conftest import Api, drain, plan_queue_bodies, sent_emails, sent_sms, tick
from tests.integration.rig import Rig

pytestmark = pytest.mark.integration


def ready(api: Api, accounts: int = 2) -> str:
    comm_id = api.create_communication()
    ids = [api.put_account(email=f"p{i}@example.com", phone=f"+1514555{i:04d}") for i in range(accounts)]
    assert api.set_audience(comm_id, ids).status_code == 200
    return comm_id


def in_an_hour() -> str:
    return iso(datetime.now(UTC) + timedelta(hours=1)) or ""


def due_in_a_moment() -> tuple[str, float]:
    """A send time one to two seconds ahead, and the epoch second it falls on."""
    moment = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    return iso(moment) or "", moment.timestamp()


def wait_until(epoch_s: float) -> None:
    time.sleep(max(0.0, epoch_s - time.time()) + 0.05)


def test_scheduling_answers_the_scheduled_communication(api: Api) -> None:
    comm_id = ready(api)
    send_at = in_an_hour()
    response = api.call("post", f"/communications/{comm_id}/schedule", {"send_at": send_at})
    assert response.status_code == 200, response.body
    body = response.json
    assert body["status"] == "SCHEDULED"
    assert body["scheduled_at"] == send_at
    assert body["scheduled_by"] == {"id": "admin-1", "first_name": "Ada", "last_name": "Lovelace"}
    listed = api.call("get", "/communications").json["items"]
    assert [(c["id"], c["scheduled_at"]) for c in listed] == [(comm_id, send_at)]
    assert api.call("get", "/communications?status=SCHEDULED").json["items"][0]["id"] == comm_id


BAD_SEND_TIMES: list[tuple[Any, int]] = [
    ({"send_at": "2031-01-01T10:00:00"}, 422),  # naive: which 10 o'clock?
    ({"send_at": "2031-01-01"}, 422),
    ({"send_at": "next tuesday"}, 422),
    ({"send_at": "2001-01-01T10:00:00Z"}, 422),  # the past
    ({"send_at": "2099-01-01T10:00:00Z"}, 422),  # more than a year ahead
    ({"send_at": 1767261600}, 422),
    ({}, 422),
    ({"send_at": "2031-01-01T10:00:00Z", "extra": 1}, 422),
    ("not json", 400),
]


def test_a_bad_send_time_is_refused_and_changes_nothing(api: Api) -> None:
    comm_id = ready(api)
    for body, status in BAD_SEND_TIMES:
        response = api.call("post", f"/communications/{comm_id}/schedule", body)
        assert response.status_code == status, (body, response.body)
        assert response.json["error"]["code"] == "validation_error"
        if isinstance(body, dict) and list(body) == ["send_at"]:
            assert response.json["error"]["details"][0]["field"] == "send_at", body
    assert api.call("get", f"/communications/{comm_id}").json["status"] == "DRAFT"
    assert [e["action"] for e in api.call("get", f"/communications/{comm_id}/audit").json["items"]] == [
        "create",
        "audience",
    ]


def test_a_time_with_an_offset_is_taken_as_that_instant(api: Api) -> None:
    comm_id = ready(api)
    local = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    with_offset = local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + "+00:00"
    montreal = local.astimezone(UTC) - timedelta(hours=5)
    body = {"send_at": montreal.strftime("%Y-%m-%dT%H:%M:%S") + "-05:00"}
    response = api.call("post", f"/communications/{comm_id}/schedule", body)
    assert response.status_code == 200, response.body
    assert response.json["scheduled_at"] == iso(local)
    assert with_offset.startswith(response.json["scheduled_at"][:19])


def test_a_scheduled_communication_is_frozen_until_unscheduled(api: Api) -> None:
    comm_id = ready(api)
    api.call("post", f"/communications/{comm_id}/schedule", {"send_at": in_an_hour()})
    for method, path, body in [
        ("patch", f"/communications/{comm_id}", {"name": "Edited"}),
        ("delete", f"/communications/{comm_id}", None),
    ]:
        response = api.call(method, path, body)
        assert response.status_code == 409, path
        assert "unschedule" in response.json["error"]["message"]
    assert api.set_audience(comm_id, [api.put_account()]).status_code == 409
    unscheduled = api.call("post", f"/communications/{comm_id}/unschedule")
    assert unscheduled.status_code == 200
    assert (unscheduled.json["status"], unscheduled.json["scheduled_at"]) == ("DRAFT", None)
    assert api.call("patch", f"/communications/{comm_id}", {"name": "Edited"}).status_code == 200


def test_the_schedule_handler_starts_a_due_communication_once(api: Api, client: Any) -> None:
    # GIVEN a communication scheduled a moment ahead
    comm_id = ready(api)
    send_at, epoch = due_in_a_moment()
    assert api.call("post", f"/communications/{comm_id}/schedule", {"send_at": send_at}).status_code == 200
    # WHEN the handler runs before its time
    assert tick(client)["started"] == []
    assert plan_queue_bodies() == []
    # and after it, twice
    wait_until(epoch)
    first, second = tick(client), tick(client)
    # THEN it started on the first run only, with one planning task
    assert first["started"] == [comm_id] and second["started"] == []
    assert plan_queue_bodies() == [{"comm_id": comm_id, "first_chunk": 0}]
    detail = api.call("get", f"/communications/{comm_id}").json
    assert detail["status"] == "IN_PROGRESS"
    assert detail["sent_by"]["id"] == "admin-1"
    assert detail["scheduled_at"] == send_at
    # AND the workers send it
    drain(client)
    assert api.call("get", f"/communications/{comm_id}").json["status"] == "COMPLETED"
    assert len(sent_emails()) == 2


def test_two_overlapping_runs_against_dynamodb_queue_one_planning_task(api: Api) -> None:
    # GIVEN a due communication (its send time moved into the past, as the clock would)
    comm_id = ready(api)
    api.call("post", f"/communications/{comm_id}/schedule", {"send_at": in_an_hour()})
    now = datetime.now(UTC) + timedelta(hours=2)
    store = services().communication_store
    service = services().communications

    class Overlapping:
        """The real store, whose first due() lets a whole second run happen before returning."""

        def __init__(self) -> None:
            self.overlapped = False

        def due(self, at: datetime, cursor: str | None, limit: int) -> Page[str]:
            page: Page[str] = store.due(at, cursor, limit)
            if not self.overlapped:
                self.overlapped = True
                Scheduler(communications=store, service=service).run(at)
            return page

    # WHEN two runs work through it at once
    result = Scheduler(communications=Overlapping(), service=service).run(now)  # type: ignore[arg-type]
    # THEN one planning task was queued and one start recorded
    assert result.passed_over == [comm_id]
    assert plan_queue_bodies() == [{"comm_id": comm_id, "first_chunk": 0}]
    actions = [e["action"] for e in api.call("get", f"/communications/{comm_id}/audit").json["items"]]
    assert actions.count("start") == 1


def test_the_handler_finds_due_communications_through_the_index_never_a_scan(api: Api, client: Any) -> None:
    comm_ids = [ready(api, accounts=1) for _ in range(3)]
    for comm_id in comm_ids:
        api.call("post", f"/communications/{comm_id}/schedule", {"send_at": in_an_hour()})
    calls: list[tuple[str, dict[str, Any]]] = []
    dynamodb = services().dynamodb
    record = lambda params, model, **_: calls.append((model.name, params))  # noqa: E731
    dynamodb.meta.events.register("provide-client-params.dynamodb.*", record)
    try:
        tick(client)
    finally:
        dynamodb.meta.events.unregister("provide-client-params.dynamodb.*", record)
    operations = [name for name, _ in calls]
    assert "Scan" not in operations
    queries = [params for name, params in calls if name == "Query"]
    assert [q["IndexName"] for q in queries] == ["by_schedule"]
    # only scheduled communications are in the index, and only while scheduled
    table = boto3.client("dynamodb")
    index = table.scan(TableName=services().settings.communications_table, IndexName="by_schedule")
    assert sorted(item["comm_id"]["S"] for item in index["Items"]) == sorted(comm_ids)
    api.call("post", f"/communications/{comm_ids[0]}/unschedule")
    index = table.scan(TableName=services().settings.communications_table, IndexName="by_schedule")
    assert sorted(item["comm_id"]["S"] for item in index["Items"]) == sorted(comm_ids[1:])


def tick_at(client: Any, monkeypatch: pytest.MonkeyPatch, moment: datetime) -> dict[str, list[str]]:
    """One run of the schedule handler as if EventBridge's tick came at `moment`."""
    monkeypatch.setattr(schedule_worker, "utc_now", lambda: moment)
    return tick(client)


def test_a_scheduled_communication_started_by_the_tick_goes_out_once_like_one_sent_by_hand(
    api: Api, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a two-channel communication to three accounts, scheduled an hour ahead
    comm_id = ready(api, accounts=3)
    send_at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    api.call("post", f"/communications/{comm_id}/schedule", {"send_at": iso(send_at)})
    rig = Rig()
    # WHEN the tick comes a minute early, then at its time and once more after
    assert tick_at(client, monkeypatch, send_at - timedelta(minutes=1))["started"] == []
    rig.drain()
    assert sent_emails() == [] and sent_sms() == []
    assert tick_at(client, monkeypatch, send_at)["started"] == [comm_id]
    assert tick_at(client, monkeypatch, send_at + timedelta(minutes=1))["started"] == []
    # AND the workers and the sweep run
    rig.drain()
    rig.sweep(after_s=rig.settings.send_lease_s + 1)
    rig.drain()
    # THEN each account got its email and its SMS exactly once, in the scheduler's name
    assert sorted(m.destinations["ToAddresses"][0] for m in sent_emails()) == [
        f"p{i}@example.com" for i in range(3)
    ]
    assert sorted(phone for phone, _ in sent_sms()) == [f"+1514555{i:04d}" for i in range(3)]
    detail = api.call("get", f"/communications/{comm_id}").json
    assert (detail["status"], detail["counts"]["sent"], detail["counts"]["pending"]) == ("COMPLETED", 6, 0)
    assert (detail["counts_by_channel"]["email"]["sent"], detail["counts_by_channel"]["sms"]["sent"]) == (
        3,
        3,
    )
    assert detail["sent_by"]["id"] == "admin-1"
    assert detail["scheduled_at"] == iso(send_at)
    actions = [e["action"] for e in api.call("get", f"/communications/{comm_id}/audit").json["items"]]
    assert actions.count("start") == 1


def test_a_scheduled_communication_cancelled_before_its_time_never_sends(
    api: Api, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a scheduled communication
    comm_id = ready(api)
    send_at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    api.call("post", f"/communications/{comm_id}/schedule", {"send_at": iso(send_at)})
    # WHEN it is cancelled, and its time then comes, with the workers and the sweep running
    cancelled = api.call("post", f"/communications/{comm_id}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json["status"] == "CANCELLED" and cancelled.json["finished_at"]
    assert tick_at(client, monkeypatch, send_at + timedelta(minutes=1))["started"] == []
    assert plan_queue_bodies() == []
    rig = Rig()
    rig.drain()
    rig.sweep(after_s=rig.settings.send_lease_s + rig.settings.reconcile_window_s + 60)
    rig.drain()
    # THEN nothing was planned or sent, and it stays CANCELLED, its cancel audited
    assert sent_emails() == [] and sent_sms() == []
    assert api.call("get", f"/communications/{comm_id}/messages").json["items"] == []
    assert api.call("get", f"/communications/{comm_id}").json["status"] == "CANCELLED"
    audit = f"/communications/{comm_id}/audit"
    assert [e["action"] for e in api.call("get", audit).json["items"]][-1] == "cancel"
    # cancelling again is not an error and records nothing; cancelling a draft is a conflict
    assert api.call("post", f"/communications/{comm_id}/cancel").status_code == 200
    assert [e["action"] for e in api.call("get", audit).json["items"]].count("cancel") == 1
    assert api.call("get", f"/communications/{comm_id}").json["status"] == "CANCELLED"
    assert api.call("post", f"/communications/{ready(api)}/cancel").status_code == 409


def test_state_changes_on_an_unknown_communication_are_not_found(api: Api) -> None:
    missing = "5b0e4c1e-8f3a-4f55-9a55-0b7b7c0d1e2f"
    for action in ("schedule", "unschedule", "cancel", "approve", "withdraw"):
        body = {"send_at": in_an_hour()} if action == "schedule" else None
        response = api.call("post", f"/communications/{missing}/{action}", body)
        assert response.status_code == 404, action
    assert api.call("get", f"/communications/{missing}/audit").status_code == 404


def test_urgent_expiry_and_contact_hours_are_stored_validated_and_cleared(api: Api) -> None:
    # GIVEN an urgent outage notice that expires tomorrow morning, with its own contact window
    expires_at = (datetime.now(UTC) + timedelta(hours=12)).replace(microsecond=0)
    local = expires_at.astimezone(timezone(timedelta(hours=-5)))
    comm_id = api.create_communication(
        urgent=True,
        expires_at=local.isoformat(),
        contact_hours={"start": "07:30", "end": "22:00", "days": ["sun", "sat"]},
    )
    # THEN they read back, the expiry in UTC and the days in week order
    detail = api.call("get", f"/communications/{comm_id}").json
    assert detail["urgent"] is True
    assert detail["expires_at"] == iso(expires_at)
    assert detail["contact_hours"] == {"start": "07:30", "end": "22:00", "days": ["sat", "sun"]}
    # WHEN the admin clears the window and the expiry, leaving urgent as it is
    patched = api.call("patch", f"/communications/{comm_id}", {"contact_hours": None, "expires_at": None})
    assert patched.status_code == 200, patched.body
    assert (patched.json["contact_hours"], patched.json["expires_at"], patched.json["urgent"]) == (
        None,
        None,
        True,
    )
    # AND bad values are refused field by field without changing anything
    for body, field in [
        ({"expires_at": "2027-01-01T10:00:00"}, "expires_at"),
        ({"expires_at": "2001-01-01T10:00:00Z"}, "expires_at"),
        ({"urgent": "yes"}, "urgent"),
        ({"contact_hours": {"start": "22:00", "end": "07:30", "days": ["mon"]}}, "contact_hours"),
        ({"contact_hours": {"start": "07:30", "end": "22:00", "days": ["someday"]}}, "contact_hours.days.0"),
    ]:
        response = api.call("patch", f"/communications/{comm_id}", body)
        assert response.status_code == 422, (body, response.body)
        assert field in [d["field"] for d in response.json["error"]["details"]], body
    after = api.call("get", f"/communications/{comm_id}").json
    assert (after["urgent"], after["expires_at"], after["contact_hours"]) == (True, None, None)
    edits = [
        e for e in api.call("get", f"/communications/{comm_id}/audit").json["items"] if e["action"] == "edit"
    ]
    assert [e["details"]["fields"] for e in edits] == [["contact_hours", "expires_at"]]


def test_the_due_index_pages_on_after_the_first_page_was_started(api: Api) -> None:
    # GIVEN five scheduled communications, all due by a moment two hours on
    comm_ids = [ready(api, accounts=1) for _ in range(5)]
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    for i, comm_id in enumerate(comm_ids):
        send_at = iso(base + timedelta(seconds=i))
        assert (
            api.call("post", f"/communications/{comm_id}/schedule", {"send_at": send_at}).status_code == 200
        )
    store, service = services().communication_store, services().communications
    now = base + timedelta(hours=1)
    # WHEN a run reads a page of two and starts them, then asks for the next page
    first = store.due(now, None, 2)
    for comm_id in first.items:
        assert service.start_scheduled(comm_id, now) is not None
    rest = store.due(now, first.next_cursor, 10)
    # THEN it goes on with the third, earliest first, though the first two left the index
    assert first.items == comm_ids[:2]
    assert rest.items == comm_ids[2:] and rest.next_cursor is None
    assert store.due(now, None, 10).items == comm_ids[2:]
    # and the ones left are not due before their own time
    assert store.due(base + timedelta(seconds=1), None, 10).items == []
    assert store.due(base + timedelta(seconds=3), None, 10).items == comm_ids[2:4]
