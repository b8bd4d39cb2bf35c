"""Approval: above the operator's threshold a send waits for a second admin."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from chalicelib.domain.audiences import AudienceService
from chalicelib.domain.communications import CommunicationService, DraftFields
from chalicelib.domain.errors import Conflict, Forbidden
from chalicelib.domain.models import (
    SCHEDULER,
    Admin,
    CommunicationStatus,
    communication_audit_subject,
    utc_now,
)
from chalicelib.domain.operator_settings import SettingsService
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
ReadyMaker = Callable[[int], str]
THRESHOLD = 3


@pytest.fixture
def reviewer() -> Admin:
    return Admin(id="admin-2", first_name="Alan", last_name="Turing", can_write=True)


@pytest.fixture(autouse=True)
def threshold(operator_settings: SettingsService, admin: Admin) -> None:
    """Sends to more than THRESHOLD accounts need approval."""
    operator_settings.update({"approval_threshold": THRESHOLD}, by=admin)


@pytest.fixture
def make_ready(
    make_draft: DraftMaker,
    service: CommunicationService,
    audience: AudienceService,
    directory: FakeAccountDirectory,
    admin: Admin,
) -> ReadyMaker:
    def make(size: int) -> str:
        draft = make_draft()
        ids = [directory.add(email=f"p{i}@example.com").account_id for i in range(size)]
        audience.set_from_csv(draft.comm_id, "account_id\n" + "\n".join(ids) + "\n", by=admin)
        return draft.comm_id

    return make


def test_a_send_above_the_threshold_waits_for_approval(
    make_ready: ReadyMaker,
    service: CommunicationService,
    queue: FakeWorkQueue,
    audit: FakeAuditLog,
    admin: Admin,
) -> None:
    # GIVEN a ready draft whose audience is above the threshold
    comm_id = make_ready(THRESHOLD + 1)
    # WHEN the admin sends it
    pending = service.send(comm_id, by=admin)
    # THEN it waits for approval, names them as the sender, and nothing is queued
    assert pending.status is service.get(comm_id).status is S.PENDING_APPROVAL
    assert pending.sent_by is not None and pending.sent_by.id == admin.id
    assert queue.planning_enqueued == 0
    entry = audit.list(communication_audit_subject(comm_id), None, 50).items[-1]
    assert str(entry.action) == "send" and entry.actor.id == admin.id
    assert entry.details["to"] == "PENDING_APPROVAL"
    assert (entry.details["audience"], entry.details["approval_threshold"]) == (THRESHOLD + 1, THRESHOLD)
    # and a double click changes nothing
    assert service.send(comm_id, by=admin).status is S.PENDING_APPROVAL
    assert audit.actions(communication_audit_subject(comm_id)).count("send") == 1


def test_a_send_at_the_threshold_goes_straight_out(
    make_ready: ReadyMaker, service: CommunicationService, queue: FakeWorkQueue, admin: Admin
) -> None:
    comm_id = make_ready(THRESHOLD)
    assert service.send(comm_id, by=admin).status is S.IN_PROGRESS
    assert queue.planning_enqueued == 1


@pytest.mark.parametrize("off", [0, None])
def test_a_threshold_of_zero_or_none_turns_approval_off(
    make_ready: ReadyMaker,
    service: CommunicationService,
    operator_settings: SettingsService,
    admin: Admin,
    off: int | None,
) -> None:
    operator_settings.update({"approval_threshold": off}, by=admin)
    comm_id = make_ready(THRESHOLD + 5)
    assert service.send(comm_id, by=admin).status is S.IN_PROGRESS


def test_the_sender_cannot_approve_their_own_send(
    make_ready: ReadyMaker, service: CommunicationService, queue: FakeWorkQueue, admin: Admin
) -> None:
    # GIVEN a send waiting for approval
    comm_id = make_ready(THRESHOLD + 1)
    service.send(comm_id, by=admin)
    # WHEN the sender approves it (another session of theirs: a token with the same id)
    same_person = Admin(id=admin.id, first_name="G.", last_name="Hopper", can_write=True)
    # THEN it is forbidden, and it still waits
    with pytest.raises(Forbidden) as raised:
        service.approve(comm_id, by=same_person)
    assert raised.value.status == 403
    assert service.get(comm_id).status is S.PENDING_APPROVAL
    assert queue.planning_enqueued == 0


@pytest.mark.parametrize("status", [S.DRAFT, S.SCHEDULED, S.IN_PROGRESS, S.CANCELLED])
def test_approving_a_communication_not_waiting_for_approval_is_a_conflict(
    make_ready: ReadyMaker,
    service: CommunicationService,
    store: FakeCommunicationStore,
    queue: FakeWorkQueue,
    reviewer: Admin,
    status: S,
) -> None:
    comm_id = make_ready(THRESHOLD + 1)
    store.force_status(comm_id, status)
    with pytest.raises(Conflict):
        service.approve(comm_id, by=reviewer)
    assert service.get(comm_id).status is status
    assert queue.planning_enqueued == 0


def test_a_third_admin_approving_after_the_start_is_a_conflict(
    make_ready: ReadyMaker, service: CommunicationService, admin: Admin, reviewer: Admin
) -> None:
    comm_id = make_ready(THRESHOLD + 1)
    service.send(comm_id, by=admin)
    service.approve(comm_id, by=reviewer)
    third = Admin(id="admin-3", first_name="Ada", last_name="Lovelace", can_write=True)
    with pytest.raises(Conflict):
        service.approve(comm_id, by=third)


def test_an_expired_communication_cannot_be_approved(
    make_ready: ReadyMaker,
    service: CommunicationService,
    store: FakeCommunicationStore,
    admin: Admin,
    reviewer: Admin,
) -> None:
    comm_id = make_ready(THRESHOLD + 1)
    service.update_draft(comm_id, DraftFields(expires_at=utc_now() + timedelta(hours=1)), by=admin)
    service.send(comm_id, by=admin)
    store.items[comm_id].expires_at = utc_now() - timedelta(minutes=1)  # the hour went by
    with pytest.raises(Conflict) as raised:
        service.approve(comm_id, by=reviewer)
    assert "expired" in raised.value.message
    assert service.get(comm_id).status is S.PENDING_APPROVAL


@pytest.mark.parametrize("by_requester", [True, False])
def test_a_send_waiting_for_approval_can_be_withdrawn_to_a_draft(
    make_ready: ReadyMaker,
    service: CommunicationService,
    audit: FakeAuditLog,
    admin: Admin,
    reviewer: Admin,
    by_requester: bool,
) -> None:
    # GIVEN a send waiting for approval
    comm_id = make_ready(THRESHOLD + 1)
    service.send(comm_id, by=admin)
    # WHEN the requester withdraws it (or another admin declines it)
    who = admin if by_requester else reviewer
    draft = service.withdraw(comm_id, by=who)
    # THEN it is an editable draft again, with no sender, and the audit says who
    assert draft.status is S.DRAFT and draft.sent_by is None
    service.update_draft(comm_id, DraftFields(name="Smaller audience"), by=admin)
    entry = [
        e
        for e in audit.list(communication_audit_subject(comm_id), None, 50).items
        if str(e.action) == "withdraw"
    ]
    assert len(entry) == 1 and entry[0].actor.id == who.id
    # and withdrawing again changes nothing
    assert service.withdraw(comm_id, by=who).status is S.DRAFT


@pytest.mark.parametrize("status", [S.SCHEDULED, S.IN_PROGRESS, S.COMPLETED])
def test_only_a_send_waiting_for_approval_can_be_withdrawn(
    make_ready: ReadyMaker,
    service: CommunicationService,
    store: FakeCommunicationStore,
    admin: Admin,
    status: S,
) -> None:
    comm_id = make_ready(1)
    store.force_status(comm_id, status)
    with pytest.raises(Conflict):
        service.withdraw(comm_id, by=admin)


def test_a_due_schedule_above_the_threshold_waits_for_approval_by_someone_else(
    make_ready: ReadyMaker,
    service: CommunicationService,
    scheduler: Scheduler,
    queue: FakeWorkQueue,
    audit: FakeAuditLog,
    admin: Admin,
    reviewer: Admin,
) -> None:
    # GIVEN a communication above the threshold, scheduled by an admin
    comm_id = make_ready(THRESHOLD + 1)
    send_at = (utc_now() + timedelta(hours=1)).replace(microsecond=0)
    service.schedule(comm_id, send_at, by=admin)
    # WHEN its time comes
    result = scheduler.run(send_at)
    # THEN it waits for approval instead of starting, requested in the scheduler's name by Herald
    assert result.awaiting_approval == [comm_id] and result.started == []
    pending = service.get(comm_id)
    assert pending.status is S.PENDING_APPROVAL
    assert pending.sent_by is not None and pending.sent_by.id == admin.id
    assert queue.planning_enqueued == 0
    entry = audit.list(communication_audit_subject(comm_id), None, 50).items[-1]
    assert (str(entry.action), entry.actor.id, entry.details["to"]) == (
        "start",
        SCHEDULER.id,
        "PENDING_APPROVAL",
    )
    # the admin who scheduled it cannot approve it; another admin can
    with pytest.raises(Forbidden):
        service.approve(comm_id, by=admin)
    assert service.approve(comm_id, by=reviewer).status is S.IN_PROGRESS
    assert queue.planning_enqueued == 1
    # and later runs leave it alone
    assert scheduler.run(send_at + timedelta(minutes=5)).awaiting_approval == []
