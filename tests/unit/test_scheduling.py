"""Scheduled communications: scheduling rules, the schedule run that starts them once, and cancel."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from chalicelib.domain.audiences import AudienceService
from chalicelib.domain.communications import CommunicationService, DraftFields
from chalicelib.domain.errors import Conflict, ValidationError
from chalicelib.domain.models import (
    SCHEDULER,
    Admin,
    CommunicationStatus,
    Content,
    EmailContent,
    Page,
    SmsContent,
    communication_audit_subject,
    utc_now,
)
from chalicelib.domain.scheduling import Scheduler
from tests.unit.conftest import DraftMaker
from tests.unit.fakes import (
    FakeAccountDirectory,
    FakeAuditLog,
    FakeCommunicationStore,
    FakeWorkQueue,
)

pytestmark = pytest.mark.unit

S = CommunicationStatus
ReadyMaker = Callable[..., str]


@pytest.fixture
def make_ready(
    make_draft: DraftMaker,
    service: CommunicationService,
    audience: AudienceService,
    directory: FakeAccountDirectory,
    admin: Admin,
) -> ReadyMaker:
    """A draft with bilingual content and an audience of `size` accounts, ready to send."""

    def make(size: int = 1, **draft_options: object) -> str:
        draft = make_draft(**draft_options)
        ids = [
            directory.add(email=f"person{i}@example.com", phone=f"+1514555{i:04d}").account_id
            for i in range(size)
        ]
        audience.set_from_csv(draft.comm_id, "account_id\n" + "\n".join(ids) + "\n", by=admin)
        return draft.comm_id

    return make


def in_an_hour() -> datetime:
    return (utc_now() + timedelta(hours=1)).replace(microsecond=0)


# --- scheduling ------------------------------------------------------------------------------


def test_scheduling_freezes_a_ready_draft_until_its_time(
    make_ready: ReadyMaker, service: CommunicationService, queue: FakeWorkQueue, admin: Admin
) -> None:
    # GIVEN a draft ready to send
    comm_id = make_ready()
    send_at = in_an_hour()
    # WHEN the admin schedules it for an hour from now
    scheduled = service.schedule(comm_id, send_at, by=admin)
    # THEN it is SCHEDULED for that time, by them, and nothing is queued yet
    stored = service.get(comm_id)
    assert scheduled.status is stored.status is S.SCHEDULED
    assert stored.send_at == send_at
    assert stored.scheduled_by is not None and stored.scheduled_by.to_api() == admin.to_api()
    assert queue.planning_enqueued == 0
    assert stored.to_api()["scheduled_at"] == send_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert stored.to_api(detail=True)["scheduled_by"] == admin.to_api()


def test_a_time_given_in_another_zone_is_the_same_instant(
    make_ready: ReadyMaker, service: CommunicationService, admin: Admin
) -> None:
    comm_id = make_ready()
    montreal = timezone(timedelta(hours=-5))
    local = in_an_hour().astimezone(montreal)
    service.schedule(comm_id, local, by=admin)
    stored = service.get(comm_id)
    assert stored.send_at == local.astimezone(UTC)


@pytest.mark.parametrize(
    "offset", [timedelta(seconds=-1), timedelta(0), timedelta(days=-3), timedelta(days=400)]
)
def test_a_send_time_not_in_the_coming_year_is_refused(
    make_ready: ReadyMaker,
    service: CommunicationService,
    admin: Admin,
    audit: FakeAuditLog,
    offset: timedelta,
) -> None:
    # GIVEN a ready draft
    comm_id = make_ready()
    # WHEN it is scheduled for now, the past, or more than a year ahead
    with pytest.raises(ValidationError) as raised:
        service.schedule(comm_id, utc_now() + offset, by=admin)
    # THEN it is a 422 naming send_at, and it stays an editable draft
    assert raised.value.status == 422
    assert [d["field"] for d in raised.value.details] == ["send_at"]
    assert service.get(comm_id).status is S.DRAFT
    assert "schedule" not in audit.actions(communication_audit_subject(comm_id))


def test_scheduling_runs_the_same_checks_as_sending(
    make_draft: DraftMaker,
    service: CommunicationService,
    audience: AudienceService,
    directory: FakeAccountDirectory,
    admin: Admin,
) -> None:
    # GIVEN a draft without an audience, and one without SMS content in its default language
    empty = make_draft()
    content = Content(email={"fr": EmailContent("Panne", "Panne", "Panne")}, sms={"en": SmsContent("Outage")})
    untranslated = make_draft(default_language="fr", content=content)
    audience.set_from_csv(untranslated.comm_id, "account_id\n" + directory.add().account_id + "\n", by=admin)
    # WHEN they are scheduled
    # THEN each is refused with what is missing
    with pytest.raises(ValidationError) as no_audience:
        service.schedule(empty.comm_id, in_an_hour(), by=admin)
    with pytest.raises(ValidationError) as no_content:
        service.schedule(untranslated.comm_id, in_an_hour(), by=admin)
    assert [d["field"] for d in no_audience.value.details] == ["audience"]
    assert [d["field"] for d in no_content.value.details] == ["content.sms.fr"]


def test_a_communication_expiring_before_its_send_time_cannot_be_scheduled(
    make_ready: ReadyMaker, service: CommunicationService, admin: Admin
) -> None:
    comm_id = make_ready()
    service.update_draft(comm_id, DraftFields(expires_at=utc_now() + timedelta(minutes=30)), by=admin)
    with pytest.raises(ValidationError) as raised:
        service.schedule(comm_id, in_an_hour(), by=admin)
    assert [d["field"] for d in raised.value.details] == ["expires_at"]


def test_scheduling_again_for_the_same_time_acts_once_and_another_time_is_a_conflict(
    make_ready: ReadyMaker, service: CommunicationService, admin: Admin, audit: FakeAuditLog
) -> None:
    comm_id = make_ready()
    send_at = in_an_hour()
    service.schedule(comm_id, send_at, by=admin)
    # a double click
    again = service.schedule(comm_id, send_at, by=admin)
    assert again.status is S.SCHEDULED and again.send_at == send_at
    assert audit.actions(communication_audit_subject(comm_id)).count("schedule") == 1
    # another time needs unscheduling first
    with pytest.raises(Conflict) as raised:
        service.schedule(comm_id, send_at + timedelta(hours=1), by=admin)
    assert "unschedule" in raised.value.message
    assert service.get(comm_id).send_at == send_at


def test_a_scheduled_communication_is_frozen_until_unscheduled(
    make_ready: ReadyMaker,
    service: CommunicationService,
    audience: AudienceService,
    directory: FakeAccountDirectory,
    admin: Admin,
) -> None:
    # GIVEN a scheduled communication
    comm_id = make_ready()
    service.schedule(comm_id, in_an_hour(), by=admin)
    # WHEN the admin edits it, replaces its audience or deletes it
    # THEN each is a conflict that says to unschedule first
    for attempt in (
        lambda: service.update_draft(comm_id, DraftFields(name="Edited"), by=admin),
        lambda: audience.set_from_csv(comm_id, "account_id\n" + directory.add().account_id + "\n", by=admin),
        lambda: service.delete_draft(comm_id, by=admin),
    ):
        with pytest.raises(Conflict) as raised:
            attempt()
        assert "unschedule" in raised.value.message
    # WHEN it is unscheduled
    draft = service.unschedule(comm_id, by=admin)
    # THEN it is a draft again, without a send time, and editable
    assert draft.status is S.DRAFT and draft.send_at is None and draft.scheduled_by is None
    service.update_draft(comm_id, DraftFields(name="Edited"), by=admin)
    assert service.get(comm_id).name == "Edited"
    # and unscheduling it again changes nothing
    assert service.unschedule(comm_id, by=admin).status is S.DRAFT


@pytest.mark.parametrize("status", [S.IN_PROGRESS, S.COMPLETED, S.CANCELLED, S.PENDING_APPROVAL])
def test_only_a_scheduled_communication_can_be_unscheduled(
    make_ready: ReadyMaker,
    service: CommunicationService,
    store: FakeCommunicationStore,
    admin: Admin,
    status: S,
) -> None:
    comm_id = make_ready()
    store.force_status(comm_id, status)
    with pytest.raises(Conflict):
        service.unschedule(comm_id, by=admin)
    assert service.get(comm_id).status is status


# --- the schedule run ------------------------------------------------------------------------


def test_the_run_starts_a_communication_at_its_time_and_only_once(
    make_ready: ReadyMaker,
    service: CommunicationService,
    scheduler: Scheduler,
    queue: FakeWorkQueue,
    audit: FakeAuditLog,
    admin: Admin,
) -> None:
    # GIVEN a communication scheduled for 14:03:20
    comm_id = make_ready()
    send_at = in_an_hour()
    service.schedule(comm_id, send_at, by=admin)
    # WHEN the run ticks the second before
    early = scheduler.run(send_at - timedelta(seconds=1))
    # THEN nothing starts
    assert early.started == [] and service.get(comm_id).status is S.SCHEDULED
    # WHEN it ticks at its time, then again a minute later
    on_time = scheduler.run(send_at)
    later = scheduler.run(send_at + timedelta(minutes=1))
    # THEN it started on the first of those ticks only, with one planning task
    assert on_time.started == [comm_id] and later.started == []
    assert queue.planning == [(comm_id, 0)]
    started = service.get(comm_id)
    assert started.status is S.IN_PROGRESS and started.started_at is not None
    # sent by whoever scheduled it; the audit names Herald's scheduler as the one who started it
    assert started.sent_by is not None and started.sent_by.id == admin.id
    start = audit.list(communication_audit_subject(comm_id), None, 50).items[-1]
    assert (str(start.action), start.actor.id) == ("start", SCHEDULER.id)
    assert start.details["from"] == "SCHEDULED" and start.details["to"] == "IN_PROGRESS"


def test_two_overlapping_runs_start_a_communication_once(
    make_ready: ReadyMaker,
    service: CommunicationService,
    store: FakeCommunicationStore,
    queue: FakeWorkQueue,
    audit: FakeAuditLog,
    admin: Admin,
) -> None:
    # GIVEN a due communication, and a run whose index query returns just as a second run starts
    comm_id = make_ready()
    send_at = in_an_hour()
    service.schedule(comm_id, send_at, by=admin)

    class OverlappingStore(FakeCommunicationStore):
        """The first run's due() lets a whole second run happen before it goes on."""

        def __init__(self) -> None:
            self.__dict__ = store.__dict__
            self.overlapped = False

        def due(self, now: datetime, cursor: str | None, limit: int) -> Page[str]:
            page = FakeCommunicationStore.due(self, now, cursor, limit)
            if not self.overlapped:
                self.overlapped = True
                second.run(now)
            return page

    overlapping = OverlappingStore()
    first = Scheduler(communications=overlapping, service=service)
    second = Scheduler(communications=store, service=service)
    # WHEN both runs work through the same due communication
    result = first.run(send_at)
    # THEN it started once: one planning task, one start in the audit; the first run passed it over
    assert result.started == [] and result.passed_over == [comm_id]
    assert queue.planning_enqueued == 1
    assert audit.actions(communication_audit_subject(comm_id)).count("start") == 1
    assert service.get(comm_id).status is S.IN_PROGRESS


def test_the_run_reads_due_communications_from_the_index_page_by_page(
    make_ready: ReadyMaker,
    service: CommunicationService,
    scheduler: Scheduler,
    store: FakeCommunicationStore,
    admin: Admin,
) -> None:
    # GIVEN five communications due at different times and one not due yet (pages of 2)
    base = in_an_hour()
    due = [make_ready(name=f"Due {i}") for i in range(5)]
    for i, comm_id in enumerate(due):
        service.schedule(comm_id, base + timedelta(seconds=i), by=admin)
    later = make_ready(name="Later")
    service.schedule(later, base + timedelta(hours=2), by=admin)
    # WHEN the run ticks
    result = scheduler.run(base + timedelta(minutes=1))
    # THEN the five started (earliest first) through three index queries, and the later one waits
    assert result.started == due
    assert store.due_queries == 3
    assert service.get(later).status is S.SCHEDULED


def test_a_communication_that_fails_to_start_does_not_hold_back_the_others(
    make_ready: ReadyMaker,
    service: CommunicationService,
    scheduler: Scheduler,
    queue: FakeWorkQueue,
    admin: Admin,
) -> None:
    send_at = in_an_hour()
    first, second = make_ready(name="First"), make_ready(name="Second")
    service.schedule(first, send_at, by=admin)
    service.schedule(second, send_at + timedelta(seconds=1), by=admin)
    original = queue.enqueue_planning

    def refuse_the_first(comm_id: str, first_chunk: int) -> None:
        if comm_id == first:
            raise RuntimeError("SQS is unavailable")
        original(comm_id, first_chunk)

    queue.enqueue_planning = refuse_the_first  # type: ignore[method-assign]
    result = scheduler.run(send_at + timedelta(minutes=1))
    assert result.errors == [first] and result.started == [second]


# --- cancel ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [S.DRAFT, S.PENDING_APPROVAL, S.COMPLETED, S.FAILED])
def test_cancelling_from_a_state_without_a_cancel_is_a_conflict(
    make_ready: ReadyMaker,
    service: CommunicationService,
    store: FakeCommunicationStore,
    admin: Admin,
    status: S,
) -> None:
    comm_id = make_ready()
    store.force_status(comm_id, status)
    with pytest.raises(Conflict):
        service.cancel(comm_id, by=admin)
    assert service.get(comm_id).status is status


def test_an_unschedule_that_loses_to_the_run_is_a_conflict(
    make_ready: ReadyMaker,
    service: CommunicationService,
    store: FakeCommunicationStore,
    scheduler: Scheduler,
    admin: Admin,
) -> None:
    # GIVEN an admin reading a scheduled communication just as its run starts it
    comm_id = make_ready()
    send_at = in_an_hour()
    service.schedule(comm_id, send_at, by=admin)
    original_move = store.move

    def run_first(communication, expected):  # type: ignore[no-untyped-def]
        scheduler.run(send_at)
        return original_move(communication, expected)

    store.move = run_first  # type: ignore[method-assign]
    # WHEN the unschedule lands after the start
    # THEN it is a conflict and the communication keeps sending
    with pytest.raises(Conflict):
        service.unschedule(comm_id, by=admin)
    assert service.get(comm_id).status is S.IN_PROGRESS
