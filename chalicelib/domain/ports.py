"""Ports: what the services need from storage, queues and providers. Adapters implement them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from chalicelib.domain.models import (
    Account,
    AudienceSummary,
    AuditEntry,
    Channel,
    Communication,
    CommunicationStatus,
    Counts,
    Message,
    MessageStatus,
    OutgoingEmail,
    OutgoingSms,
    Page,
    SendResult,
)

if TYPE_CHECKING:
    from chalicelib.domain.operator_settings import OperatorSettings


@dataclass(frozen=True)
class AccountFilter:
    service_area: list[str] | None = None
    network_provider: list[str] | None = None
    segment: list[str] | None = None


class AccountDirectory(Protocol):
    """The operator's accounts, always read fresh."""

    def put(self, account: Account) -> bool:
        """Create or replace an account; True when it was created."""
        ...

    def put_many(self, accounts: Sequence[Account]) -> None: ...

    def get(self, account_id: str) -> Account | None: ...

    def get_many(self, account_ids: Sequence[str]) -> dict[str, Account]:
        """The accounts that exist among `account_ids`, by id (batched reads)."""
        ...

    def list(self, account_filter: AccountFilter, cursor: str | None, limit: int) -> Page[Account]: ...


class CommunicationStore(Protocol):
    def create(self, communication: Communication) -> None: ...

    def get(self, comm_id: str) -> Communication | None: ...

    def list(
        self, status: CommunicationStatus | None, cursor: str | None, limit: int
    ) -> Page[Communication]: ...

    def save_draft(self, communication: Communication) -> None:
        """Store a changed draft; Conflict when it is no longer a draft."""
        ...

    def delete_draft(self, comm_id: str) -> None:
        """Delete a draft; Conflict when it is no longer a draft."""
        ...

    def set_audience(self, comm_id: str, audience: AudienceSummary) -> None:
        """Record the audience summary of a draft; Conflict when it is no longer a draft."""
        ...

    def start_sending(
        self, communication: Communication, expected: CommunicationStatus = CommunicationStatus.DRAFT
    ) -> bool:
        """Move a communication from `expected` (a draft, a due schedule, an approved request) to
        IN_PROGRESS with its sender, approver and start time; False if it had already moved."""
        ...

    def move(self, communication: Communication, expected: CommunicationStatus) -> bool:
        """Write the communication's status and its scheduling and approval fields (send_at,
        scheduled_by, sent_by, approved_by, finished_at) if it is still `expected`; False if not."""
        ...

    def due(self, now: datetime, cursor: str | None, limit: int) -> Page[str]:
        """Ids of SCHEDULED communications whose send_at is at or before `now`, earliest first,
        from an index holding only scheduled ones (never a scan)."""
        ...

    def mark_planning_done(self, comm_id: str) -> Communication:
        """Record that every audience chunk has been planned; returns the fresh communication."""
        ...

    def finish(self, comm_id: str, status: CommunicationStatus) -> bool:
        """Move an IN_PROGRESS communication to a final status; False if it had already moved."""
        ...


class AudienceStore(Protocol):
    """The frozen list of account ids of a communication, kept in numbered chunks."""

    def replace(self, comm_id: str, chunks: Iterable[list[str]], previous_chunks: int) -> int:
        """Replace the audience (which had `previous_chunks` chunks); returns how many chunks were written."""
        ...

    def chunk(self, comm_id: str, number: int) -> list[str] | None: ...


@dataclass(frozen=True)
class PlannedAccount:
    account_id: str
    channels: tuple[Channel, ...]


@dataclass(frozen=True)
class SendTask:
    """A batch of accounts whose messages one worker sends; its id is stable across redeliveries."""

    comm_id: str
    task_id: str
    accounts: tuple[PlannedAccount, ...]

    @property
    def planned_messages(self) -> int:
        return sum(len(a.channels) for a in self.accounts)


@dataclass(frozen=True)
class TaskOutcome:
    """What a finished task adds to the communication's counters."""

    counts_by_channel: dict[Channel, Counts]


class SendLedger(Protocol):
    """Claims on send tasks, so each task's messages go to a provider at most once."""

    def mark_chunk_planned(self, comm_id: str, chunk_number: int, totals: dict[Channel, int]) -> bool:
        """Record a planned chunk and add its message totals, once; False if it was already planned."""
        ...

    def claim_task(self, task: SendTask) -> bool:
        """Take a task for sending; False when another delivery already took it."""
        ...

    def complete_task(self, task: SendTask, outcome: TaskOutcome) -> Communication:
        """Mark the task done and add its outcome to the counters, atomically; returns the fresh totals."""
        ...


class MessageStore(Protocol):
    def put_many(self, messages: Sequence[Message]) -> None: ...

    def get(self, comm_id: str, message_id: str) -> Message | None: ...

    def list(
        self,
        comm_id: str,
        channel: Channel | None,
        statuses: frozenset[MessageStatus] | None,
        account_id: str | None,
        cursor: str | None,
        limit: int,
    ) -> Page[Message]: ...


class WorkQueue(Protocol):
    def enqueue_planning(self, comm_id: str, first_chunk: int) -> None: ...

    def enqueue_send_tasks(self, tasks: Sequence[SendTask]) -> None: ...


class EmailSender(Protocol):
    name: str

    def send(self, email: OutgoingEmail) -> SendResult:
        """Hand one email to the provider; raises Throttled, TransientFailure or PermanentFailure."""
        ...


class SmsSender(Protocol):
    name: str

    def send(self, sms: OutgoingSms) -> SendResult:
        """Hand one SMS to the provider; raises Throttled, TransientFailure or PermanentFailure."""
        ...


class AuditLog(Protocol):
    """Append-only record of who did what; kept for good (no expiry)."""

    def record(self, entry: AuditEntry) -> None: ...

    def list(self, subject: str, cursor: str | None, limit: int) -> Page[AuditEntry]:
        """A subject's entries, oldest first."""
        ...


class SettingsStore(Protocol):
    """The one operator settings record."""

    def get(self) -> OperatorSettings | None:
        """The saved settings, or None while nobody has saved any."""
        ...

    def put(self, settings: OperatorSettings, expected_version: int) -> bool:
        """Save `settings` if the stored version is still `expected_version` (0: none stored yet)."""
        ...


class MetricName(StrEnum):
    """Business metrics (CloudWatch namespace Herald/<stage>); alarms watch PROVIDER_THROTTLES."""

    MESSAGES_SENT = "MessagesSent"
    MESSAGES_FAILED = "MessagesFailed"
    MESSAGES_SKIPPED = "MessagesSkipped"
    PROVIDER_THROTTLES = "ProviderThrottles"
    WEBHOOK_EVENTS = "WebhookEvents"


class Metrics(Protocol):
    """Counts what happened, for dashboards and alarms; never fails the work it reports on."""

    def count(self, name: str, value: int = 1, dimensions: Mapping[str, str] | None = None) -> None: ...


class DiscardMetrics:
    """Metrics for callers that do not report any (unit tests, scripts)."""

    def count(self, name: str, value: int = 1, dimensions: Mapping[str, str] | None = None) -> None:
        return None
