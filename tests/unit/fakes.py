"""In-memory fakes of the delivery-tracking ports."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from chalicelib.domain.delivery import (
    ConcurrentDelivery,
    DeliveryChange,
    DeliveryEvent,
    Suppression,
    TrackedMessage,
    precise,
    supersedes,
)
from chalicelib.domain.models import Channel, Counts, MessageStatus


@dataclass
class FakeEventLog:
    recorded: dict[tuple[str, str], tuple[DeliveryEvent, str]] = field(default_factory=dict)

    def seen(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        return {k for k in keys if k in self.recorded}

    def record(self, events: Sequence[tuple[DeliveryEvent, str]]) -> None:
        for event, verdict in events:
            self.recorded[event.key] = (event, verdict)


@dataclass
class FakeDeliveryStore:
    log: FakeEventLog = field(default_factory=FakeEventLog)
    messages: dict[tuple[str, str], TrackedMessage] = field(default_factory=dict)
    communications: set[str] = field(default_factory=set)
    counts: dict[str, dict[Channel, Counts]] = field(default_factory=dict)
    reads: int = 0
    counter_writes: int = 0
    crash_before_counting: bool = False

    def add(self, message: TrackedMessage) -> None:
        self.messages[(message.comm_id, message.message_id)] = message
        self.communications.add(message.comm_id)

    def tracked(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], TrackedMessage]:
        self.reads += 1
        return {k: self.messages[k] for k in keys if k in self.messages}

    def existing_communications(self, comm_ids: Sequence[str]) -> set[str]:
        return set(comm_ids) & self.communications

    def apply(self, change: DeliveryChange) -> MessageStatus | None:
        key = (change.message.comm_id, change.message.message_id)
        stored = self.messages[key]
        if not supersedes(change.event, stored):
            return None
        self.messages[key] = replace(
            stored,
            status=change.status,
            event_at=precise(change.event.occurred_at),
            last_event_id=f"{change.event.provider}#{change.event.event_id}",
            status_before=stored.status,
        )
        return stored.status

    def count_applied(
        self, comm_id: str, counts: dict[Channel, Counts], applied: Sequence[DeliveryEvent]
    ) -> None:
        if self.crash_before_counting:
            self.crash_before_counting = False
            raise RuntimeError("the worker died before counting")
        if any(event.key in self.log.recorded for event in applied):
            raise ConcurrentDelivery(comm_id)
        self.counter_writes += 1
        current = self.counts.setdefault(comm_id, {})
        for channel, delta in counts.items():
            current[channel] = current.get(channel, Counts()) + delta
        self.log.record([(event, "applied") for event in applied])


@dataclass
class FakeSuppressionList:
    entries: dict[tuple[Channel, str], Suppression] = field(default_factory=dict)
    reads: int = 0

    def suppressed(self, addresses: Iterable[tuple[Channel, str]]) -> set[tuple[Channel, str]]:
        self.reads += 1
        return {a for a in addresses if a in self.entries}

    def add_many(self, suppressions: Sequence[Suppression]) -> None:
        for s in suppressions:
            self.entries[(s.channel, s.address)] = s


@dataclass
class FakeEarlyQueue:
    handed_back: list[tuple[int, list[DeliveryEvent]]] = field(default_factory=list)

    def retry_later(self, events: Sequence[DeliveryEvent], attempt: int) -> None:
        self.handed_back.append((attempt, list(events)))
