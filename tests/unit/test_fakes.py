"""The fakes keep the adapters' promises, so what the unit tests prove holds against DynamoDB too."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import Conflict
from chalicelib.domain.models import (
    Admin,
    AudienceSummary,
    Channel,
    Communication,
    CommunicationStatus,
    Content,
    Counts,
)
from chalicelib.domain.ports import PlannedAccount, SendTask, TaskOutcome
from tests.unit.fakes import (
    FakeAccountDirectory,
    FakeAudienceStore,
    FakeCommunicationStore,
    FakeSendLedger,
    new_uuid,
)

pytestmark = pytest.mark.unit

S = CommunicationStatus
EMAIL, SMS = Channel.EMAIL, Channel.SMS


def stored_draft(store: FakeCommunicationStore) -> Communication:
    draft = Communication(new_uuid(), "Outage", [EMAIL, SMS], "en", Content())
    store.create(draft)
    return draft


def test_reads_are_copies_the_caller_cannot_change_behind_the_stores_back(
    store: FakeCommunicationStore, directory: FakeAccountDirectory
) -> None:
    # GIVEN a stored communication and account
    draft = stored_draft(store)
    account = directory.add()
    # WHEN a caller changes what it read without saving
    read = store.get(draft.comm_id)
    assert read is not None
    read.status = S.COMPLETED
    read_account = directory.get(account.account_id)
    assert read_account is not None
    read_account.channels.clear()
    # THEN the stores still hold the originals
    assert store.items[draft.comm_id].status is S.DRAFT
    assert directory.accounts[account.account_id].channels == [EMAIL, SMS]


def test_a_communication_reads_back_with_zero_counters_on_each_channel(store: FakeCommunicationStore) -> None:
    draft = stored_draft(store)
    fresh = store.get(draft.comm_id)
    assert fresh is not None and fresh.counts_by_channel == {EMAIL: Counts(), SMS: Counts()}


@pytest.mark.parametrize("status", [S.IN_PROGRESS, S.CANCELLED])
def test_draft_writes_are_conflicts_once_it_is_not_a_draft(store: FakeCommunicationStore, status: S) -> None:
    draft = stored_draft(store)
    store.force_status(draft.comm_id, status)
    with pytest.raises(Conflict):
        store.save_draft(draft)
    with pytest.raises(Conflict):
        store.set_audience(draft.comm_id, AudienceSummary(accepted=1))
    with pytest.raises(Conflict):
        store.delete_draft(draft.comm_id)


def test_start_sending_succeeds_once_and_finish_only_from_in_progress(store: FakeCommunicationStore) -> None:
    # GIVEN a draft
    draft = stored_draft(store)
    admin = Admin("admin-1", "Grace", "Hopper", can_write=True)
    started = Communication(**{**vars(draft), "status": S.IN_PROGRESS, "sent_by": admin})
    # WHEN it is finished too early, started twice, then finished twice
    early = store.finish(draft.comm_id, S.COMPLETED)
    first, second = store.start_sending(started), store.start_sending(started)
    finished, again = store.finish(draft.comm_id, S.COMPLETED), store.finish(draft.comm_id, S.FAILED)
    # THEN only the first start and the first finish from IN_PROGRESS took effect
    assert (early, first, second, finished, again) == (False, True, False, True, False)
    final = store.get(draft.comm_id)
    assert final is not None and final.status is S.COMPLETED and final.finished_at is not None


def test_chunk_totals_are_added_once_and_only_for_existing_chunks(
    store: FakeCommunicationStore, audiences: FakeAudienceStore, ledger: FakeSendLedger
) -> None:
    # GIVEN a communication with one audience chunk
    draft = stored_draft(store)
    audiences.replace(draft.comm_id, [["a", "b"]], previous_chunks=0)
    # WHEN chunk 0 is marked planned twice, and a chunk that does not exist once
    results = [
        ledger.mark_chunk_planned(draft.comm_id, 0, {EMAIL: 2, SMS: 1}),
        ledger.mark_chunk_planned(draft.comm_id, 0, {EMAIL: 2, SMS: 1}),
        ledger.mark_chunk_planned(draft.comm_id, 1, {EMAIL: 5}),
    ]
    # THEN only the first counted
    assert results == [True, False, False]
    fresh = store.get(draft.comm_id)
    assert fresh is not None and fresh.counts.total == 3


def test_a_task_is_claimed_once_and_completed_once(
    store: FakeCommunicationStore, ledger: FakeSendLedger
) -> None:
    draft = stored_draft(store)
    task = SendTask(draft.comm_id, "000000-0000", (PlannedAccount("a", (EMAIL,)),))
    never_claimed = ledger.complete_task(task, TaskOutcome({EMAIL: Counts(total=1, sent=1)}))
    assert never_claimed.counts.sent == 0
    assert ledger.claim_task(task) and not ledger.claim_task(task)
    done = ledger.complete_task(task, TaskOutcome({EMAIL: Counts(total=1, sent=1)}))
    again = ledger.complete_task(task, TaskOutcome({EMAIL: Counts(total=1, sent=1)}))
    assert done.counts.sent == again.counts.sent == 1
