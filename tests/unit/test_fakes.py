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
from tests.unit.fakes import (
    FakeAccountDirectory,
    FakeCommunicationStore,
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
