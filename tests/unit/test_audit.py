"""The audit trail: every state change and admin action, with who, when and what."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.communications import CommunicationService, DraftFields
from chalicelib.domain.errors import Conflict, NotFound, ValidationError
from chalicelib.domain.models import Admin, communication_audit_subject, utc_now
from chalicelib.domain.operator_settings import SettingsService
from chalicelib.domain.scheduling import Scheduler
from tests.unit.conftest import DraftMaker
from tests.unit.fakes import FakeAccountDirectory, FakeAuditLog

pytestmark = pytest.mark.unit

REVIEWER = Admin(id="admin-2", first_name="Alan", last_name="Turing", can_write=True)


def csv_of(*account_ids: str) -> str:
    return "account_id\n" + "\n".join(account_ids) + "\n"


def trail(audit: FakeAuditLog, comm_id: str) -> list[tuple[str, str]]:
    return [
        (str(e.action), e.actor.id) for e in audit.list(communication_audit_subject(comm_id), None, 200).items
    ]


def test_a_communications_whole_life_is_in_its_audit_trail(
    make_draft: DraftMaker,
    service: CommunicationService,
    operator_settings: SettingsService,
    scheduler: Scheduler,
    directory: FakeAccountDirectory,
    audit: FakeAuditLog,
    admin: Admin,
) -> None:
    # GIVEN approval above one account
    operator_settings.update({"approval_threshold": 1}, by=admin)
    accounts = [directory.add().account_id, directory.add().account_id]
    # WHEN an admin creates, edits, targets, schedules, unschedules, sends, withdraws, sends again,
    # and a second admin approves
    draft = make_draft()
    service.update_draft(draft.comm_id, DraftFields(name="Outage tonight"), by=admin)
    service.set_audience_csv(draft.comm_id, csv_of(*accounts), by=admin)
    service.schedule(draft.comm_id, utc_now() + timedelta(hours=1), by=admin)
    service.unschedule(draft.comm_id, by=admin)
    service.send(draft.comm_id, by=admin)
    service.withdraw(draft.comm_id, by=admin)
    service.send(draft.comm_id, by=admin)
    service.approve(draft.comm_id, by=REVIEWER)
    # THEN each step is recorded, in order, with who did it
    assert trail(audit, draft.comm_id) == [
        ("create", admin.id),
        ("edit", admin.id),
        ("audience", admin.id),
        ("schedule", admin.id),
        ("unschedule", admin.id),
        ("send", admin.id),
        ("withdraw", admin.id),
        ("send", admin.id),
        ("approve", REVIEWER.id),
    ]
    entries = audit.list(communication_audit_subject(draft.comm_id), None, 200).items
    assert all(entries[i].at <= entries[i + 1].at for i in range(len(entries) - 1))
    first = entries[0].to_api()
    assert first["actor"] == admin.to_api()
    assert first["details"] == {"name": "Planned outage"}
    assert entries[1].details == {"fields": ["name"]}
    assert entries[2].details == {"source": "csv", "accepted": 2, "duplicates": 0, "rejected": 0}
    assert entries[5].details["from"] == "DRAFT" and entries[5].details["to"] == "PENDING_APPROVAL"


def test_cancel_and_delete_are_recorded_and_the_trail_outlives_a_deleted_draft(
    make_draft: DraftMaker,
    service: CommunicationService,
    directory: FakeAccountDirectory,
    audit: FakeAuditLog,
    admin: Admin,
) -> None:
    scheduled = make_draft()
    service.set_audience_csv(scheduled.comm_id, csv_of(directory.add().account_id), by=admin)
    service.schedule(scheduled.comm_id, utc_now() + timedelta(hours=1), by=admin)
    service.cancel(scheduled.comm_id, by=REVIEWER)
    assert trail(audit, scheduled.comm_id)[-1] == ("cancel", REVIEWER.id)

    deleted = make_draft(name="Typo")
    service.delete_draft(deleted.comm_id, by=admin)
    page = service.audit_trail(deleted.comm_id, None, 50)
    assert [str(e.action) for e in page.items] == ["create", "delete"]
    assert page.items[-1].details == {"name": "Typo"}


def test_refused_actions_and_no_op_autosaves_record_nothing(
    make_draft: DraftMaker, service: CommunicationService, audit: FakeAuditLog, admin: Admin
) -> None:
    # GIVEN a draft
    draft = make_draft(name="Outage")
    # WHEN the wizard autosaves only its step or the same name, and a send and a cancel are refused
    service.update_draft(draft.comm_id, DraftFields(wizard_step="review"), by=admin)
    service.update_draft(draft.comm_id, DraftFields(name="Outage"), by=admin)
    with pytest.raises(ValidationError):
        service.send(draft.comm_id, by=admin)
    with pytest.raises(Conflict):
        service.cancel(draft.comm_id, by=admin)
    # THEN only the creation is in the trail
    assert trail(audit, draft.comm_id) == [("create", admin.id)]


def test_the_trail_pages_oldest_first(
    make_draft: DraftMaker, service: CommunicationService, admin: Admin
) -> None:
    draft = make_draft(name="v0")
    for version in range(1, 6):
        service.update_draft(draft.comm_id, DraftFields(name=f"v{version}"), by=admin)
    first = service.audit_trail(draft.comm_id, None, 4)
    second = service.audit_trail(draft.comm_id, first.next_cursor, 4)
    assert [str(e.action) for e in first.items] == ["create", "edit", "edit", "edit"]
    assert len(second.items) == 2 and second.next_cursor is None


def test_the_trail_of_an_unknown_communication_is_not_found(service: CommunicationService) -> None:
    with pytest.raises(NotFound):
        service.audit_trail("8d0e4c1e-8f3a-4f55-9a55-0b7b7c0d1e2f", None, 50)
