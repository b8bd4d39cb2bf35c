"""Delivery tracking: what providers report after a message was handed over, in one vocabulary.

Every provider adapter turns its own events into `DeliveryEvent`s; `DeliveryTracker.record` then
applies them to the message records, monotonically in provider time, counting each status change
in the communication's delivery counters exactly once, suppresses addresses that hard-bounced or
complained, and keeps the raw events that changed nothing for audit (an applied event lives on in its message:
outcome, error, event id). It is plain Python over ports; the DynamoDB adapter does the conditional writes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from chalicelib.domain.models import Channel, Counts, FailureCode, Message, MessageStatus, iso
from chalicelib.domain.planning import normalise_address

logger = logging.getLogger(__name__)


class DeliveryOutcome(StrEnum):
    """What a provider says became of a message, whatever its own words."""

    DELIVERED = "delivered"
    DEFERRED = "deferred"  # still in progress: queued, delayed, retried by the provider
    BOUNCED = "bounced"  # `permanent` tells a hard bounce from a soft one
    DROPPED = "dropped"  # the provider chose not to deliver (its own suppression, blocked content)
    COMPLAINT = "complaint"  # delivered, then the recipient reported it as spam
    UNDELIVERED = "undelivered"  # an SMS the carrier could not deliver
    FAILED = "failed"  # the provider failed it for another reason


# The message status each outcome leads to; None leaves the message as it is (still SENT).
OUTCOME_STATUS: dict[DeliveryOutcome, MessageStatus | None] = {
    DeliveryOutcome.DELIVERED: MessageStatus.DELIVERED,
    DeliveryOutcome.COMPLAINT: MessageStatus.DELIVERED,
    DeliveryOutcome.DEFERRED: None,
    DeliveryOutcome.BOUNCED: MessageStatus.FAILED,
    DeliveryOutcome.DROPPED: MessageStatus.FAILED,
    DeliveryOutcome.UNDELIVERED: MessageStatus.FAILED,
    DeliveryOutcome.FAILED: MessageStatus.FAILED,
}

# Status changes are written, and counted, together (one tally each): at most this many changes,
# of at most this many communications (one counter update each, with the tally's own delete, in
# a transaction of at most 100 items).
CHANGES_PER_WRITE = 500
COMMUNICATIONS_PER_WRITE = 99
# Tries of a batch that races another delivery of the same messages before SQS redelivers it.
RACE_ATTEMPTS = 3
# Statuses a delivery event may move; anything else was never handed to a provider (or not yet).
TRACKED = frozenset({MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.FAILED})
# Statuses whose message is still on its way to the provider: an event for it arrived early.
NOT_YET_RECORDED = frozenset(
    {MessageStatus.QUEUED, MessageStatus.DEFERRED, MessageStatus.SENDING, MessageStatus.UNKNOWN}
)


def precise(moment: datetime) -> str:
    """A fixed-width UTC timestamp whose string order is time order (stored and compared as is)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def parse_iso(value: str) -> datetime:
    """ISO-8601 with a Z or an offset, as providers write it."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class DeliveryEvent:
    """One provider report about one message."""

    provider: str
    event_id: str  # the provider's id of this event: duplicates carry the same one
    outcome: DeliveryOutcome
    occurred_at: datetime  # provider time; orders events of one message
    channel: Channel
    comm_id: str | None = None  # Herald's ids, echoed back from the tags we sent
    message_id: str | None = None
    provider_message_id: str | None = None
    recipient: str | None = None
    error: str | None = None  # the provider's words, shown to the admin on failures
    permanent: bool = False  # the address itself is bad (hard bounce, number does not exist)
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.provider, self.event_id)

    @property
    def message_key(self) -> tuple[str, str] | None:
        if self.comm_id and self.message_id:
            return (self.comm_id, self.message_id)
        return None

    @property
    def status(self) -> MessageStatus | None:
        return OUTCOME_STATUS[self.outcome]

    @property
    def suppresses(self) -> bool:
        """Hard bounces, numbers that do not exist and complaints keep the address from later sends."""
        return self.outcome is DeliveryOutcome.COMPLAINT or (
            self.permanent and self.outcome in (DeliveryOutcome.BOUNCED, DeliveryOutcome.UNDELIVERED)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "event_id": self.event_id,
            "outcome": str(self.outcome),
            "occurred_at": precise(self.occurred_at),
            "channel": str(self.channel),
            "comm_id": self.comm_id,
            "message_id": self.message_id,
            "provider_message_id": self.provider_message_id,
            "recipient": self.recipient,
            "error": self.error,
            "permanent": self.permanent,
            "raw": self.raw,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DeliveryEvent:
        return cls(
            provider=values["provider"],
            event_id=values["event_id"],
            outcome=DeliveryOutcome(values["outcome"]),
            occurred_at=parse_iso(values["occurred_at"]),
            channel=Channel(values["channel"]),
            comm_id=values.get("comm_id"),
            message_id=values.get("message_id"),
            provider_message_id=values.get("provider_message_id"),
            recipient=values.get("recipient"),
            error=values.get("error"),
            permanent=bool(values.get("permanent")),
            raw=values.get("raw") or {},
        )


@dataclass(frozen=True)
class TrackedMessage:
    """What delivery tracking needs of a message record."""

    comm_id: str
    message_id: str
    channel: Channel
    status: MessageStatus
    address: str | None = None
    event_at: str | None = None  # precise() time of the event that set the current status
    # event_reference() of the event that set the current status: the same event again is a duplicate.
    last_event_id: str | None = None
    error_code: str | None = None
    # The status write that set the current status (its tally), and whether it is still being counted:
    # a message whose count is pending takes no other change until it is counted.
    tally: str | None = None
    pending: bool = False

    @property
    def in_doubt(self) -> bool:
        """UNKNOWN, or given up on as outcome_unknown: any event of the provider proves it was sent."""
        return self.status is MessageStatus.UNKNOWN or (
            self.status is MessageStatus.SEND_FAILED and self.error_code == FailureCode.OUTCOME_UNKNOWN
        )


def event_reference(event: DeliveryEvent) -> str:
    return f"{event.provider}#{event.event_id}"


def supersedes(event: DeliveryEvent, message: TrackedMessage) -> bool:
    """Whether `event` decides the message's status now: the latest report in provider time wins.

    A failure at the same instant as a delivery wins (a bounce is the more specific report), so a
    late hard bounce after "delivered" fails the message, and an out-of-order "delivered" that
    happened before a recorded bounce changes nothing.
    """
    target = event.status
    if target is None or message.status not in TRACKED:
        return False
    if message.event_at is None:
        return True
    moment = precise(event.occurred_at)
    if moment != message.event_at:
        return moment > message.event_at
    return target is MessageStatus.FAILED and message.status is not MessageStatus.FAILED


@dataclass(frozen=True)
class DeliveryChange:
    """A status change to write: conditional on the message still being as it was read (`message`)."""

    message: TrackedMessage
    event: DeliveryEvent

    @property
    def status(self) -> MessageStatus:
        status = self.event.status
        assert status is not None
        return status


def change_counts(changes: Iterable[DeliveryChange]) -> dict[Channel, Counts]:
    """The delivered / delivery_failed counter moves of these status changes, by channel."""
    return status_moves((change.message.channel, change.message.status, change.status) for change in changes)


def status_moves(moves: Iterable[tuple[Channel, MessageStatus, MessageStatus]]) -> dict[Channel, Counts]:
    """The delivered / delivery_failed counter moves of (channel, before, after) changes, by channel."""
    counts: dict[Channel, Counts] = {}
    for channel, before, after in moves:
        counts[channel] = counts.get(channel, Counts()) + counter_delta(before, after)
    return counts


def counter_delta(before: MessageStatus, after: MessageStatus) -> Counts:
    """The delivered / delivery_failed counter moves for one status change."""
    delta = Counts()
    for status, sign in ((before, -1), (after, +1)):
        if status is MessageStatus.DELIVERED:
            delta.delivered += sign
        elif status is MessageStatus.FAILED:
            delta.delivery_failed += sign
    return delta


@dataclass(frozen=True)
class Suppression:
    channel: Channel
    address: str
    reason: str
    source: str  # e.g. "ses bounce", "admin"
    comm_id: str | None = None
    message_id: str | None = None
    created_at: datetime | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "channel": str(self.channel),
            "address": self.address,
            "reason": self.reason,
            "source": self.source,
            "comm_id": self.comm_id,
            "message_id": self.message_id,
            "created_at": iso(self.created_at),
        }


class SuppressionList(Protocol):
    """Addresses no message goes to any more."""

    def suppressed(self, addresses: Iterable[tuple[Channel, str]]) -> set[tuple[Channel, str]]:
        """Which of these (channel, normalised address) pairs are suppressed, in batched reads."""
        ...

    def add_many(self, suppressions: Sequence[Suppression]) -> None: ...


class TallySettler(Protocol):
    def settle_tally(self, comm_id: str, tally: str) -> bool:
        """Count what a status write that never finished (its worker died) wrote, once.
        False when there was nothing left to settle."""
        ...


class DeliveryStore(TallySettler, Protocol):
    """Message records as delivery tracking reads and changes them."""

    def tracked(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], TrackedMessage]:
        """The messages among (comm_id, message_id) keys that exist (batched reads)."""
        ...

    def logged(self, event_keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (provider, event_id) events the event log already holds (batched reads)."""
        ...

    def existing_communications(self, comm_ids: Sequence[str]) -> set[str]: ...

    def apply(self, changes: Sequence[DeliveryChange]) -> None:
        """Write `changes` (a group of _write_groups), each conditional on its message being as it
        was read, and add the counter moves (change_counts) of those written, exactly once even if
        the worker dies midway. Raises ConcurrentDelivery, after writing and counting the others,
        when a message changed meanwhile: its change is to be decided again."""
        ...


class ConcurrentDelivery(Exception):
    """Two deliveries of the same events raced; the batch is to be retried (it is then a duplicate)."""


class EventLog(Protocol):
    """Raw provider events that changed nothing, for audit and deduplication (kept for a retention
    period); the delivery store reads which were recorded."""

    def record(self, events: Sequence[tuple[DeliveryEvent, str]]) -> None:
        """Store events with what became of each (applied, stale, unknown…), in batched writes."""
        ...


class ProviderIdIndex(Protocol):
    """(provider, provider message id) → (comm_id, message_id), for events that carry no Herald ids
    (SES identity notifications, a Twilio callback set on the Messaging Service). Looked up by key."""

    def lookup(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]: ...

    def remember(self, messages: Sequence[Message]) -> None:
        """Index the messages handed to a provider (batched writes)."""
        ...


class SendProofs(Protocol):
    def reconcile_from_event(
        self,
        comm_id: str,
        message_id: str,
        provider_message_id: str,
        *,
        provider: str | None = None,
        account_id: str | None = None,
        channel: Channel | str | None = None,
    ) -> bool:
        """A provider event proves the message was handed over: settle it if it was in doubt."""
        ...


class EarlyEventQueue(Protocol):
    def retry_later(self, events: Sequence[DeliveryEvent], attempt: int) -> None:
        """Hand back events whose message is not recorded yet, to be recorded again after a delay."""
        ...


@dataclass
class RecordResult:
    """What one batch of events came to (returned to webhooks, logged by the worker)."""

    applied: int = 0
    duplicates: int = 0
    stale: int = 0  # a newer report had already decided, or the event changes no status
    unknown: int = 0  # no such message: acknowledged and logged
    retried: int = 0  # the message is not recorded yet: handed back for later

    def to_api(self) -> dict[str, int]:
        return {
            "applied": self.applied,
            "duplicates": self.duplicates,
            "stale": self.stale,
            "unknown": self.unknown,
            "retried": self.retried,
        }


@dataclass
class DeliveryTracker:
    """Applies provider events to messages: by key, monotonic, idempotent, batched."""

    store: DeliveryStore
    log: EventLog
    suppressions: SuppressionList
    early: EarlyEventQueue
    max_attempts: int = 20
    provider_ids: ProviderIdIndex | None = None
    # Settles messages whose sending was in doubt (see reconciliation.py) before their events apply.
    proofs: SendProofs | None = None

    def record(self, events: Sequence[DeliveryEvent], attempt: int = 0) -> RecordResult:
        """Apply a batch; a race with another delivery reads the messages again and retries (what
        was written meanwhile is then a duplicate), rather than waiting for SQS to redeliver."""
        for _ in range(RACE_ATTEMPTS - 1):
            try:
                return self._record(events, attempt)
            except ConcurrentDelivery:
                logger.info("delivery events raced another delivery; reading again")
        return self._record(events, attempt)

    def _record(self, events: Sequence[DeliveryEvent], attempt: int) -> RecordResult:
        result = RecordResult()
        unique = self._with_herald_ids(self._unique(events, result))
        if not unique:
            return result
        keys = sorted({e.message_key for e in unique if e.message_key})
        messages = self.store.tracked(keys)
        self._settle_doubts(unique, messages)
        missing_comms = sorted({k[0] for k in keys if k not in messages})
        known_comms = self.store.existing_communications(missing_comms) if missing_comms else set()

        # Events that change nothing, to be logged unless the log holds them already.
        unchanging: list[tuple[DeliveryEvent, str, Suppression | None]] = []
        early: list[DeliveryEvent] = []
        # Per message, the record as read and the event that decides it now.
        changes: dict[tuple[str, str], DeliveryChange] = {}
        suppressions: list[Suppression] = []
        # In provider time, so several events of one message in a batch apply in order.
        for event in sorted(unique, key=lambda e: (e.occurred_at, e.status is MessageStatus.FAILED)):
            key = event.message_key
            message = messages.get(key) if key else None
            verdict = self._verdict(event, message, known_comms, attempt)
            if verdict == "early":
                early.append(event)
                continue
            if verdict == "duplicate":
                result.duplicates += 1
                continue
            suppression = (
                _suppression(event, message)
                if event.suppresses and (message is not None or event.recipient)
                else None
            )
            if key is None or message is None or verdict != "apply":
                unchanging.append((event, verdict, suppression))
                continue
            if suppression is not None:
                suppressions.append(suppression)
            read = changes[key].message if key in changes else message
            changes[key] = DeliveryChange(read, event)
            messages[key] = replace(
                message,
                status=changes[key].status,
                event_at=precise(event.occurred_at),
                last_event_id=event_reference(event),
            )
            result.applied += 1

        to_log = self._not_logged_yet(unchanging, result)
        suppressions += [suppression for _, _, suppression in to_log if suppression is not None]
        outcomes = [(event, verdict) for event, verdict, _ in to_log]
        if suppressions:
            self.suppressions.add_many(suppressions)
        if outcomes:
            self.log.record(outcomes)
        for written_together in _write_groups(changes.values()):
            self.store.apply(written_together)
        if early:
            self.early.retry_later(early, attempt + 1)
            result.retried = len(early)
        self._log(result, outcomes)
        return result

    def _not_logged_yet(
        self, unchanging: list[tuple[DeliveryEvent, str, Suppression | None]], result: RecordResult
    ) -> list[tuple[DeliveryEvent, str, Suppression | None]]:
        """Events that change nothing, less those the log holds (they came before: duplicates). Only
        these need the log read: a repeat of the event that set a record's status is found on the
        record itself (`last_event_id`)."""
        logged = self.store.logged([event.key for event, _, _ in unchanging]) if unchanging else set()
        to_log = []
        for event, verdict, suppression in unchanging:
            if event.key in logged:
                result.duplicates += 1
                continue
            setattr(result, verdict, getattr(result, verdict) + 1)
            to_log.append((event, verdict, suppression))
        return to_log

    def _settle_doubts(
        self, events: Sequence[DeliveryEvent], messages: dict[tuple[str, str], TrackedMessage]
    ) -> None:
        """An event for a message in doubt proves the provider took it: it becomes SENT first."""
        doubted = [e for e in events if e.message_key in messages and messages[e.message_key].in_doubt]
        if not doubted or self.proofs is None:
            return
        for event in doubted:
            assert event.comm_id and event.message_id
            self.proofs.reconcile_from_event(
                event.comm_id,
                event.message_id,
                event.provider_message_id or "",
                provider=event.provider,
                channel=event.channel,
            )
        messages.update(self.store.tracked(sorted({e.message_key for e in doubted if e.message_key})))

    @staticmethod
    def _unique(events: Sequence[DeliveryEvent], result: RecordResult) -> list[DeliveryEvent]:
        """The batch without repeats of the same event (counted as duplicates)."""
        unique: dict[tuple[str, str], DeliveryEvent] = {}
        for event in events:
            if event.key in unique:
                result.duplicates += 1
            else:
                unique[event.key] = event
        return list(unique.values())

    def _with_herald_ids(self, events: list[DeliveryEvent]) -> list[DeliveryEvent]:
        """Events without Herald's ids get them from the provider-id index, when there is one."""
        untagged = sorted(
            {
                (e.provider, e.provider_message_id)
                for e in events
                if not e.message_key and e.provider_message_id
            }
        )
        if not untagged or self.provider_ids is None:
            return events
        found = self.provider_ids.lookup(untagged)
        resolved = []
        for event in events:
            ids = found.get((event.provider, event.provider_message_id or ""))
            if ids and not event.message_key:
                event = replace(event, comm_id=ids[0], message_id=ids[1])
            resolved.append(event)
        return resolved

    def _verdict(
        self, event: DeliveryEvent, message: TrackedMessage | None, known_comms: set[str], attempt: int
    ) -> str:
        if message is None:
            if attempt < self.max_attempts and (
                event.comm_id in known_comms
                # Untagged and not indexed yet: its message may still be on its way to the record.
                or (not event.message_key and event.provider_message_id and self.provider_ids is not None)
            ):
                return "early"  # the sender has not written the record yet
            return "unknown"
        if message.status in NOT_YET_RECORDED and attempt < self.max_attempts:
            return "early"
        if message.status not in TRACKED:
            return "unknown"
        if message.last_event_id == event_reference(event):
            return "duplicate"  # the event that set the current status, delivered again
        if message.pending:
            # The change before it is still being counted: wait, however long, as the sweep (or
            # the first event to meet it past its settle time) always settles the tally.
            return "early"
        return "apply" if supersedes(event, message) else "stale"

    @staticmethod
    def _log(result: RecordResult, outcomes: list[tuple[DeliveryEvent, str]]) -> None:
        for event, verdict in outcomes:
            if verdict == "unknown":
                logger.info(
                    "delivery event for an unknown message",
                    extra={
                        "provider": event.provider,
                        "event_id": event.event_id,
                        "provider_message_id": event.provider_message_id,
                        "comm_id": event.comm_id,
                        "message_id": event.message_id,
                    },
                )
        logger.info("delivery events recorded", extra=result.to_api())


def _write_groups(changes: Iterable[DeliveryChange]) -> Iterator[list[DeliveryChange]]:
    """The changes in groups the store writes together (CHANGES_PER_WRITE, COMMUNICATIONS_PER_WRITE)."""
    group: list[DeliveryChange] = []
    communications: set[str] = set()
    for change in sorted(changes, key=lambda c: (c.message.comm_id, c.message.message_id)):
        comm_id = change.message.comm_id
        full = len(group) == CHANGES_PER_WRITE or (
            comm_id not in communications and len(communications) == COMMUNICATIONS_PER_WRITE
        )
        if full:
            yield group
            group, communications = [], set()
        group.append(change)
        communications.add(comm_id)
    if group:
        yield group


def _suppression(event: DeliveryEvent, message: TrackedMessage | None) -> Suppression:
    address = (message.address if message and message.address else None) or event.recipient or ""
    channel = message.channel if message else event.channel
    reason = "complaint" if event.outcome is DeliveryOutcome.COMPLAINT else "hard_bounce"
    if event.outcome is DeliveryOutcome.UNDELIVERED:
        reason = "invalid_number"
    return Suppression(
        channel=channel,
        address=normalise_address(channel, address),
        reason=reason,
        source=f"{event.provider} {event.outcome}",
        comm_id=event.comm_id,
        message_id=event.message_id,
        created_at=event.occurred_at,
    )
