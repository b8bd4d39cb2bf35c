"""Exactly once through the real handlers on moto: crashes, redeliveries, takeovers, provider
errors by class, and the settling of messages in doubt."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from chalicelib.domain.models import message_id_for
from chalicelib.domain.reconciliation import check_counts
from chalicelib.settings import Settings
from chalicelib.wiring import Services
from tests.integration.rig import Rig
from tests.support import (
    CallHooks,
    WorkerCrash,
    connection_refused,
    error_response,
    read_timeout,
    sent_emails,
)

pytestmark = pytest.mark.integration


def _emails_to(api, count: int) -> tuple[str, list[str]]:
    """An email-only communication to `count` accounts: person0@… first in the order they are sent."""
    accounts = [api.put_account(channels=["email"], language="en") for _ in range(count)]
    comm_id = api.create_communication(channels=["email"])
    assert api.set_audience(comm_id, accounts).json["accepted"] == count
    # The audience is stored in its own order (not the file's): name the accounts in that order.
    in_order = Services(Settings()).audience_store.chunk(comm_id, 0)
    assert in_order is not None and sorted(in_order) == sorted(accounts)
    for i, account_id in enumerate(in_order):
        api.put_account(
            account_id=account_id, channels=["email"], email=f"person{i}@example.com", language="en"
        )
    assert api.call("post", f"/communications/{comm_id}/send").status_code == 202
    return comm_id, in_order


def _received() -> Counter[str]:
    return Counter(m.destinations["ToAddresses"][0] for m in sent_emails())


def _messages(api, comm_id: str, query: str = "") -> list[dict]:
    return api.call("get", f"/communications/{comm_id}/messages?limit=200{query}").json["items"]


def test_a_worker_that_dies_mid_window_never_resends_and_its_window_settles(api, client):
    # GIVEN six emails, a window of two in flight at a time, and a worker that dies right
    # after the provider took its second email
    rig = Rig(send_window=2)
    comm_id, accounts = _emails_to(api, 6)
    rig.deliver("plan")
    hooks, taken = CallHooks(rig.svc.sesv2), []

    def crash_on_second(operation, params, parsed):
        taken.append(params)
        if len(taken) == 2:
            raise WorkerCrash()

    hooks.after = crash_on_second
    with pytest.raises(WorkerCrash):
        rig.deliver("send")
    assert _received() == Counter({"person0@example.com": 1, "person1@example.com": 1})

    # WHEN SQS delivers the task again while the dead worker's lease still runs: dropped
    other = rig.container()
    rig.deliver("send", other, rig.again("send", rig.receive("send") or []))
    assert sum(_received().values()) == 2
    # AND once the lease expired, the sweep queues the task again and another worker takes over
    assert rig.sweep(after_s=rig.settings.send_lease_s + 1).get("lease_expired") == 1
    rig.deliver("send", other)

    # THEN every email reached the provider exactly once: the dead worker's window is in doubt,
    # the rest went out
    assert _received() == Counter({f"person{i}@example.com": 1 for i in range(6)})
    in_doubt = {m["account_id"]: m for m in _messages(api, comm_id, "&status=UNKNOWN")}
    assert set(in_doubt) == set(accounts[:2])
    assert api.call("get", f"/communications/{comm_id}").json["status"] == "IN_PROGRESS"

    # WHEN SES reports the first one (its event carries Herald's tags)...
    first = next(p for p in taken if p["Destination"]["ToAddresses"][0] == "person0@example.com")
    tags = {t["Name"]: t["Value"] for t in first["EmailTags"]}
    assert rig.svc.reconciler.reconcile_from_event(
        tags["herald_comm_id"],
        tags["herald_message_id"],
        "ses-id-0",
        provider="ses",
        account_id=tags["herald_account_id"],
        channel=tags["herald_channel"],
    )
    # ...and nothing ever proves the second: it ends outcome_unknown when its window closes
    assert rig.sweep(after_s=rig.settings.reconcile_window_s + 1)["outcome_unknown"] == 1

    by_account = {m["account_id"]: m for m in _messages(api, comm_id)}
    assert (by_account[accounts[0]]["status"], by_account[accounts[0]]["provider_message_id"]) == (
        "SENT",
        "ses-id-0",
    )
    unknown = by_account[accounts[1]]
    assert (unknown["status"], unknown["error_code"]) == ("SEND_FAILED", "outcome_unknown")
    assert "not resent" in unknown["error"]
    detail = api.call("get", f"/communications/{comm_id}").json
    assert detail["status"] == "FAILED"
    assert (detail["counts"]["sent"], detail["counts"]["send_failed"], detail["counts"]["pending"]) == (
        5,
        1,
        0,
    )
    assert check_counts(rig.svc.ledger, rig.svc.message_store, comm_id).matches
    # A proof arriving after the window still sets the record straight
    assert rig.svc.reconciler.reconcile_from_event(comm_id, unknown["id"], "ses-id-1")
    assert api.call("get", f"/communications/{comm_id}").json["counts"]["sent"] == 6
    assert check_counts(rig.svc.ledger, rig.svc.message_store, comm_id).matches


def _stall_past_the_lease_at_the_second_call(rig: Rig) -> None:
    """Plan, then send the task with a worker that, at its second provider call, stalls past its
    lease while SQS hands the same task to a second worker (which sends what it may)."""
    rig.deliver("plan")
    hooks, second = CallHooks(rig.svc.sesv2), rig.container()
    batch: list[dict] = []
    calls: list[str] = []
    lock = threading.Lock()

    def stall_then_redeliver(operation, params):
        with lock:
            calls.append(params["Destination"]["ToAddresses"][0])
            if len(calls) == 2:
                rig.clock.advance(rig.settings.send_lease_s + 1)
                rig.deliver("send", second, rig.again("send", batch))

    hooks.before = stall_then_redeliver
    batch.extend(rig.receive("send"))
    rig.deliver("send", messages=batch)


def test_an_owner_stalled_past_its_lease_stops_before_sending_again(api, client):
    # GIVEN a worker making one provider call at a time that stalls (a long GC pause, a slow
    # network) past its lease mid-window, while SQS hands the same task to a second worker
    rig = Rig(send_window=3, send_concurrency=1)
    comm_id, accounts = _emails_to(api, 7)
    _stall_past_the_lease_at_the_second_call(rig)

    # THEN nothing went out twice: the second worker took the stalled window [0, 3) over (in
    # doubt) and sent the rest; the stalled worker finished the call it was in, stopped before
    # its third message, and what it knew it had sent was recorded SENT straight away
    assert _received() == Counter({f"person{i}@example.com": 1 for i in (0, 1, 3, 4, 5, 6)})
    by_account = {m["account_id"]: m["status"] for m in _messages(api, comm_id)}
    assert by_account == {account: "UNKNOWN" if i == 2 else "SENT" for i, account in enumerate(accounts)}
    rig.sweep(after_s=rig.settings.reconcile_window_s + 1)
    assert api.call("get", f"/communications/{comm_id}").json["status"] == "FAILED"
    assert check_counts(rig.svc.ledger, rig.svc.message_store, comm_id).matches


def test_an_owner_stalled_with_calls_in_flight_never_sends_twice(api, client):
    # GIVEN a worker with its window's three provider calls in flight at once, stalled past its
    # lease in one of them while SQS hands the same task to a second worker
    rig = Rig(send_window=3, send_concurrency=3)
    comm_id, accounts = _emails_to(api, 7)
    _stall_past_the_lease_at_the_second_call(rig)

    # THEN nobody got an email twice: the second worker took the stalled window [0, 3) over in
    # doubt and sent the rest; of the window, what the stalled worker knew it sent is SENT, and
    # a call that saw the lease gone did not go
    received = _received()
    assert set(received.values()) == {1}
    assert {f"person{i}@example.com" for i in (0, 1, 3, 4, 5, 6)} <= set(received)
    by_account = {m["account_id"]: m["status"] for m in _messages(api, comm_id)}
    assert all(by_account[account] == "SENT" for account in accounts[3:])
    assert all(by_account[account] in ("SENT", "UNKNOWN") for account in accounts[:3])
    rig.sweep(after_s=rig.settings.reconcile_window_s + 1)
    counts = api.call("get", f"/communications/{comm_id}").json["counts"]
    assert counts["sent"] == len(received)
    assert counts["sent"] + counts["send_failed"] == 7
    assert check_counts(rig.svc.ledger, rig.svc.message_store, comm_id).matches


def test_a_read_timeout_after_the_provider_took_it_is_in_doubt_until_its_event(api, client):
    rig = Rig()
    comm_id, accounts = _emails_to(api, 3)
    hooks = CallHooks(rig.svc.sesv2)
    seen: dict[str, dict] = {}

    def lose_the_answer_for_the_second(operation, params, parsed):
        to = params["Destination"]["ToAddresses"][0]
        seen[to] = parsed
        if to == "person1@example.com":
            raise read_timeout()

    hooks.after = lose_the_answer_for_the_second
    rig.drain()
    assert set(_received().values()) == {1} and len(_received()) == 3
    doubtful = _messages(api, comm_id, "&status=UNKNOWN")
    assert [m["account_id"] for m in doubtful] == [accounts[1]]
    assert "in doubt" in doubtful[0]["error"]
    assert api.call("get", f"/communications/{comm_id}").json["counts"]["pending"] == 1
    # SES's event proves it: SENT, and the communication completes
    ses_id = seen["person1@example.com"]["MessageId"]
    assert rig.svc.reconciler.reconcile_from_event(comm_id, doubtful[0]["id"], ses_id)
    assert not rig.svc.reconciler.reconcile_from_event(comm_id, doubtful[0]["id"], ses_id)
    detail = api.call("get", f"/communications/{comm_id}").json
    assert (detail["status"], detail["counts"]["sent"]) == ("COMPLETED", 3)


def test_provider_errors_are_retried_or_not_by_what_they_prove(api, client):
    # GIVEN SES that throttles twice, refuses one connection, is down (503) for one address and
    # refuses another for good
    rig = Rig(send_attempts=3)
    comm_id, accounts = _emails_to(api, 5)
    attempts: Counter[str] = Counter()

    def misbehave(operation, params):
        to = params["Destination"]["ToAddresses"][0]
        attempts[to] += 1
        if to == "person0@example.com" and attempts[to] <= 2:
            return error_response("TooManyRequestsException", "Maximum sending rate exceeded.", 429)
        if to == "person1@example.com" and attempts[to] == 1:
            raise connection_refused()
        if to == "person2@example.com":
            return error_response("ServiceUnavailable", "Service is unavailable.", 503)
        if to == "person3@example.com":
            return error_response("MessageRejected", "Email address is not verified.", 400)
        return None

    CallHooks(rig.svc.sesv2).before = misbehave
    rig.drain()
    by_account = {m["account_id"]: m for m in _messages(api, comm_id)}
    # Throttled: waited and tried again, not a failure. Connection refused: retried.
    assert by_account[accounts[0]]["status"] == "SENT" and attempts["person0@example.com"] == 3
    assert by_account[accounts[1]]["status"] == "SENT" and attempts["person1@example.com"] == 2
    # 5xx: a bounded number of attempts, then SEND_FAILED with what SES said
    down = by_account[accounts[2]]
    assert (down["status"], down["error_code"], attempts["person2@example.com"]) == (
        "SEND_FAILED",
        "retries_exhausted",
        3,
    )
    assert down["error"] == "SES ServiceUnavailable: Service is unavailable. (gave up after 3 attempts)"
    # Permanent: at once
    refused = by_account[accounts[3]]
    assert (refused["status"], refused["error_code"], attempts["person3@example.com"]) == (
        "SEND_FAILED",
        "provider_rejected",
        1,
    )
    assert refused["error"] == "SES MessageRejected: Email address is not verified."
    assert rig.svc.rate_limiter.store.fleet_rate("ses").rate == 500  # the throttle lowered the ceiling
    assert api.call("get", f"/communications/{comm_id}").json["status"] == "FAILED"


def test_a_worker_out_of_time_hands_the_rest_back_instead_of_failing(api, client):
    # GIVEN a provider that throttles every call, and a worker with little time left
    rig = Rig(handback_margin_s=30)
    comm_id, _ = _emails_to(api, 3)
    rig.deliver("plan")
    hooks = CallHooks(rig.svc.sesv2)
    hooks.before = lambda operation, params: error_response("Throttling", "Rate exceeded", 429)
    rig.deliver("send", timeout_s=60)
    # THEN nothing failed: the task went back to the queue where it stood
    assert _received() == Counter()
    assert _messages(api, comm_id) == []
    assert rig.depth("send") == 1
    assert len(rig.delays) == 1 and rig.delays[0] > 0  # back after the backoff
    # AND once the provider recovers, the next delivery sends everything, once
    hooks.before = None
    rig.drain()
    assert set(_received().values()) == {1} and len(_received()) == 3
    assert api.call("get", f"/communications/{comm_id}").json["status"] == "COMPLETED"


def test_a_message_held_back_by_throttling_while_later_ones_went_is_deferred_then_sent_once(api, client):
    # GIVEN a worker with its window's three calls in flight at once and little time left, and
    # SES throttling every call to the window's first address while the others go through
    rig = Rig(send_window=3, send_concurrency=3, handback_margin_s=30)
    comm_id, accounts = _emails_to(api, 3)
    rig.deliver("plan")
    hooks = CallHooks(rig.svc.sesv2)

    def throttle_the_first(operation, params):
        if params["Destination"]["ToAddresses"][0] == "person0@example.com":
            return error_response("Throttling", "Rate exceeded", 429)
        return None

    hooks.before = throttle_the_first
    rig.deliver("send", timeout_s=60)
    # THEN the other two went, and the first waits, DEFERRED, for the throttling to pass
    assert _received() == Counter({"person1@example.com": 1, "person2@example.com": 1})
    deferred = [m for m in _messages(api, comm_id) if m["status"] == "DEFERRED"]
    assert [m["account_id"] for m in deferred] == [accounts[0]]
    assert "throttling" in deferred[0]["error"]
    detail = api.call("get", f"/communications/{comm_id}").json
    assert (detail["status"], detail["counts"]["sent"], detail["counts"]["deferred"]) == ("IN_PROGRESS", 2, 1)
    assert rig.depth("send") == 0
    # AND once SES recovers, the sweep queues it when due and it goes once
    hooks.before = None
    assert rig.sweep(after_s=60).get("deferral_queued") == 1
    rig.drain()
    assert _received() == Counter({f"person{i}@example.com": 1 for i in range(3)})
    detail = api.call("get", f"/communications/{comm_id}").json
    assert (detail["status"], detail["counts"]["sent"], detail["counts"]["deferred"]) == ("COMPLETED", 3, 0)
    assert check_counts(rig.svc.ledger, rig.svc.message_store, comm_id).matches


def test_a_storage_write_failing_past_the_sdk_retries_is_tried_again(api, client):
    rig = Rig()
    comm_id, _ = _emails_to(api, 4)
    rig.deliver("plan")
    failures: Counter[str] = Counter()

    def throttle_first_writes(operation, params):
        if operation in ("BatchWriteItem", "TransactWriteItems") and failures[operation] < 1:
            failures[operation] += 1
            return error_response("ProvisionedThroughputExceededException", "Throughput exceeded", 400)
        return None

    CallHooks(rig.svc.dynamodb).before = throttle_first_writes
    rig.drain()
    assert failures == Counter({"BatchWriteItem": 1, "TransactWriteItems": 1})
    assert set(_received().values()) == {1} and len(_received()) == 4
    assert api.call("get", f"/communications/{comm_id}").json["status"] == "COMPLETED"


def test_tags_let_a_provider_event_find_its_message(api, client):
    rig = Rig()
    hooks, tags = CallHooks(rig.svc.sesv2), []
    hooks.after = lambda operation, params, parsed: tags.append(params["EmailTags"])
    comm_id, accounts = _emails_to(api, 1)
    rig.drain()
    expected_id = message_id_for(comm_id, accounts[0], "email")  # type: ignore[arg-type]
    assert {t["Name"]: t["Value"] for t in tags[0]} == {
        "herald_comm_id": comm_id,
        "herald_message_id": expected_id,
        "herald_account_id": accounts[0],
        "herald_channel": "email",
    }


def _storing_records_two_at_a_time(svc: Services) -> Services:
    svc.sender.policy.record_batch = 2
    return svc


def test_a_windows_records_are_stored_while_its_other_calls_are_in_flight(api, client):
    # GIVEN six emails in one window, three provider calls at a time, records stored two at a time
    rig = Rig(send_window=6, send_concurrency=3)
    _storing_records_two_at_a_time(rig.svc)
    comm_id, accounts = _emails_to(api, 6)
    rig.deliver("plan")
    hooks, stored_before_last_call = CallHooks(rig.svc.sesv2), []

    def at_the_last_call(operation, params):
        if params["Destination"]["ToAddresses"][0] == "person5@example.com":
            # The records of calls that returned are on their way to the table, not held back
            # until the whole window is back.
            deadline = time.monotonic() + 5
            while not _messages(api, comm_id) and time.monotonic() < deadline:
                time.sleep(0.01)
            stored_before_last_call.append(len(_messages(api, comm_id)))

    hooks.before = at_the_last_call
    rig.deliver("send")
    # THEN some were stored before the window's last call went, and in the end each email went once
    # and is recorded once
    assert stored_before_last_call and stored_before_last_call[0] >= 2
    assert _received() == Counter({f"person{i}@example.com": 1 for i in range(6)})
    assert sorted(m["account_id"] for m in _messages(api, comm_id)) == sorted(accounts)
    assert api.call("get", f"/communications/{comm_id}").json["counts"]["sent"] == 6


def test_a_worker_that_dies_after_storing_part_of_its_window_is_counted_once(api, client):
    # GIVEN nine emails, a window of six with three calls at a time and records stored two at a
    # time as calls return, and a worker that dies when the provider took its fifth email (the
    # window's other calls go on, and some of their records are stored before the window's end)
    rig = Rig(send_window=6, send_concurrency=3)
    _storing_records_two_at_a_time(rig.svc)
    comm_id, accounts = _emails_to(api, 9)
    rig.deliver("plan")
    hooks = CallHooks(rig.svc.sesv2)

    def crash_at_the_fifth(operation, params, parsed):
        if params["Destination"]["ToAddresses"][0] == "person4@example.com":
            raise WorkerCrash()

    hooks.after = crash_at_the_fifth
    with pytest.raises(WorkerCrash):
        rig.deliver("send")
    stored = {m["account_id"]: m["status"] for m in _messages(api, comm_id)}
    assert len(stored) >= 2 and set(stored.values()) == {"SENT"}

    # WHEN the lease expires and another worker takes the task over
    assert rig.sweep(after_s=rig.settings.send_lease_s + 1).get("lease_expired") == 1
    rig.deliver("send", _storing_records_two_at_a_time(rig.container()))

    # THEN nothing went twice; the records stored before the crash stay SENT and are counted once,
    # the rest of the dead worker's window is in doubt until its deadline
    assert _received() == Counter({f"person{i}@example.com": 1 for i in range(9)})
    by_account = {m["account_id"]: m["status"] for m in _messages(api, comm_id)}
    assert all(by_account[account] == "SENT" for account in stored)
    assert all(by_account[account] == "SENT" for account in accounts[6:])
    in_doubt = [a for a in accounts[:6] if a not in stored]
    assert all(by_account[account] == "UNKNOWN" for account in in_doubt)
    rig.sweep(after_s=rig.settings.reconcile_window_s + 1)
    counts = api.call("get", f"/communications/{comm_id}").json["counts"]
    assert counts["sent"] == 9 - len(in_doubt)
    assert counts["sent"] + counts["send_failed"] == 9
    assert check_counts(rig.svc.ledger, rig.svc.message_store, comm_id).matches
