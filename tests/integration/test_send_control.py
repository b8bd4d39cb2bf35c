"""Cancel, pause and resume while sending; urgent and bulk lanes; fair planning; the sweep."""

from __future__ import annotations

import threading
from collections import Counter

import boto3
import pytest

from chalicelib.adapters.queue import send_task_from_body
from chalicelib.domain.models import Admin
from chalicelib.domain.reconciliation import check_counts
from chalicelib.ops import counts as counts_tool
from chalicelib.ops import dlq
from chalicelib.settings import get_settings
from chalicelib.wiring import services
from tests.integration.rig import Rig
from tests.support import CallHooks, WorkerCrash, sent_emails

pytestmark = pytest.mark.integration


def _communication(api, count: int, **overrides) -> tuple[str, list[str]]:
    accounts = [api.put_account(channels=["email"], email=f"person{i}@example.com") for i in range(count)]
    comm_id = api.create_communication(channels=["email"], **overrides)
    api.set_audience(comm_id, accounts)
    return comm_id, accounts


def _received() -> Counter[str]:
    return Counter(m.destinations["ToAddresses"][0] for m in sent_emails())


def _detail(api, comm_id: str) -> dict:
    return api.call("get", f"/communications/{comm_id}").json


def test_cancel_stops_pending_messages_and_in_flight_ones_finish(api, client):
    # GIVEN a communication of three tasks, one of which went out
    rig = Rig(send_task_size=2)
    comm_id, _ = _communication(api, 6)
    api.call("post", f"/communications/{comm_id}/send")
    rig.deliver("plan")
    rig.deliver("send", count=1)
    assert sum(_received().values()) == 2
    # WHEN an admin cancels it
    cancelled = api.call("post", f"/communications/{comm_id}/cancel")
    assert (cancelled.status_code, cancelled.json["status"]) == (200, "CANCELLED")
    assert cancelled.json["finished_at"]
    rig.drain()
    # THEN no other message went out, and every pending one is recorded CANCELLED
    assert sum(_received().values()) == 2
    counts = _detail(api, comm_id)["counts"]
    assert (counts["messages_total"], counts["sent"], counts["cancelled"], counts["pending"]) == (6, 2, 4, 0)
    assert _detail(api, comm_id)["sent_pct"] == 100.0
    statuses = Counter(
        m["status"] for m in api.call("get", f"/communications/{comm_id}/messages").json["items"]
    )
    assert statuses == Counter({"SENT": 2, "CANCELLED": 4})
    # AND it is final: asking again changes nothing; pausing or resuming it is a conflict
    assert api.call("post", f"/communications/{comm_id}/cancel").status_code == 200
    for action in ("pause", "resume", "send"):
        response = api.call("post", f"/communications/{comm_id}/{action}")
        assert response.status_code == 409, action
        assert response.json["error"]["code"] == "conflict"
    assert check_counts(rig.svc.ledger, rig.svc.message_store, comm_id).matches


def test_only_sending_or_scheduled_communications_can_be_cancelled(api, client):
    draft, _ = _communication(api, 1)
    response = api.call("post", f"/communications/{draft}/cancel")
    assert (response.status_code, response.json["error"]["code"]) == (409, "conflict")
    assert api.call("post", f"/communications/{draft}/pause").status_code == 409
    assert api.call("post", f"/communications/{draft}/resume").status_code == 409
    assert api.call("post", "/communications/6d0e1a5c-9a57-4d0f-9f6e-1d8a3c2b4e5f/cancel").status_code == 404
    assert _detail(api, draft)["status"] == "DRAFT"


def test_pause_then_resume_carries_on_exactly_where_it_stopped(api, client):
    # GIVEN two tasks of four emails, windows of two
    rig = Rig(send_task_size=4, send_window=2)
    comm_id, _ = _communication(api, 8)
    api.call("post", f"/communications/{comm_id}/send")
    rig.deliver("plan")
    hooks, taken = CallHooks(rig.svc.sesv2), []

    def pause_after_the_third(operation, params, parsed):
        taken.append(params)
        if len(taken) == 3:
            assert api.call("post", f"/communications/{comm_id}/pause").json["status"] == "PAUSED"

    hooks.after = pause_after_the_third
    # WHEN it is paused mid-task, the window in flight finishes (its two calls were made
    # together), then the workers stop sending and park both tasks
    rig.deliver("send", count=1)
    rig.deliver("send", count=1)
    assert sum(_received().values()) == 4
    assert rig.depth("send") == 0
    detail = _detail(api, comm_id)
    assert (detail["status"], detail["counts"]["sent"], detail["counts"]["pending"]) == ("PAUSED", 4, 4)
    assert api.call("post", f"/communications/{comm_id}/pause").status_code == 200  # again: no change
    # AND nothing moves while paused, whatever the sweep finds
    rig.sweep(after_s=600)
    rig.drain()
    assert sum(_received().values()) == 4
    # WHEN resumed
    resumed = api.call("post", f"/communications/{comm_id}/resume")
    assert (resumed.status_code, resumed.json["status"]) == (200, "IN_PROGRESS")
    rig.drain()
    # THEN the rest went out: no duplicate, no gap
    assert _received() == Counter({f"person{i}@example.com": 1 for i in range(8)})
    detail = _detail(api, comm_id)
    assert (detail["status"], detail["counts"]["sent"]) == ("COMPLETED", 8)
    assert check_counts(rig.svc.ledger, rig.svc.message_store, comm_id).matches


def test_an_urgent_communication_does_not_wait_behind_a_bulk_one(api, client):
    # GIVEN a bulk communication already queued, then an urgent one
    rig = Rig(send_task_size=1)
    bulk, _ = _communication(api, 5)
    urgent, _ = _communication(api, 2, urgent=True)
    assert _detail(api, urgent)["urgent"] is True
    api.call("post", f"/communications/{bulk}/send")
    rig.deliver("plan")
    api.call("post", f"/communications/{urgent}/send")
    rig.deliver("plan")
    # THEN its tasks are on the urgent lane, which its own consumer works through
    assert rig.depth("urgent-send") == 2 and rig.depth("send") == 5
    rig.deliver("urgent-send")
    assert _detail(api, urgent)["status"] == "COMPLETED"
    assert _detail(api, bulk)["status"] == "IN_PROGRESS"
    assert rig.depth("send") == 5


@pytest.fixture
def audience_chunks_of_two(monkeypatch):
    monkeypatch.setenv("HERALD_AUDIENCE_CHUNK_SIZE", "2")
    get_settings.cache_clear()
    services.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
    services.cache_clear()


def test_two_communications_share_the_workers_instead_of_one_after_the_other(
    api, client, audience_chunks_of_two
):
    # GIVEN two communications of ten tasks each (audiences kept in chunks of two accounts);
    # at most two tasks of each are queued ahead
    rig = Rig(send_task_size=1, audience_chunk_size=2, planner_window_tasks=2)
    first, _ = _communication(api, 10)
    second_accounts = [api.put_account(channels=["email"], email=f"other{i}@example.com") for i in range(10)]
    second = api.create_communication(channels=["email"])
    api.set_audience(second, second_accounts)
    for comm_id in (first, second):
        api.call("post", f"/communications/{comm_id}/send")
        rig.deliver("plan")
    # WHEN the workers take tasks as they come
    order, most_queued = [], 0
    for _ in range(60):
        most_queued = max(most_queued, rig.depth("send"))
        batch = rig.deliver("send", count=1)
        order += [send_task_from_body(m["Body"]).comm_id for m in batch]
        rig.deliver("plan")
        if not batch and not rig.depth("plan"):
            break
    # THEN both went out, interleaved, and the queue never held a whole audience
    assert _detail(api, first)["status"] == _detail(api, second)["status"] == "COMPLETED"
    assert Counter(order) == Counter({first: 10, second: 10})
    assert set(order[:6]) == {first, second}
    assert most_queued <= 6


def test_the_sweep_queues_planning_again_when_it_never_started(api, client):
    # GIVEN a send whose planning task was lost right after the status moved
    rig = Rig()
    comm_id, _ = _communication(api, 3)
    api.call("post", f"/communications/{comm_id}/send")
    boto3.client("sqs").purge_queue(QueueUrl=rig.url("plan"))
    rig.drain()
    assert _detail(api, comm_id)["status"] == "IN_PROGRESS"
    # WHEN the sweep finds it stalled
    rig.sweep(after_s=rig.settings.plan_stall_s + 60)
    rig.drain()
    # THEN it was planned and sent
    assert _detail(api, comm_id)["status"] == "COMPLETED"
    assert sum(_received().values()) == 3


def test_the_sweep_finishes_a_communication_whose_finish_was_cut_short(api, client):
    rig = Rig()
    comm_id, _ = _communication(api, 2)
    api.call("post", f"/communications/{comm_id}/send")
    hooks = CallHooks(rig.svc.dynamodb)

    def die_while_finishing(operation, params):
        if operation == "UpdateItem" and ":expected_status" in params.get("ExpressionAttributeValues", {}):
            raise WorkerCrash()

    hooks.before = die_while_finishing
    rig.deliver("plan")
    with pytest.raises(WorkerCrash):
        rig.deliver("send")
    hooks.before = None
    detail = _detail(api, comm_id)
    assert (detail["status"], detail["counts"]["pending"]) == ("IN_PROGRESS", 0)
    rig.sweep(after_s=rig.settings.watch_interval_s * 5)
    assert _detail(api, comm_id)["status"] == "COMPLETED"


def test_two_admins_sending_at_once_start_it_once(api, client, monkeypatch):
    comm_id, _ = _communication(api, 2)
    # DynamoDB applies each conditional write atomically; moto's in-process backend does not
    # between threads, so its writes are serialised here the way DynamoDB serialises them.
    store = services().communication_store
    atomic, update_item = threading.Lock(), store._client.update_item

    def atomic_update_item(**kwargs):
        with atomic:
            return update_item(**kwargs)

    monkeypatch.setattr(store._client, "update_item", atomic_update_item)
    admins = [Admin(f"admin-{i}", "Admin", str(i), can_write=True) for i in range(4)]
    barrier = threading.Barrier(len(admins))
    results = []

    def send(admin: Admin) -> None:
        barrier.wait()
        results.append(services().communications.send(comm_id, by=admin))

    threads = [threading.Thread(target=send, args=(admin,)) for admin in admins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rig = Rig()
    assert rig.depth("plan") == 1
    sent_by = _detail(api, comm_id)["sent_by"]["id"]
    assert {r.status for r in results} == {"IN_PROGRESS"}
    assert sent_by in {a.id for a in admins}
    rig.drain()
    assert sum(_received().values()) == 2


def test_a_poison_task_lands_in_the_dlq_where_the_operator_sees_and_redrives_it(api, client, capsys):
    rig = Rig()
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=rig.url("send"), MessageBody='{"comm_id": "x"}')
    for _ in range(6):
        rig.deliver("send")
    queues = {q.source: q for q in dlq.dead_letter_queues(sqs, rig.settings)}
    assert {name: q.depth for name, q in queues.items()} == {
        "plan": 0,
        "send": 1,
        "urgent-send": 0,
        "events": 0,
        "event-files": 0,
    }
    [message] = dlq.peek(sqs, queues["send"])
    assert message["receives"] >= 1 and "unexpected" in message["what"]
    assert dlq.main(["list"]) == 0
    assert "herald-dev-send-dlq" in capsys.readouterr().out
    assert dlq.main(["show", "send"]) == 0
    assert message["message_id"] in capsys.readouterr().out
    assert dlq.main(["redrive", "send"]) == 0
    assert "moved 1 message" in capsys.readouterr().out
    assert rig.depth("send") == 1 and dlq.dead_letter_queues(sqs, rig.settings)[1].depth == 0


def test_counters_are_checked_and_rebuilt_from_the_records(api, client, capsys):
    rig = Rig()
    comm_id, _ = _communication(api, 3)
    api.call("post", f"/communications/{comm_id}/send")
    rig.drain()
    assert counts_tool.main([comm_id]) == 0
    # Counters knocked out of line (by hand, or by a bug) are found and put right
    rig.svc.dynamodb.update_item(
        TableName=rig.settings.audiences_table,
        Key={"comm_id": {"S": comm_id}, "sk": {"S": "counts"}},
        UpdateExpression="SET cnt_email_sent = :wrong",
        ExpressionAttributeValues={":wrong": {"N": "7"}},
    )
    assert counts_tool.main([comm_id]) == 1
    assert "differs" in capsys.readouterr().out
    assert counts_tool.main([comm_id, "--repair"]) == 0
    assert _detail(api, comm_id)["counts"]["sent"] == 3
    assert counts_tool.main([comm_id]) == 0


def test_the_openapi_document_lists_the_control_routes(client):
    paths = client.http.get("/openapi.json").json_body["paths"]
    for action in ("cancel", "pause", "resume"):
        assert "post" in paths[f"/communications/{{comm_id}}/{action}"]


def test_pause_resume_and_cancel_are_in_the_audit_trail(api, client):
    # GIVEN a communication sending
    rig = Rig(send_task_size=2)
    comm_id, _ = _communication(api, 4)
    api.call("post", f"/communications/{comm_id}/send")
    rig.deliver("plan")
    # WHEN an admin pauses, resumes, then cancels it (asking twice for the pause)
    for action in ("pause", "pause", "resume", "cancel"):
        assert api.call("post", f"/communications/{comm_id}/{action}").status_code == 200, action
    rig.drain()
    # THEN each change is recorded once, with who and the statuses moved from and to
    entries = api.call("get", f"/communications/{comm_id}/audit").json["items"]
    moves = [(e["action"], e["details"].get("from"), e["details"].get("to")) for e in entries[-3:]]
    assert moves == [
        ("pause", "IN_PROGRESS", "PAUSED"),
        ("resume", "PAUSED", "IN_PROGRESS"),
        ("cancel", "IN_PROGRESS", "CANCELLED"),
    ]
    assert {e["actor"]["id"] for e in entries[-3:]} == {entries[0]["actor"]["id"]}
