"""Ports: what the services need from storage, queues and providers. Adapters implement them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
    Contact,
    Counts,
    Job,
    Message,
    MessageStatus,
    OutgoingEmail,
    OutgoingSms,
    Page,
    SendResult,
    Template,
)

if TYPE_CHECKING:
    from chalicelib.domain.operator_settings import OperatorSettings


@dataclass(frozen=True)
class AccountFilter:
    service_area: list[str] | None = None
    network_provider: list[str] | None = None
    segment: list[str] | None = None

    def is_empty(self) -> bool:
        return not (self.service_area or self.network_provider or self.segment)

    def to_api(self) -> dict[str, list[str]]:
        return {
            key: list(values)
            for key in ("service_area", "network_provider", "segment")
            if (values := getattr(self, key))
        }


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

    def contacts(self, account_ids: Sequence[str]) -> dict[str, Contact]:
        """What planning reads of the accounts that exist among `account_ids`, by id (batched reads
        of those attributes only)."""
        ...

    def list(self, account_filter: AccountFilter, cursor: str | None, limit: int) -> Page[Account]: ...

    def statuses(self, account_ids: Sequence[str]) -> dict[str, str]:
        """The status ("active"/"inactive") of the accounts that exist among `account_ids` (batched)."""
        ...

    def ids_matching(self, account_filter: AccountFilter) -> Iterator[str]:
        """Ids of the accounts matching a non-empty filter, ascending and each once, read from indexes."""
        ...

    def iter_accounts(self, account_filter: AccountFilter) -> Iterator[Account]:
        """Every account matching the filter (all accounts when it is empty), page by page."""
        ...


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
        IN_PROGRESS with its sender, approver and start time; False if it had already moved or its
        audience is not ready (an import still writing chunks, or a failed one)."""
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

    def change_status(
        self, comm_id: str, allowed: frozenset[CommunicationStatus], target: CommunicationStatus
    ) -> bool:
        """Move a communication to `target` if its status is one of `allowed`; False otherwise."""
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


CHANNEL_CODES = {Channel.EMAIL: "e", Channel.SMS: "s"}
CODE_CHANNELS = {code: channel for channel, code in CHANNEL_CODES.items()}


@dataclass(frozen=True)
class SendTask:
    """A batch of accounts whose messages one worker sends; its id is stable across redeliveries.

    Its messages have a fixed order (`messages()`): claims, cursors and in-flight windows count
    positions in it. `chunk` and `start` say where its accounts sit in the frozen audience, so a
    task can be rebuilt from its chunk and `plan_code()`. A `deferred` task sends messages that
    waited for their contact window (recorded DEFERRED); it is rebuilt from its Deferral.
    """

    comm_id: str
    task_id: str
    accounts: tuple[PlannedAccount, ...]
    chunk: int = 0
    start: int = 0
    urgent: bool = False
    deferred: bool = False

    @property
    def planned_messages(self) -> int:
        return sum(len(a.channels) for a in self.accounts)

    def messages(self) -> list[tuple[str, Channel]]:
        return [(a.account_id, channel) for a in self.accounts for channel in a.channels]

    def plan_code(self) -> str:
        """The planned channels of each account, compactly: "es|s|e"."""
        return "|".join("".join(CHANNEL_CODES[c] for c in a.channels) for a in self.accounts)

    @classmethod
    def from_plan_code(
        cls,
        comm_id: str,
        task_id: str,
        account_ids: Sequence[str],
        plan_code: str,
        chunk: int,
        start: int,
        urgent: bool,
    ) -> SendTask:
        codes = plan_code.split("|")
        accounts = tuple(
            PlannedAccount(account_id, tuple(CODE_CHANNELS[c] for c in code))
            for account_id, code in zip(account_ids, codes, strict=True)
        )
        return cls(comm_id, task_id, accounts, chunk=chunk, start=start, urgent=urgent)


class TaskPhase(StrEnum):
    CLAIMED = "claimed"  # a worker holds the lease
    RELEASED = "released"  # handed back to the queue; the next delivery carries on at the cursor
    PARKED = "parked"  # the communication is paused; resume re-queues it
    DONE = "done"


@dataclass(frozen=True)
class TaskState:
    """Where a task stands. Positions before `cursor` are recorded; positions in
    [cursor, window_end) may have been handed to a provider by the lease owner. `pending` holds
    the tallies of recorded windows not yet rolled up into the communication's counters."""

    phase: TaskPhase
    owner: str | None
    lease_until: float
    cursor: int
    window_end: int
    pending: dict[Channel, Counts] = field(default_factory=dict)


@dataclass(frozen=True)
class ClaimAttempt:
    claimed: bool
    # The task as claimed, or (not claimed) as someone else holds it; None if it vanished.
    state: TaskState | None = None


class CommitOutcome(StrEnum):
    OPEN = "open"  # keep the lease; the next window is open
    DONE = "done"
    RELEASED = "released"
    PARKED = "parked"


@dataclass(frozen=True)
class WindowCommit:
    """Close the window [start, reached): its records are written; count them and move the cursor.

    A window's tallies (`counts`) are kept on the task, a small item, and rolled up into the
    communication's counters (with what the task already `carried`) when the lease ends or
    `rollup` asks for it: the communication item, large with its content, is written once per
    task rather than once per window. UNKNOWN records (outcomes in doubt) are written by the
    commit itself, so every UNKNOWN record sits behind a cursor and is listed for reconciliation.
    """

    task: SendTask
    owner: str
    start: int
    reached: int
    outcome: CommitOutcome
    next_window_end: int
    lease_until: float
    counts: dict[Channel, Counts]
    carried: dict[Channel, Counts] = field(default_factory=dict)
    rollup: bool = False
    unknown: tuple[Message, ...] = ()
    unknown_deadline: float = 0.0
    # The window's DEFERRED messages, kept until their contact window opens.
    deferrals: tuple[Deferral, ...] = ()

    @property
    def rolls_up(self) -> bool:
        return self.rollup or self.outcome is not CommitOutcome.OPEN


class CommitResult(StrEnum):
    COMMITTED = "committed"
    LEASE_LOST = "lease_lost"
    NOT_PAUSED = "not_paused"  # parking refused: the communication was resumed or cancelled
    RECORD_CONFLICT = "record_conflict"  # an UNKNOWN record collided with a provider's proof


@dataclass(frozen=True)
class Takeover:
    """Take a task whose lease expired: its owner's window becomes UNKNOWN (never resent), what
    it had counted (its pending tallies) and the records found in its window are rolled up into
    `counts`, and the new owner's first window opens after it, all at once."""

    task: SendTask
    stale: TaskState
    owner: str
    lease_until: float
    window_end: int
    counts: dict[Channel, Counts]
    unknown: tuple[Message, ...]
    unknown_deadline: float
    # Messages the stale owner recorded DEFERRED, kept until their contact window opens.
    deferrals: tuple[Deferral, ...] = ()


@dataclass(frozen=True)
class Deferral:
    """Messages recorded DEFERRED together, waiting for the same contact window to open: kept as
    the send task that sends them then (`task.deferred`; its id is deterministic, so queuing it
    twice sends nothing twice). The sweep queues it at `until`; the task's DONE commit drops it."""

    task: SendTask
    until: float  # when the window opens (epoch seconds)
    queued: bool = False  # its task was queued (by the sweep, or by a cancel) at least once


def add_counts(*parts: dict[Channel, Counts]) -> dict[Channel, Counts]:
    """Per-channel tallies added up."""
    total: dict[Channel, Counts] = {}
    for part in parts:
        for channel, counts in part.items():
            total[channel] = total.get(channel, Counts()) + counts
    return total


class DueKind(StrEnum):
    TASK = "task"  # a lease to check for expiry
    UNKNOWN = "unknown"  # UNKNOWN messages to settle when their window ends
    WATCH = "watch"  # an active communication to look after
    DEFERRAL = "deferral"  # messages waiting for a contact window to open
    TALLY = "tally"  # delivery status changes whose counting a dead worker left unfinished


@dataclass(frozen=True)
class DueEntry:
    kind: DueKind
    comm_id: str
    key: str  # the task id (also of a deferral), the unknown window's key, or "" for a watch
    due_at: float


@dataclass(frozen=True)
class TaskRef:
    """What rebuilds a task from its audience chunk."""

    chunk: int
    start: int
    plan_code: str
    urgent: bool
    deferred: bool = False


@dataclass(frozen=True)
class ParkedTask:
    task: SendTask
    token: str  # tells this parking from a later one of the same task


class SendLedger(Protocol):
    """The send pipeline's bookkeeping: planning, leases on send tasks with a cursor and an
    in-flight window, counters moved atomically with them, parked tasks, UNKNOWN messages and
    their reconciliation, and what the sweep must look at."""

    def mark_chunk_planned(
        self, comm_id: str, chunk_number: int, totals: dict[Channel, int], tasks: int
    ) -> bool:
        """Record a planned chunk and add its message and task totals, once; False if already planned."""
        ...

    def note_planning(self, comm_id: str, next_chunk: int, state: str, now: float) -> None:
        """Record where planning stands (state: queued | parked)."""
        ...

    def kick_planning(self, comm_id: str, next_chunk: int, now: float) -> bool:
        """Move parked planning back to queued; True for exactly one caller, who queues it."""
        ...

    def claim_task(self, task: SendTask, owner: str, lease_until: float, window: int) -> ClaimAttempt:
        """Take a new, released or parked task and open its first window of `window` messages."""
        ...

    def take_over(self, takeover: Takeover) -> bool:
        """Take a task whose lease expired (see Takeover); False if anything moved meanwhile."""
        ...

    def renew_lease(self, task: SendTask, owner: str, lease_until: float) -> bool:
        """Extend the lease; False when another worker took the task."""
        ...

    def commit_window(self, commit: WindowCommit) -> CommitResult: ...

    def task_state(self, comm_id: str, task_id: str) -> TaskState | None: ...

    def task_ref(self, comm_id: str, task_id: str) -> TaskRef | None: ...

    def parked_tasks(self, comm_id: str) -> list[ParkedTask]:
        """Every parked task of a communication."""
        ...

    def unpark(self, parked: Sequence[ParkedTask]) -> None:
        """Forget parked tasks once queued again (not one parked again since)."""
        ...

    def unknown_window(self, comm_id: str, key: str) -> list[str] | None:
        """The message ids of an UNKNOWN window still waiting to be settled."""
        ...

    def settle_unknown(self, comm_id: str, key: str, failed: Sequence[Message]) -> bool:
        """Record `failed` (UNKNOWN until now) as SEND_FAILED and count them; drop the window's entry.
        False when one of them moved meanwhile."""
        ...

    def confirm_sent(self, message: Message, provider: str | None, provider_message_id: str) -> bool:
        """Move a counted UNKNOWN (or outcome_unknown) message to SENT and fix the counters."""
        ...

    def record_proof(self, message: Message) -> bool:
        """Keep a provider's proof that a not yet recorded message was sent; whoever commits its
        window counts it. False when a record appeared meanwhile."""
        ...

    def due(self, now: float, limit: int) -> list[DueEntry]:
        """Leases, UNKNOWN windows and watches due by `now` (a sparse index, oldest first)."""
        ...

    def reschedule(self, entry: DueEntry, due_at: float | None) -> None:
        """Look at `entry` again at `due_at`, or never (None)."""
        ...

    def watch(self, comm_id: str, due_at: float) -> None:
        """Have the sweep look after a communication from `due_at` on."""
        ...

    def communication(self, comm_id: str) -> Communication | None:
        """The communication as it is now (a strongly consistent read)."""
        ...

    def deferral(self, comm_id: str, task_id: str) -> Deferral | None:
        """A waiting deferral, by its task id; None once its task is done."""
        ...

    def deferrals(self, comm_id: str) -> list[Deferral]:
        """Every waiting deferral of a communication (its own partition, page by page)."""
        ...

    def deferral_queued(self, comm_id: str, task_id: str, look_again_at: float) -> None:
        """Its task was queued: mark it so, and have the sweep look at it again at `look_again_at`."""
        ...

    def deferral_span(self, comm_id: str) -> tuple[float, float] | None:
        """The earliest and latest openings among a communication's waiting deferrals."""
        ...

    def planned_totals(self, comm_id: str) -> dict[Channel, int]:
        """Messages planned per channel, from the planned chunks."""
        ...

    def set_counters(self, comm_id: str, counts_by_channel: dict[Channel, Counts]) -> None:
        """Overwrite the counters (a rebuild from the records)."""
        ...


class MessageStore(Protocol):
    def put_many(self, messages: Sequence[Message]) -> None: ...

    def get(self, comm_id: str, message_id: str) -> Message | None: ...

    def get_many(self, comm_id: str, message_ids: Sequence[str]) -> dict[str, Message]:
        """The records that exist among `message_ids`, by id (batched, strongly consistent reads)."""
        ...

    def all_of(self, comm_id: str) -> Iterator[Message]:
        """Every record of a communication, page by page."""
        ...

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

    def enqueue_send_tasks(self, tasks: Sequence[SendTask], delay_s: int = 0) -> None:
        """Queue send tasks, urgent ones on the urgent lane."""
        ...


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class FleetRate:
    """The shared state of a provider's rate limit."""

    rate: float | None  # the current ceiling, when lowered after throttling
    throttled_at: float
    urgent_until: float


class RateLimitStore(Protocol):
    """Tokens shared by every worker of the fleet, one-second slots per provider."""

    def take(self, provider: str, slot: int, wanted: int, capacity: int) -> int:
        """Take up to `wanted` tokens of `slot` without going past `capacity`; returns how many."""
        ...

    def fleet_rate(self, provider: str) -> FleetRate: ...

    def lower_rate(self, provider: str, rate: float, now: float, cooldown_s: float) -> bool:
        """Lower the fleet's ceiling, at most once per cooldown; True when this call lowered it."""
        ...

    def raise_rate(self, provider: str, expected: float | None, rate: float | None) -> bool:
        """Move the ceiling from `expected` to `rate` (None: back to the configured one); False
        when it moved meanwhile."""
        ...

    def mark_urgent(self, provider: str, until: float) -> None:
        """Urgent messages are going out: bulk lanes leave them a share of each slot until `until`."""
        ...


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


class TemplateStore(Protocol):
    def create(self, template: Template) -> None: ...

    def get(self, template_id: str) -> Template | None: ...

    def list(self, cursor: str | None, limit: int) -> Page[Template]: ...

    def save(self, template: Template) -> None:
        """Replace an existing template; NotFound when it is gone."""
        ...

    def delete(self, template_id: str) -> bool:
        """Delete a template; False when there was none."""
        ...


class JobStore(Protocol):
    def create(self, job: Job) -> None: ...

    def get(self, job_id: str) -> Job | None: ...

    def update(self, job: Job) -> None: ...


class JobQueue(Protocol):
    def enqueue_job(self, job_id: str) -> None: ...


@dataclass(frozen=True)
class UploadTicket:
    """A presigned form upload: POST `fields` plus the file to `url` before `expires_at`."""

    url: str
    fields: dict[str, str]
    expires_at: datetime
    key: str


class FileStore(Protocol):
    """Large files (audience uploads, rejected-line lists, exports) kept outside the API's 6 MB bodies."""

    def upload_ticket(self, key: str, max_bytes: int, expires_s: int) -> UploadTicket: ...

    def read_chunks(self, key: str) -> Iterator[bytes]:
        """The file's bytes, streamed; FileNotFoundError when it is missing."""
        ...

    def write_lines(self, key: str, lines: Iterable[str], content_type: str) -> int:
        """Store the lines as one file (streamed); returns the bytes written."""
        ...

    def download_url(self, key: str, expires_s: int, filename: str) -> str: ...
