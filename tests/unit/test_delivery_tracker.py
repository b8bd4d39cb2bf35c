"""DeliveryTracker: monotonic in provider time, idempotent, batched, suppressing, patient with early ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.delivery import DeliveryEvent, DeliveryOutcome, DeliveryTracker, TrackedMessage
from chalicelib.domain.models import Channel, Counts, MessageStatus
from tests.unit.fakes import FakeDeliveryStore, FakeEarlyQueue, FakeEventLog, FakeSuppressionList

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
COMM = "c-1"


def event(
    outcome: DeliveryOutcome,
    message_id: str = "m-1",
    at: datetime = T0,
    event_id: str | None = None,
    permanent: bool = False,
    channel: Channel = Channel.EMAIL,
    comm_id: str | None = COMM,
) -> DeliveryEvent:
    return DeliveryEvent(
        provider="ses",
        event_id=event_id or f"{message_id}:{outcome}:{at.isoformat()}",
        outcome=outcome,
        occurred_at=at,
        channel=channel,
        comm_id=comm_id,
        message_id=message_id,
        recipient="Person@Example.com" if channel is Channel.EMAIL else "+15145550000",
        error=None if outcome is DeliveryOutcome.DELIVERED else f"SES {outcome}",
        permanent=permanent,
    )


@pytest.fixture
def store() -> FakeDeliveryStore:
    store = FakeDeliveryStore(log=FakeEventLog())
    for i in range(1, 4):
        store.add(TrackedMessage(COMM, f"m-{i}", Channel.EMAIL, MessageStatus.SENT, f"p{i}@example.com"))
    store.add(TrackedMessage(COMM, "s-1", Channel.SMS, MessageStatus.SENT, "+15145550000"))
    return store


@pytest.fixture
def parts(store):
    return store, store.log, FakeSuppressionList(), FakeEarlyQueue()


@pytest.fixture
def tracker(parts) -> DeliveryTracker:
    store, log, suppressions, early = parts
    return DeliveryTracker(store, log, suppressions, early, max_attempts=3)


def status(store: FakeDeliveryStore, message_id: str) -> MessageStatus:
    return store.messages[(COMM, message_id)].status


def test_delivered_then_late_hard_bounce_fails_the_message(tracker, store):
    tracker.record([event(DeliveryOutcome.DELIVERED)])
    tracker.record([event(DeliveryOutcome.BOUNCED, at=T0 + timedelta(minutes=5), permanent=True)])
    assert status(store, "m-1") is MessageStatus.FAILED
    assert store.counts[COMM][Channel.EMAIL] == Counts(delivered=0, delivery_failed=1)


def test_out_of_order_delivered_after_a_bounce_changes_nothing(tracker, store):
    tracker.record([event(DeliveryOutcome.BOUNCED, at=T0 + timedelta(minutes=5), permanent=True)])
    result = tracker.record([event(DeliveryOutcome.DELIVERED, at=T0)])
    assert status(store, "m-1") is MessageStatus.FAILED
    assert result.stale == 1
    assert store.counts[COMM][Channel.EMAIL] == Counts(delivery_failed=1)


def test_the_event_log_is_read_only_for_events_that_change_nothing(tracker, store):
    # GIVEN a bounce recorded, then an older delivery that changes nothing (logged as stale)
    bounce = event(DeliveryOutcome.BOUNCED, at=T0 + timedelta(minutes=5), permanent=True)
    assert tracker.record([bounce]).applied == 1
    assert store.log_reads == 0  # a repeat of the bounce is found on the record itself
    late_delivery = event(DeliveryOutcome.DELIVERED, at=T0)
    assert tracker.record([late_delivery]).stale == 1
    assert store.log_reads == 1
    # WHEN both come again
    again = tracker.record([bounce, late_delivery])
    # THEN each is a duplicate: the bounce by the record, the delivery by the log
    assert (again.duplicates, again.applied, again.stale) == (2, 0, 0)
    assert store.counts[COMM][Channel.EMAIL] == Counts(delivery_failed=1)


def test_a_failure_at_the_same_instant_as_a_delivery_wins_either_way(parts):
    for first, second in [
        (DeliveryOutcome.DELIVERED, DeliveryOutcome.BOUNCED),
        (DeliveryOutcome.BOUNCED, DeliveryOutcome.DELIVERED),
    ]:
        store, suppressions, early = FakeDeliveryStore(), FakeSuppressionList(), FakeEarlyQueue()
        log = store.log
        store.add(TrackedMessage(COMM, "m-1", Channel.EMAIL, MessageStatus.SENT, "a@example.com"))
        tracker = DeliveryTracker(store, log, suppressions, early)
        tracker.record([event(first)])
        tracker.record([event(second)])
        assert status(store, "m-1") is MessageStatus.FAILED


def test_events_of_one_message_in_one_batch_apply_in_provider_time(tracker, store):
    late_bounce = event(DeliveryOutcome.BOUNCED, at=T0 + timedelta(seconds=30))
    result = tracker.record([late_bounce, event(DeliveryOutcome.DELIVERED, at=T0)])
    assert status(store, "m-1") is MessageStatus.FAILED
    assert result.applied == 2
    assert store.counts[COMM][Channel.EMAIL] == Counts(delivered=0, delivery_failed=1)


def test_duplicates_are_recorded_once(tracker, store):
    delivered = event(DeliveryOutcome.DELIVERED)
    first = tracker.record([delivered, delivered])
    again = tracker.record([delivered])
    assert (first.applied, first.duplicates) == (1, 1)
    assert (again.applied, again.duplicates) == (0, 1)
    assert store.counts[COMM][Channel.EMAIL].delivered == 1


def test_a_full_batch_of_many_communications_is_written_in_as_few_groups_as_the_limits_allow(parts):
    store, log, suppressions, early = parts
    # 100 events of one communication, and one each of 120 others
    events = []
    for i in range(100):
        store.add(TrackedMessage("big", f"b-{i}", Channel.EMAIL, MessageStatus.SENT, f"b{i}@example.com"))
        events.append(event(DeliveryOutcome.DELIVERED, f"b-{i}", comm_id="big"))
    for i in range(120):
        store.add(
            TrackedMessage(f"c-{i:03}", f"m{i}", Channel.EMAIL, MessageStatus.SENT, f"c{i}@example.com")
        )
        events.append(event(DeliveryOutcome.DELIVERED, f"m{i}", comm_id=f"c-{i:03}"))
    result = DeliveryTracker(store, log, suppressions, early).record(events)
    assert result.applied == 220
    # at most 99 communications a write (one counter update each): 99, then the other 22
    assert store.counter_writes == 2
    assert store.counts["big"][Channel.EMAIL].delivered == 100
    assert all(store.counts[f"c-{i:03}"][Channel.EMAIL].delivered == 1 for i in range(120))


def test_counters_are_written_once_per_communication_per_batch(tracker, store):
    tracker.record(
        [
            event(DeliveryOutcome.DELIVERED, "m-1"),
            event(DeliveryOutcome.DELIVERED, "m-2"),
            event(DeliveryOutcome.BOUNCED, "m-3"),
            event(DeliveryOutcome.UNDELIVERED, "s-1", channel=Channel.SMS),
        ]
    )
    assert store.counter_writes == 1
    assert store.reads == 1
    assert store.log_reads == 0  # every event changed its record: nothing to look up in the log
    assert store.counts[COMM] == {
        Channel.EMAIL: Counts(delivered=2, delivery_failed=1),
        Channel.SMS: Counts(delivery_failed=1),
    }


def test_deferred_leaves_the_message_sent_but_is_kept_for_audit(parts, tracker):
    store, log, _, _ = parts
    result = tracker.record([event(DeliveryOutcome.DEFERRED)])
    assert status(store, "m-1") is MessageStatus.SENT
    assert result.stale == 1
    assert [verdict for _, verdict in log.recorded.values()] == ["stale"]


@pytest.mark.parametrize(
    ("outcome", "permanent", "suppressed"),
    [
        (DeliveryOutcome.BOUNCED, True, True),
        (DeliveryOutcome.BOUNCED, False, False),
        (DeliveryOutcome.COMPLAINT, False, True),
        (DeliveryOutcome.DROPPED, False, False),
        (DeliveryOutcome.DELIVERED, False, False),
    ],
)
def test_hard_bounces_and_complaints_suppress_the_address(parts, tracker, outcome, permanent, suppressed):
    _, _, suppressions, _ = parts
    tracker.record([event(outcome, permanent=permanent)])
    assert ((Channel.EMAIL, "p1@example.com") in suppressions.entries) is suppressed


def test_an_invalid_number_suppresses_the_phone(parts, tracker):
    _, _, suppressions, _ = parts
    tracker.record([event(DeliveryOutcome.UNDELIVERED, "s-1", permanent=True, channel=Channel.SMS)])
    assert suppressions.entries[(Channel.SMS, "+15145550000")].reason == "invalid_number"


def test_events_for_unknown_messages_are_acknowledged_not_errors(parts, tracker):
    _, log, _, early = parts
    result = tracker.record(
        [
            event(DeliveryOutcome.DELIVERED, comm_id="no-such-comm", event_id="e-1"),
            event(DeliveryOutcome.DELIVERED, comm_id=None, event_id="e-2"),
        ]
    )
    assert result.unknown == 2
    assert early.handed_back == []
    assert {verdict for _, verdict in log.recorded.values()} == {"unknown"}


def test_an_event_before_its_record_exists_is_handed_back_until_attempts_run_out(parts, tracker):
    store, log, _, early = parts
    early_event = event(DeliveryOutcome.DELIVERED, "m-new")
    assert tracker.record([early_event]).retried == 1
    assert early.handed_back == [(1, [early_event])]
    assert log.recorded == {}  # not recorded, so the retry is not taken for a duplicate
    store.add(TrackedMessage(COMM, "m-new", Channel.EMAIL, MessageStatus.SENT, "new@example.com"))
    assert tracker.record([early_event], attempt=1).applied == 1
    assert tracker.record([event(DeliveryOutcome.DELIVERED, "m-never")], attempt=3).unknown == 1


def test_an_event_for_a_message_still_sending_waits(parts, tracker):
    store, _, _, _early = parts
    store.add(TrackedMessage(COMM, "m-9", Channel.EMAIL, MessageStatus.SENDING, "x@example.com"))
    assert tracker.record([event(DeliveryOutcome.DELIVERED, "m-9")]).retried == 1
    assert status(store, "m-9") is MessageStatus.SENDING


def test_events_never_touch_skipped_or_send_failed_messages(parts, tracker):
    store, _, _, _ = parts
    store.add(TrackedMessage(COMM, "m-skip", Channel.EMAIL, MessageStatus.SKIPPED, "s@example.com"))
    assert tracker.record([event(DeliveryOutcome.DELIVERED, "m-skip")]).unknown == 1
    assert status(store, "m-skip") is MessageStatus.SKIPPED


def test_suppressed_addresses_are_skipped_whatever_their_case():
    from chalicelib.domain.models import Account, SkipReason
    from chalicelib.domain.planning import PlannedMessage, apply_suppressions, plan_channels

    account = Account(
        "a-1", "Ada", "L", "en", [Channel.EMAIL, Channel.SMS], email="Ada@Example.com", phone="+15145550000"
    )
    planned = plan_channels(account, [Channel.EMAIL, Channel.SMS])
    assert apply_suppressions(planned, account, {(Channel.EMAIL, "ada@example.com")}) == [
        PlannedMessage(Channel.EMAIL, SkipReason.SUPPRESSED),
        PlannedMessage(Channel.SMS, None),
    ]
    assert apply_suppressions(planned, account, set()) == planned


class FakeProviderIdIndex:
    def __init__(self, entries: dict[tuple[str, str], tuple[str, str]]) -> None:
        self.entries = entries

    def lookup(self, keys):
        return {k: self.entries[k] for k in keys if k in self.entries}

    def remember(self, messages):
        for m in messages:
            self.entries[(m.provider, m.provider_message_id)] = (m.comm_id, m.message_id)


def test_events_without_herald_ids_map_through_the_provider_id_index(parts):
    store, log, suppressions, early = parts
    index = FakeProviderIdIndex({("ses", "ses-1"): (COMM, "m-1")})
    tracker = DeliveryTracker(store, log, suppressions, early, max_attempts=3, provider_ids=index)
    untagged = DeliveryEvent(
        "ses", "e-1", DeliveryOutcome.DELIVERED, T0, Channel.EMAIL, provider_message_id="ses-1"
    )
    not_yet = DeliveryEvent(
        "ses", "e-2", DeliveryOutcome.DELIVERED, T0, Channel.EMAIL, provider_message_id="ses-2"
    )
    result = tracker.record([untagged, not_yet])
    assert (result.applied, result.retried) == (1, 1)
    assert status(store, "m-1") is MessageStatus.DELIVERED
    assert tracker.record([not_yet], attempt=3).unknown == 1
    without_index = DeliveryTracker(store, store.log, suppressions, FakeEarlyQueue())
    untagged = DeliveryEvent(
        "ses", "e-3", DeliveryOutcome.DELIVERED, T0, Channel.EMAIL, provider_message_id="ses-1"
    )
    assert without_index.record([untagged]).unknown == 1


def test_a_batch_whose_write_failed_is_counted_once_when_redelivered(parts, tracker):
    store, _, _, _ = parts
    batch = [event(DeliveryOutcome.DELIVERED, "m-1"), event(DeliveryOutcome.BOUNCED, "m-2", permanent=True)]
    # GIVEN a worker whose write of statuses and counters failed (they are one transaction)
    store.crash_before_counting = True
    with pytest.raises(RuntimeError):
        tracker.record(batch)
    assert status(store, "m-1") is MessageStatus.SENT
    assert COMM not in store.counts
    # WHEN SQS redelivers the batch, twice
    first = tracker.record(batch)
    second = tracker.record(batch)
    # THEN it is counted exactly once
    assert (first.applied, second.duplicates) == (2, 2)
    assert store.counts[COMM][Channel.EMAIL] == Counts(delivered=1, delivery_failed=1)


def test_two_deliveries_racing_on_one_message_count_it_once(parts, tracker, monkeypatch):
    from chalicelib.domain.delivery import ConcurrentDelivery

    store, _, _, _ = parts
    as_read = store.messages[(COMM, "m-1")]
    tracker.record([event(DeliveryOutcome.DELIVERED, "m-1")])
    # the other delivery read the message before the first one changed it
    monkeypatch.setattr(store, "tracked", lambda keys: {(COMM, "m-1"): as_read})
    with pytest.raises(ConcurrentDelivery):
        tracker.record([event(DeliveryOutcome.BOUNCED, "m-1", at=T0 + timedelta(minutes=1))])
    assert store.counts[COMM][Channel.EMAIL] == Counts(delivered=1)


def test_a_batch_that_raced_another_delivery_is_read_again_and_applied(parts, tracker, monkeypatch):
    store, _, _, _ = parts
    as_read = store.messages[(COMM, "m-1")]
    tracker.record([event(DeliveryOutcome.DELIVERED, "m-1")])
    # GIVEN a first read that predates another delivery's write
    reads = iter([{(COMM, "m-1"): as_read}])
    real_tracked = store.tracked
    monkeypatch.setattr(store, "tracked", lambda keys: next(reads, None) or real_tracked(keys))
    # WHEN a later bounce of the same message is recorded
    result = tracker.record([event(DeliveryOutcome.BOUNCED, "m-1", at=T0 + timedelta(minutes=1))])
    # THEN it applies on a fresh read, counted once
    assert result.applied == 1
    assert status(store, "m-1") is MessageStatus.FAILED
    assert store.counts[COMM][Channel.EMAIL] == Counts(delivered=0, delivery_failed=1)
