"""Contact hours, deferral and expiry through the real handlers on moto, on simulated time.

The audience lives in several zones; the simulated clock stands at a Wednesday 14:00 UTC a week
or more ahead: open in Toronto, Paris and Kolkata, still night in Los Angeles (opens 08:00 local,
the same day) and in Auckland (already Thursday, opens 08:00 local).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.models import Channel, MessageStatus, iso, message_id_for
from chalicelib.domain.reconciliation import check_counts
from tests.integration.rig import Rig
from tests.support import CallHooks, WorkerCrash, sent_emails, sent_sms

pytestmark = pytest.mark.integration

WORKING_WEEK = {"start": "08:00", "end": "21:00", "days": ["mon", "tue", "wed", "thu", "fri", "sat"]}
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
AUCKLAND = ZoneInfo("Pacific/Auckland")


def wednesday_afternoon() -> datetime:
    day = datetime.now(UTC).date() + timedelta(days=7)
    while day.weekday() != 2:
        day += timedelta(days=1)
    return datetime.combine(day, time(14), UTC)


def eight_in_the_morning(zone: ZoneInfo, instant: datetime) -> datetime:
    """08:00 on the local day of `instant` in `zone` (the expected opening), in UTC."""
    local_day = instant.astimezone(zone).date()
    return datetime.combine(local_day, time(8), zone).astimezone(UTC)


class World:
    """Operator defaults, five accounts in five zones, and a rig whose clock stands at NOW."""

    def __init__(self, api, **rig_settings) -> None:
        self.api = api
        self.now = wednesday_afternoon()
        self.la_opens = eight_in_the_morning(LOS_ANGELES, self.now)
        self.auckland_opens = eight_in_the_morning(AUCKLAND, self.now)
        assert self.now < self.la_opens < self.auckland_opens
        saved = api.call(
            "put", "/settings", {"default_timezone": "America/Toronto", "contact_hours": WORKING_WEEK}
        )
        assert saved.status_code == 200, saved.body
        self.accounts = {
            "paris": api.put_account(
                email="paris@example.com", phone="+33612345678", timezone="Europe/Paris"
            ),
            "auckland": api.put_account(
                email="auckland@example.com", phone="+6421555010", timezone="Pacific/Auckland"
            ),
            "la": api.put_account(channels=["sms"], phone="+13105550142", timezone="America/Los_Angeles"),
            "toronto": api.put_account(channels=["email"], email="toronto@example.com"),  # operator's zone
            "kolkata": api.put_account(
                channels=["email"], email="kolkata@example.com", timezone="Asia/Kolkata"
            ),
        }
        rig_settings.setdefault("settings_cache_s", 0.0)
        self.rig = Rig(**rig_settings)
        self.rig.clock.t = self.now.timestamp()

    def communication(self, names: list[str] | None = None, **overrides) -> str:
        comm_id = self.api.create_communication(**overrides)
        ids = [self.accounts[n] for n in names or list(self.accounts)]
        assert self.api.set_audience(comm_id, ids).json["accepted"] == len(ids)
        return comm_id

    def send(self, comm_id: str) -> None:
        assert self.api.call("post", f"/communications/{comm_id}/send").status_code == 202
        self.rig.drain()

    def at(self, moment: datetime) -> dict[str, int]:
        """Time moves on to `moment`; the sweep runs, then the workers."""
        self.rig.clock.t = moment.timestamp()
        done = self.rig.sweep()
        self.rig.drain()
        return done

    def detail(self, comm_id: str) -> dict:
        return self.api.call("get", f"/communications/{comm_id}").json

    def messages(self, comm_id: str, query: str = "") -> list[dict]:
        return self.api.call("get", f"/communications/{comm_id}/messages?limit=200{query}").json["items"]

    def statuses(self, comm_id: str) -> Counter[tuple[str, str, str]]:
        names = {account_id: name for name, account_id in self.accounts.items()}
        return Counter((names[m["account_id"]], m["channel"], m["status"]) for m in self.messages(comm_id))

    def counts_match(self, comm_id: str) -> bool:
        return check_counts(self.rig.svc.ledger, self.rig.svc.message_store, comm_id).matches


def received() -> Counter[str]:
    emails = Counter(m.destinations["ToAddresses"][0] for m in sent_emails())
    return emails + Counter(phone for phone, _ in sent_sms())


EVERYONE = {
    "paris@example.com": 1,
    "+33612345678": 1,
    "auckland@example.com": 1,
    "+6421555010": 1,
    "+13105550142": 1,
    "toronto@example.com": 1,
    "kolkata@example.com": 1,
}
AWAKE = {
    k: v for k, v in EVERYONE.items() if k not in ("auckland@example.com", "+6421555010", "+13105550142")
}


def test_messages_outside_their_window_wait_and_go_exactly_once_when_it_opens(api, client):
    world = World(api)
    comm_id = world.communication()
    # WHEN it is sent on Wednesday afternoon UTC
    world.send(comm_id)
    # THEN the accounts whose window is open got their messages; the others are DEFERRED to
    # their own next opening, and nothing went to them early
    assert received() == Counter(AWAKE)
    deferred = {
        (m["account_id"], m["channel"]): m["deferred_until"]
        for m in world.messages(comm_id, "&status=DEFERRED")
    }
    assert deferred == {
        (world.accounts["auckland"], "email"): iso(world.auckland_opens),
        (world.accounts["auckland"], "sms"): iso(world.auckland_opens),
        (world.accounts["la"], "sms"): iso(world.la_opens),
    }
    detail = world.detail(comm_id)
    assert detail["status"] == "IN_PROGRESS"
    counts = detail["counts"]
    assert (counts["messages_total"], counts["sent"], counts["deferred"], counts["pending"]) == (7, 4, 3, 3)
    assert (detail["deferred_until"], detail["deferred_until_latest"]) == (
        iso(world.la_opens),
        iso(world.auckland_opens),
    )
    assert world.counts_match(comm_id)
    # AND the sweep before an opening changes nothing (nor does the watch complete it)
    assert "deferral_queued" not in world.at(world.la_opens - timedelta(minutes=1))
    assert received() == Counter(AWAKE)
    assert world.detail(comm_id)["status"] == "IN_PROGRESS"

    # WHEN Los Angeles wakes up
    assert world.at(world.la_opens + timedelta(seconds=30)).get("deferral_queued") == 1
    # THEN its SMS went, Auckland still waits
    assert received() == Counter({**AWAKE, "+13105550142": 1})
    detail = world.detail(comm_id)
    assert (detail["counts"]["deferred"], detail["deferred_until"]) == (2, iso(world.auckland_opens))

    # WHEN Auckland wakes up
    assert world.at(world.auckland_opens).get("deferral_queued") == 1
    # THEN everyone got each message exactly once and the communication completed
    assert received() == Counter(EVERYONE)
    detail = world.detail(comm_id)
    assert detail["status"] == "COMPLETED"
    counts = detail["counts"]
    assert (counts["sent"], counts["deferred"], counts["pending"]) == (7, 0, 0)
    assert (detail["deferred_until"], detail["deferred_until_latest"]) == (None, None)
    assert set(world.statuses(comm_id)) == {(n, c, "SENT") for n, c, _ in world.statuses(comm_id)}
    assert world.counts_match(comm_id)
    # AND later sweeps find nothing left to queue
    assert "deferral_queued" not in world.at(world.auckland_opens + timedelta(hours=1))
    assert received() == Counter(EVERYONE)


def test_a_deferral_queued_twice_sends_nothing_twice(api, client):
    world = World(api)
    comm_id = world.communication(["la", "auckland"])
    world.send(comm_id)
    assert received() == Counter()
    # WHEN both windows have opened and the sweep queues the two deferral tasks, then queues them
    # again when it looks back and finds they have not run yet, and SQS delivers a copy twice
    world.rig.clock.t = world.auckland_opens.timestamp()
    assert world.rig.sweep().get("deferral_queued") == 2
    assert "deferral_queued" not in world.rig.sweep()  # not due again yet
    assert world.rig.sweep(after_s=601).get("deferral_queued") == 2
    batch = world.rig.receive("send")
    assert len(batch) == 4
    world.rig.sqs.send_message(QueueUrl=world.rig.url("send"), MessageBody=batch[0]["Body"])
    world.rig.deliver("send", messages=batch)
    world.rig.drain()
    # AND the sweep looks at the deferrals again later
    world.at(world.auckland_opens + timedelta(hours=2))
    # THEN each message went out once
    assert received() == Counter({"auckland@example.com": 1, "+6421555010": 1, "+13105550142": 1})
    assert world.detail(comm_id)["status"] == "COMPLETED"
    assert world.counts_match(comm_id)


def test_a_worker_dying_mid_deferral_never_resends_and_the_rest_goes(api, client):
    # GIVEN Auckland's two messages deferred together, sent one at a time when the window opens
    world = World(api)
    comm_id = world.communication(["auckland"])
    world.send(comm_id)
    world.rig.svc.sender.policy.window = 1
    world.rig.clock.t = world.auckland_opens.timestamp()
    assert world.rig.sweep().get("deferral_queued") == 1
    # WHEN the worker dies right after the provider took the email
    hooks = CallHooks(world.rig.svc.sesv2)

    def crash(operation, params, parsed):
        raise WorkerCrash()

    hooks.after = crash
    with pytest.raises(WorkerCrash):
        world.rig.deliver("send")
    hooks.after = None
    assert received() == Counter({"auckland@example.com": 1})
    # AND its lease expires: the sweep rebuilds the deferral task and another worker takes over
    other = world.rig.container()
    world.rig.clock.advance(world.rig.settings.send_lease_s + 1)
    assert world.rig.sweep().get("lease_expired") == 1
    world.rig.deliver("send", other, world.rig.receive("send"))
    world.rig.drain(other)
    # THEN the email is in doubt (never resent), the SMS went once
    assert received() == Counter({"auckland@example.com": 1, "+6421555010": 1})
    email_id = message_id_for(comm_id, world.accounts["auckland"], Channel.EMAIL)
    assert world.rig.svc.message_store.get(comm_id, email_id).status is MessageStatus.UNKNOWN
    # AND once the reconciliation window ends without proof it is outcome_unknown; counts hold
    world.at(world.auckland_opens + timedelta(seconds=world.rig.settings.reconcile_window_s + 300))
    detail = world.detail(comm_id)
    counts = detail["counts"]
    assert (detail["status"], counts["sent"], counts["send_failed"], counts["deferred"]) == (
        "FAILED",
        1,
        1,
        0,
    )
    assert world.counts_match(comm_id)
    assert received() == Counter({"auckland@example.com": 1, "+6421555010": 1})


def test_urgent_communications_ignore_contact_hours(api, client):
    world = World(api)
    comm_id = world.communication(urgent=True)
    world.send(comm_id)
    assert received() == Counter(EVERYONE)
    detail = world.detail(comm_id)
    assert (detail["status"], detail["counts"]["deferred"]) == ("COMPLETED", 0)


def test_messages_that_cannot_go_before_the_expiry_are_skipped_as_expired(api, client):
    # GIVEN a communication that expires at 18:00 UTC: after LA's opening, before Auckland's
    world = World(api)
    expires_at = world.now.replace(hour=18)
    comm_id = world.communication(expires_at=iso(expires_at))
    world.send(comm_id)
    # THEN Auckland's messages are skipped at once (their window opens too late), LA's waits
    statuses = world.statuses(comm_id)
    assert statuses[("auckland", "email", "SKIPPED")] == 1 and statuses[("auckland", "sms", "SKIPPED")] == 1
    assert statuses[("la", "sms", "DEFERRED")] == 1
    skipped = world.messages(comm_id, "&status=SKIPPED")
    assert {(m["skip_reason"], m["error_code"]) for m in skipped} == {("expired", "expired")}
    # WHEN the sweep only comes round after the expiry (LA's opening was missed)
    world.at(expires_at + timedelta(minutes=5))
    # THEN LA's message is skipped as expired too: nothing went to the night owls
    assert received() == Counter(AWAKE)
    detail = world.detail(comm_id)
    counts = detail["counts"]
    assert (detail["status"], counts["sent"], counts["skipped"], counts["pending"]) == ("COMPLETED", 4, 3, 0)
    assert world.statuses(comm_id)[("la", "sms", "SKIPPED")] == 1
    assert world.counts_match(comm_id)


def test_messages_reached_after_the_expiry_are_skipped_at_send_time(api, client):
    world = World(api)
    comm_id = world.communication(["paris", "toronto"], expires_at=iso(world.now.replace(hour=15)))
    world.rig.clock.t = world.now.replace(hour=16).timestamp()  # the workers got to it late
    world.send(comm_id)
    assert received() == Counter()
    detail = world.detail(comm_id)
    assert (detail["status"], detail["counts"]["skipped"]) == ("COMPLETED", 3)
    assert {m["skip_reason"] for m in world.messages(comm_id)} == {"expired"}


def test_cancelling_turns_waiting_messages_cancelled_and_nothing_goes_later(api, client):
    world = World(api)
    comm_id = world.communication()
    world.send(comm_id)
    # WHEN it is cancelled while three messages wait for their window
    cancelled = api.call("post", f"/communications/{comm_id}/cancel")
    assert (cancelled.status_code, cancelled.json["status"]) == (200, "CANCELLED")
    world.rig.drain()
    # THEN they are CANCELLED at once
    detail = world.detail(comm_id)
    counts = detail["counts"]
    assert (counts["sent"], counts["cancelled"], counts["deferred"], counts["pending"]) == (4, 3, 0, 0)
    assert detail["deferred_until"] is None
    assert world.statuses(comm_id)[("auckland", "sms", "CANCELLED")] == 1
    # AND nothing goes when their windows open
    world.at(world.la_opens + timedelta(minutes=1))
    world.at(world.auckland_opens + timedelta(minutes=1))
    assert received() == Counter(AWAKE)
    assert world.counts_match(comm_id)


def test_a_pause_holds_waiting_messages_until_resumed(api, client):
    world = World(api)
    comm_id = world.communication(["la", "paris"])
    world.send(comm_id)
    assert api.call("post", f"/communications/{comm_id}/pause").json["status"] == "PAUSED"
    # WHEN LA's window opens while paused
    world.at(world.la_opens + timedelta(minutes=1))
    # THEN its message still waits
    assert received() == Counter({"paris@example.com": 1, "+33612345678": 1})
    assert world.detail(comm_id)["counts"]["pending"] == 1
    # WHEN resumed
    assert api.call("post", f"/communications/{comm_id}/resume").json["status"] == "IN_PROGRESS"
    world.rig.drain()
    # THEN it goes, once
    assert received() == Counter({"paris@example.com": 1, "+33612345678": 1, "+13105550142": 1})
    assert world.detail(comm_id)["status"] == "COMPLETED"
    assert world.counts_match(comm_id)


def test_accounts_take_their_time_zone_from_a_csv_import(api, client):
    csv = (
        "account_id,first_name,last_name,email,language,channels,timezone\n"
        "6f1c1b2e-3d4a-4b5c-8d9e-0f1a2b3c4d5e,Marie,Tremblay,marie@example.com,fr-CA,email,America/Toronto\n"
        "1d3c2b4a-5e6f-4a7b-8c9d-0e1f2a3b4c5d,Alan,Turing,alan@example.com,en,email,Mars/Olympus_Mons\n"
    )
    response = api.call("post", "/accounts/import", csv, {"Content-Type": "text/csv"})
    assert response.status_code == 200, response.body
    assert response.json["upserted"] == 1
    assert [e["line"] for e in response.json["errors"]] == [3]
    account = api.call("get", "/accounts/6f1c1b2e-3d4a-4b5c-8d9e-0f1a2b3c4d5e").json
    assert account["timezone"] == "America/Toronto"
