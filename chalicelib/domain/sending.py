"""The send pipeline: the planner turns an audience into send tasks; the sender works through a task.

Exactly once, in short. A task's messages have a fixed order. A worker claims the task with one
conditional write (a lease with an owner token and an expiry) that also opens an in-flight
window of positions [cursor, window_end): only those may be handed to a provider. When the
window is done its records are written, then one conditional write moves the cursor, keeps the
window's tallies on the task and opens the next window; the tallies reach the communication's
counters, in the same transaction as the cursor, when the lease ends (or every 30 s). A worker
that dies leaves at most one window in flight; whoever takes the task over after the lease
expired records that window as UNKNOWN (never resent) in the same transaction that takes the
lease, and provider events or the end of the reconciliation window settle it (see
reconciliation.py). A worker writes records only while its lease provably holds (it renews
first when half of it has gone), so a takeover and a slow worker never write the same window.

Contact hours and expiry are decided per message as it comes up: past the communication's
`expires_at` it is SKIPPED (`expired`); outside the account's contact window (unless urgent) it
is recorded DEFERRED, and the window's commit keeps the deferred messages as a Deferral: a send
task of just those messages, with a deterministic id, that the sweep queues when the window
opens. That task goes through the same claims and windows, replacing the DEFERRED records.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial

from chalicelib.domain.contact_hours import ContactDefaults, ContactWindows, is_open, zone_named
from chalicelib.domain.delivery import SuppressionList
from chalicelib.domain.errors import (
    OutcomeUnknown,
    PermanentFailure,
    SendFailure,
    Throttled,
    TransientFailure,
)
from chalicelib.domain.models import (
    IN_DOUBT_TEXT,
    SKIP_REASON_TEXT,
    TERMINAL_STATUSES,
    Account,
    Channel,
    Communication,
    CommunicationStatus,
    Counts,
    EmailContent,
    FailureCode,
    Message,
    MessageStatus,
    OutgoingEmail,
    OutgoingSms,
    SenderIdentity,
    SendResult,
    SkipReason,
    message_id_for,
    new_id,
    utc_now,
)
from chalicelib.domain.optout import UnsubscribeLinks, list_unsubscribe_headers
from chalicelib.domain.planning import (
    PlannedMessage,
    address_for,
    address_problem,
    apply_suppressions,
    choose_language,
    normalise_address,
    plan_channels,
)
from chalicelib.domain.ports import (
    AccountDirectory,
    AudienceStore,
    ClaimAttempt,
    Clock,
    CommitOutcome,
    CommitResult,
    CommunicationStore,
    Deferral,
    DiscardMetrics,
    EmailSender,
    MessageStore,
    MetricName,
    Metrics,
    PlannedAccount,
    SendLedger,
    SendTask,
    SmsSender,
    Takeover,
    TaskPhase,
    TaskState,
    WindowCommit,
    WorkQueue,
    add_counts,
)
from chalicelib.domain.progress import finish_if_done, kick_planning
from chalicelib.domain.ratelimit import RateLimiter
from chalicelib.domain.reconciliation import Reconciler
from chalicelib.domain.rendering import RenderError, render_message

logger = logging.getLogger(__name__)

# Statuses in which planning goes on: a cancelled communication is planned through, so every
# message of its audience ends with a record (CANCELLED, or SKIPPED for a reason known up front).
PLANNABLE = frozenset(
    {CommunicationStatus.IN_PROGRESS, CommunicationStatus.PAUSED, CommunicationStatus.CANCELLED}
)
SQS_MAX_DELAY_S = 900
# Tries at a storage write that failed after the SDK's own retries (sustained throttling).
STORAGE_ATTEMPTS = 3


class CommunicationCache:
    """A worker's view of communications, refreshed after `ttl_s`: pause and cancel are noticed
    within that, without a read per message (content never changes once sending started)."""

    def __init__(self, store: CommunicationStore, clock: Clock, ttl_s: float) -> None:
        self._store = store
        self._clock = clock
        self._ttl_s = ttl_s
        self._entries: dict[str, tuple[float, Communication]] = {}

    def get(self, comm_id: str, fresh: bool = False) -> Communication | None:
        now = self._clock.now()
        entry = self._entries.get(comm_id)
        if entry is not None and not fresh and now - entry[0] < self._ttl_s:
            return entry[1]
        communication = self._store.get(comm_id)
        if communication is None:
            self._entries.pop(comm_id, None)
            return None
        self._entries[comm_id] = (now, communication)
        return communication


@dataclass
class Planner:
    """Expands a communication's audience, chunk by chunk, into send tasks on the queue.

    It keeps at most `window_tasks` of a communication's tasks queued ahead and parks; the sender
    that brings them below half of that queues planning again. So a million-recipient
    communication does not fill the queue, and a second one gets its share of the workers.
    """

    communications: CommunicationStore
    audiences: AudienceStore
    directory: AccountDirectory
    ledger: SendLedger
    queue: WorkQueue
    clock: Clock
    task_size: int
    chunks_per_run: int
    window_tasks: int

    def plan(self, comm_id: str, first_chunk: int) -> None:
        communication = self.communications.get(comm_id)
        if communication is None or communication.status not in PLANNABLE or communication.planning_done:
            logger.info("nothing to plan", extra={"comm_id": comm_id})
            return
        # Chunks before plan_next were planned and queued by an earlier run.
        number = max(first_chunk, communication.plan_next)
        if communication.status is CommunicationStatus.PAUSED:
            self._park(communication, number)
            return
        outstanding = communication.tasks_outstanding
        chunks = communication.audience.chunks
        for _ in range(self.chunks_per_run):
            if number >= chunks or outstanding >= self.window_tasks:
                break
            outstanding += self._plan_chunk(communication, number)
            number += 1
        if number >= chunks:
            finish_if_done(self.communications, self.communications.mark_planning_done(comm_id))
        elif outstanding >= self.window_tasks:
            self._park(communication, number)
        else:
            self.ledger.note_planning(comm_id, number, "queued", self.clock.now())
            self.queue.enqueue_planning(comm_id, number)

    def _park(self, communication: Communication, number: int) -> None:
        self.ledger.note_planning(communication.comm_id, number, "parked", self.clock.now())
        # Tasks may have finished, or the communication resumed, while this run was parking.
        kick_planning(
            self.ledger,
            self.queue,
            self.ledger.communication(communication.comm_id),
            self.clock.now(),
            self.window_tasks // 2,
        )

    def _plan_chunk(self, communication: Communication, number: int) -> int:
        account_ids = self.audiences.chunk(communication.comm_id, number) or []
        accounts = self.directory.contacts(account_ids)
        planned = [
            PlannedAccount(
                account_id,
                tuple(m.channel for m in plan_channels(accounts.get(account_id), communication.channels)),
            )
            for account_id in account_ids
        ]
        totals = Counter(channel for account in planned for channel in account.channels)
        tasks = [
            SendTask(
                comm_id=communication.comm_id,
                task_id=f"{number:06d}-{index:04d}",
                accounts=tuple(planned[start : start + self.task_size]),
                chunk=number,
                start=start,
                urgent=communication.urgent,
            )
            for index, start in enumerate(range(0, len(planned), self.task_size))
        ]
        # Counted before queued: a redelivered chunk re-queues its tasks (claims make that harmless)
        # but never counts them twice.
        self.ledger.mark_chunk_planned(communication.comm_id, number, dict(totals), len(tasks))
        self.queue.enqueue_send_tasks(tasks)
        return len(tasks)


@dataclass
class SendPolicy:
    """How the sender holds tasks, retries and hands work back (from settings)."""

    window: int = 25
    # Provider calls a worker has in flight at once, among its window's messages: a call mostly
    # waits on the provider, and Lambda bills that wait.
    concurrency: int = 1
    lease_s: float = 120.0
    reconcile_window_s: float = 600.0
    handback_margin_s: float = 30.0
    attempts: int = 3
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    # Planning parked for a communication is queued again when fewer tasks than this are queued.
    planning_low_water: int = 20
    # A task's tallies reach the communication's counters when its lease ends, or this often.
    rollup_every_s: float = 30.0
    # A window's records are written this many at a time (a BatchWriteItem's worth) while its other
    # calls are still in flight, so few are left to write when the last call returns.
    record_batch: int = 25

    @property
    def renew_margin_s(self) -> float:
        return self.lease_s / 2


class LeaseLost(Exception):
    """Another worker took the task over: stop sending, write nothing more for it."""


class HandBack(Exception):
    """The provider keeps throttling and time is running out: the rest goes back to the queue."""

    def __init__(self, delay_s: float) -> None:
        super().__init__(f"handing back, retry in {delay_s:.0f} s")
        self.delay_s = delay_s


# What became of one position of a window: its message, or why it did not go.
type WindowOutcome = Message | HandBack | LeaseLost


class Stop(StrEnum):
    WINDOW_FULL = "window_full"
    DONE = "done"
    PAUSED = "paused"
    OUT_OF_TIME = "out_of_time"


def tally(messages: Sequence[Message]) -> dict[Channel, Counts]:
    """What terminal and DEFERRED records add to the counters (UNKNOWN ones are just pending)."""
    counts: dict[Channel, Counts] = {}
    for message in messages:
        if message.status in TERMINAL_STATUSES or message.status is MessageStatus.DEFERRED:
            counts.setdefault(message.channel, Counts()).record(message.status)
    return counts


def resumed(task: SendTask, positions: Sequence[tuple[str, Channel]]) -> dict[Channel, Counts]:
    """A deferral task's messages were DEFERRED: each one it gets through is deferred no more."""
    counts: dict[Channel, Counts] = {}
    if task.deferred:
        for _, channel in positions:
            counts.setdefault(channel, Counts()).deferred -= 1
    return counts


def deferral_task_id(task_id: str, window_start: int, until: float) -> str:
    """The id of the task sending a window's messages deferred to `until`: the same whoever
    works it out (a takeover), and sorting by opening (the zero-padded epoch second first)."""
    return f"{int(until):010d}~{task_id}@{window_start}"


def deferrals_of(task: SendTask, records: Sequence[Message]) -> tuple[Deferral, ...]:
    """The DEFERRED records among `records`, grouped into the tasks that send them when due."""
    grouped: dict[str, list[Message]] = {}
    for record in records:
        if record.status is MessageStatus.DEFERRED and record.deferral and record.deferral != task.task_id:
            grouped.setdefault(record.deferral, []).append(record)
    deferrals = []
    for deferral_id, messages in grouped.items():
        channels: dict[str, list[Channel]] = {}
        for message in messages:
            channels.setdefault(message.account_id, []).append(message.channel)
        accounts = tuple(PlannedAccount(account_id, tuple(c)) for account_id, c in channels.items())
        until = messages[0].deferred_until
        assert until is not None
        deferred_task = SendTask(task.comm_id, deferral_id, accounts, urgent=task.urgent, deferred=True)
        deferrals.append(Deferral(deferred_task, until.timestamp()))
    return tuple(deferrals)


@dataclass(frozen=True)
class _Operator:
    """What the operator's settings say for the messages of a window."""

    identity: SenderIdentity | None
    links: UnsubscribeLinks | None
    contact: ContactDefaults | None


@dataclass
class _Run:
    """One worker's hold on a task: the committed cursor and what the open window has done."""

    task: SendTask
    owner: str
    messages: list[tuple[str, Channel]]
    cursor: int
    window_end: int
    lease_until: float
    accounts: dict[str, Account] = field(default_factory=dict)
    # The suppressed (channel, address) pairs among the task's accounts, read once per run.
    suppressed: set[tuple[Channel, str]] = field(default_factory=set)
    records: list[Message] = field(default_factory=list)
    unknown: list[Message] = field(default_factory=list)
    # The ids of the window's records already stored (written while its calls were in flight).
    written: set[str] = field(default_factory=set)
    # Tallies of committed windows the task holds, not yet in the communication's counters.
    carried: dict[Channel, Counts] = field(default_factory=dict)
    rolled_up_at: float = 0.0
    handback_delay_s: float = 0.0
    # Stop this long before the deadline (less in a short invocation).
    margin_s: float = 0.0
    windows: ContactWindows = field(default_factory=ContactWindows)
    # Concurrent provider calls renew the lease one at a time.
    lease_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def reached(self) -> int:
        return self.cursor + len(self.records) + len(self.unknown)

    @property
    def total(self) -> int:
        return len(self.messages)

    def add(self, message: Message) -> None:
        (self.unknown if message.status is MessageStatus.UNKNOWN else self.records).append(message)

    def clear_window(self) -> None:
        self.records, self.unknown, self.written = [], [], set()


REPORTED_OUTCOMES = {
    MessageStatus.SENT: MetricName.MESSAGES_SENT,
    MessageStatus.SEND_FAILED: MetricName.MESSAGES_FAILED,
    MessageStatus.SKIPPED: MetricName.MESSAGES_SKIPPED,
}


@dataclass
class Sender:
    """Sends the messages of one task: fresh account data, language choice, rendering, provider, record."""

    communications: CommunicationStore
    directory: AccountDirectory
    messages: MessageStore
    ledger: SendLedger
    queue: WorkQueue
    email_sender: Callable[[], EmailSender]
    sms_sender: Callable[[], SmsSender]
    limiter: RateLimiter
    clock: Clock
    policy: SendPolicy = field(default_factory=SendPolicy)
    cache: CommunicationCache | None = None
    rng: random.Random = field(default_factory=random.Random)
    suppressions: SuppressionList | None = None
    # The operator's From / Reply-To / SMS sender, from a short-lived cache of the settings;
    # None leaves each provider adapter's configured sender.
    identity: Callable[[], SenderIdentity] | None = None
    metrics: Metrics = field(default_factory=DiscardMetrics)
    # Where unsubscribe links point and how they are signed; None: emails carry no unsubscribe link.
    unsubscribe_links: Callable[[], UnsubscribeLinks | None] = field(default=lambda: None)
    # The operator's default contact window and time zone, from the same cache; None: no
    # contact hours (every moment is open).
    contact: Callable[[], ContactDefaults] | None = None
    _executor: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    _storage_pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.cache is None:
            self.cache = CommunicationCache(self.communications, self.clock, 5.0)

    def _communication(self, comm_id: str, fresh: bool = False) -> Communication | None:
        assert self.cache is not None
        return self.cache.get(comm_id, fresh)

    def send(self, task: SendTask, deadline: float) -> None:
        """Work through `task` until it is done, handed back (time runs out), parked (paused) or
        lost to a takeover. `deadline` is when this worker will be stopped (clock seconds)."""
        communication = self._communication(task.comm_id)
        if communication is None:
            logger.warning("task for a missing communication", extra={"comm_id": task.comm_id})
            return
        # The task's accounts are read while it is claimed: both wait on storage, not on each other.
        reading = self._background().submit(self._read_accounts, communication, task)
        try:
            run = self._claim(task)
        finally:
            wait([reading])
        if run is None:
            return
        run.accounts, run.suppressed = reading.result()
        run.margin_s = min(self.policy.handback_margin_s, max(0.0, deadline - self.clock.now()) / 4)
        try:
            self._work(run, deadline)
        except LeaseLost:
            logger.warning(
                "lease lost: another worker took the task over",
                extra={"comm_id": task.comm_id, "task_id": task.task_id},
            )

    # -- claiming -----------------------------------------------------------------------------

    def _persist[T](self, operation: Callable[[], T], landed: Callable[[], T | None] | None = None) -> T:
        """A storage write, tried again when it failed after the SDK's own retries. `landed` tells,
        after a failure whose effect is unknown, whether the write took effect after all."""
        for attempt in range(1, STORAGE_ATTEMPTS + 1):
            try:
                return operation()
            except Exception:
                if landed is not None:
                    outcome = landed()
                    if outcome is not None:
                        return outcome
                if attempt == STORAGE_ATTEMPTS:
                    raise
                logger.warning("storage write failed; trying again", exc_info=True)
                self.clock.sleep(self._backoff(attempt))
        raise AssertionError("unreachable")

    def _ours(self, task: SendTask, owner: str) -> ClaimAttempt | None:
        state = self.ledger.task_state(task.comm_id, task.task_id)
        if state is not None and state.phase is TaskPhase.CLAIMED and state.owner == owner:
            return ClaimAttempt(True, state)
        return None

    def _claim(self, task: SendTask) -> _Run | None:
        owner = new_id()
        for _ in range(3):
            lease_until = self.clock.now() + self.policy.lease_s
            attempt = self._persist(
                partial(self.ledger.claim_task, task, owner, lease_until, self.policy.window),
                partial(self._ours, task, owner),
            )
            if attempt.claimed:
                return self._run(task, owner, attempt, lease_until)
            holder = attempt.state
            if holder is None or holder.phase is TaskPhase.DONE:
                logger.info("task already done", extra={"comm_id": task.comm_id, "task_id": task.task_id})
                return None
            if holder.phase is TaskPhase.CLAIMED:
                if holder.lease_until > self.clock.now():
                    # Its owner is at work; if it dies, the sweep queues the task again.
                    logger.info("task held by a live worker", extra={"task_id": task.task_id})
                    return None
                return self._take_over(task, holder, owner)
        return None

    def _run(self, task: SendTask, owner: str, attempt: ClaimAttempt, lease_until: float) -> _Run:
        assert attempt.state is not None
        return _Run(
            task=task,
            owner=owner,
            messages=task.messages(),
            cursor=attempt.state.cursor,
            window_end=attempt.state.window_end,
            lease_until=lease_until,
            carried=attempt.state.pending,
            rolled_up_at=self.clock.now(),
        )

    def _take_over(self, task: SendTask, stale: TaskState, owner: str) -> _Run | None:
        """The lease expired: its owner's window becomes UNKNOWN, then the task is ours."""
        messages = task.messages()
        window = messages[stale.cursor : min(stale.window_end, len(messages))]
        ids = [message_id_for(task.comm_id, account_id, channel) for account_id, channel in window]
        found = self.messages.get_many(task.comm_id, ids)
        now = self.clock.now()
        # Records found there were written by the owner before it died, or are providers' proofs:
        # nobody counted them yet. The rest are in doubt, and so are the DEFERRED records this
        # task (a deferral task) was to replace.
        counted, unknown = [], []
        for message_id, (account_id, channel) in zip(ids, window, strict=True):
            record = found.get(message_id)
            if record is None or _waiting_for(record, task):
                unknown.append(_in_doubt(task.comm_id, account_id, channel))
            else:
                counted.append(record)
        lease_until = now + self.policy.lease_s
        new_cursor = stale.cursor + len(window)
        takeover = Takeover(
            task=task,
            stale=stale,
            owner=owner,
            lease_until=lease_until,
            window_end=new_cursor + self.policy.window,
            counts=add_counts(stale.pending, tally(counted), resumed(task, window)),
            unknown=tuple(unknown),
            unknown_deadline=now + self.policy.reconcile_window_s,
            deferrals=deferrals_of(task, counted),
        )
        taken = self._persist(
            lambda: self.ledger.take_over(takeover), lambda: True if self._ours(task, owner) else None
        )
        if not taken:
            logger.info("takeover lost a race", extra={"task_id": task.task_id})
            return None
        logger.warning(
            "took over a task whose lease expired",
            extra={"comm_id": task.comm_id, "task_id": task.task_id, "in_doubt": len(unknown)},
        )
        return _Run(task, owner, messages, new_cursor, takeover.window_end, lease_until, rolled_up_at=now)

    # -- sending ------------------------------------------------------------------------------

    def _read_accounts(
        self, communication: Communication, task: SendTask
    ) -> tuple[dict[str, Account], set[tuple[Channel, str]]]:
        """The task's accounts, fresh, and their suppressed addresses."""
        accounts = self.directory.get_many(list(dict.fromkeys(a.account_id for a in task.accounts)))
        return accounts, self._suppressed(communication, accounts)

    def _work(self, run: _Run, deadline: float) -> None:
        while True:
            stop = self._fill_window(run, deadline)
            self._write_records(run)
            outcome = {
                Stop.DONE: CommitOutcome.DONE,
                Stop.WINDOW_FULL: CommitOutcome.OPEN,
                Stop.PAUSED: CommitOutcome.PARKED,
                Stop.OUT_OF_TIME: CommitOutcome.RELEASED,
            }[stop]
            outcome = self._commit(run, outcome)
            if outcome is CommitOutcome.DONE:
                now = self.clock.now()
                fresh = self.ledger.communication(run.task.comm_id)
                finish_if_done(self.communications, fresh)
                kick_planning(self.ledger, self.queue, fresh, now, self.policy.planning_low_water)
                return
            if outcome is CommitOutcome.RELEASED:
                delay = min(int(run.handback_delay_s), SQS_MAX_DELAY_S)
                self.queue.enqueue_send_tasks([run.task], delay_s=delay)
                logger.info("task handed back", extra={"task_id": run.task.task_id, "at": run.cursor})
                return
            if outcome is CommitOutcome.PARKED:
                logger.info("task parked: communication paused", extra={"task_id": run.task.task_id})
                return

    def _fill_window(self, run: _Run, deadline: float) -> Stop:
        limit = min(run.window_end, run.total)
        if run.reached < limit:
            communication = self._communication(run.task.comm_id)
            assert communication is not None
            if communication.status is CommunicationStatus.PAUSED:
                return Stop.PAUSED
            if self.clock.now() > deadline - run.margin_s:
                return Stop.OUT_OF_TIME
            outcomes = self._window_outcomes(run, communication, run.messages[run.reached : limit], deadline)
            handed_back = self._keep_outcomes(run, outcomes)
            if handed_back is not None:
                run.handback_delay_s = handed_back.delay_s
                return Stop.OUT_OF_TIME
        return Stop.DONE if run.reached >= run.total else Stop.WINDOW_FULL

    def _window_outcomes(
        self,
        run: _Run,
        communication: Communication,
        positions: Sequence[tuple[str, Channel]],
        deadline: float,
    ) -> list[WindowOutcome]:
        """Each position's message, in order, with up to `policy.concurrency` provider calls at once;
        HandBack or LeaseLost where a message did not go. With one call at a time, the positions
        after the first that did not go are not tried."""
        operator = self._operator(communication)

        def outcome(position: tuple[str, Channel]) -> WindowOutcome:
            try:
                return self._message(run, communication, operator, *position, deadline)
            except (HandBack, LeaseLost) as stopped:
                return stopped

        if self.policy.concurrency <= 1 or len(positions) <= 1:
            outcomes: list[WindowOutcome] = []
            for position in positions:
                outcomes.append(outcome(position))
                if not isinstance(outcomes[-1], Message):
                    break
            return outcomes
        # Built here, once: boto3 clients must not be created by several threads at a time.
        for channel in communication.channels:
            self.email_sender() if channel is Channel.EMAIL else self.sms_sender()
        futures = [self._pool().submit(outcome, position) for position in positions]
        writes = self._write_as_they_come(run, futures)
        # Every call and write ends before this invocation goes on (or fails): none outlives its window.
        wait(writes)
        for write in writes:
            run.written.update(write.result())
        return [future.result() for future in futures]

    def _write_as_they_come(self, run: _Run, futures: list[Future[WindowOutcome]]) -> list[Future[list[str]]]:
        """Store the window's records a batch at a time as its calls return, while the others are
        in flight; returns once every call is back. Storing one before the window commits is safe:
        a takeover counts the records it finds in the window it takes over."""
        writes: list[Future[list[str]]] = []
        ready: list[Message] = []
        for future in as_completed(futures):
            record = future.result() if future.exception() is None else None
            if isinstance(record, Message) and record.status is not MessageStatus.UNKNOWN:
                ready.append(record)
            if len(ready) >= self.policy.record_batch:
                writes.append(self._background().submit(self._store_early, run, ready))
                ready = []
        return writes

    def _store_early(self, run: _Run, records: list[Message]) -> list[str]:
        """The ids of `records` once stored; none if the lease could not be renewed (the window's
        end finds that out again, and says what went)."""
        if not self._renewed(run):
            return []
        self._persist(lambda: self.messages.put_many(records))
        return [record.message_id for record in records]

    def _operator(self, communication: Communication) -> _Operator:
        """The operator's settings for a window's messages, read once for all of them."""
        return _Operator(
            identity=self.identity() if self.identity else None,
            links=self.unsubscribe_links() if Channel.EMAIL in communication.channels else None,
            contact=self.contact() if self.contact else None,
        )

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.policy.concurrency, thread_name_prefix="send")
        return self._executor

    def _background(self) -> ThreadPoolExecutor:
        """For a task's reads while it is claimed, and its windows' record writes while calls are out."""
        if self._storage_pool is None:
            self._storage_pool = ThreadPoolExecutor(2, thread_name_prefix="storage")
        return self._storage_pool

    def _keep_outcomes(self, run: _Run, outcomes: Sequence[WindowOutcome]) -> HandBack | None:
        """Add the window's outcomes to `run` up to the last message decided; a message before it
        that the provider's throttling held back is DEFERRED, so positions stay contiguous. Returns
        the hand-back of the positions after it, if any."""
        if any(isinstance(outcome, LeaseLost) for outcome in outcomes):
            # Nothing more is written for this task: only what went is worth sharing.
            for outcome in outcomes:
                if isinstance(outcome, Message):
                    run.add(outcome)
            self._share_what_we_know(run)
            raise LeaseLost()
        decided = [index for index, outcome in enumerate(outcomes) if isinstance(outcome, Message)]
        kept = outcomes[: decided[-1] + 1] if decided else []
        for position, outcome in zip(run.messages[run.reached :], kept, strict=False):
            run.add(outcome if isinstance(outcome, Message) else self._held_back(run, *position, outcome))
        # The positions after the last message decided go back to the queue with the rest.
        handbacks = [outcome for outcome in outcomes[len(kept) :] if isinstance(outcome, HandBack)]
        return max(handbacks, key=lambda handback: handback.delay_s) if handbacks else None

    def _held_back(self, run: _Run, account_id: str, channel: Channel, stopped: WindowOutcome) -> Message:
        """A message the provider's throttling kept from going while later ones went: it is
        sent by a deferral task once the throttling should be over."""
        assert isinstance(stopped, HandBack)
        until = datetime.fromtimestamp(self.clock.now() + max(stopped.delay_s, 1.0), UTC)
        message = Message(
            comm_id=run.task.comm_id, account_id=account_id, channel=channel, status=MessageStatus.DEFERRED
        )
        message.deferred_until, message.error = until, THROTTLED_TEXT
        message.deferral = deferral_task_id(run.task.task_id, run.cursor, until.timestamp())
        message.updated_at = utc_now()
        return message

    def _write_records(self, run: _Run) -> None:
        records = [record for record in run.records if record.message_id not in run.written]
        if records:
            self._hold_lease(run)
            self._persist(lambda: self.messages.put_many(records))
            run.written.update(record.message_id for record in records)

    def _commit(self, run: _Run, outcome: CommitOutcome) -> CommitOutcome:
        while True:
            now = self.clock.now()
            lease_until = now + self.policy.lease_s
            reached = run.reached
            next_end = reached + self.policy.window if outcome is CommitOutcome.OPEN else reached
            commit = WindowCommit(
                task=run.task,
                owner=run.owner,
                start=run.cursor,
                reached=reached,
                outcome=outcome,
                next_window_end=next_end,
                lease_until=lease_until,
                counts=add_counts(tally(run.records), resumed(run.task, run.messages[run.cursor : reached])),
                carried=run.carried,
                rollup=now - run.rolled_up_at >= self.policy.rollup_every_s,
                unknown=tuple(run.unknown),
                unknown_deadline=now + self.policy.reconcile_window_s,
                deferrals=deferrals_of(run.task, run.records),
            )
            result = self._persist(
                partial(self.ledger.commit_window, commit), partial(self._committed, commit)
            )
            if result is CommitResult.COMMITTED:
                self._report(run.records)
                run.cursor, run.window_end, run.lease_until = reached, next_end, lease_until
                if commit.rolls_up:
                    run.carried, run.rolled_up_at = {}, now
                else:
                    run.carried = add_counts(run.carried, commit.counts)
                run.clear_window()
                return outcome
            if result is CommitResult.LEASE_LOST:
                self._share_what_we_know(run)
                raise LeaseLost()
            if result is CommitResult.NOT_PAUSED:
                # Resumed (or cancelled) meanwhile: carry on.
                self._communication(run.task.comm_id, fresh=True)
                outcome = CommitOutcome.OPEN
                continue
            self._adopt_proofs(run)

    def _report(self, records: Sequence[Message]) -> None:
        """One count per (outcome, channel) per window, not one per message."""
        outcomes = Counter(
            (REPORTED_OUTCOMES[record.status], record.channel)
            for record in records
            if record.status in REPORTED_OUTCOMES
        )
        for (name, channel), value in sorted(outcomes.items()):
            self.metrics.count(name, value, {"channel": str(channel)})

    def _committed(self, commit: WindowCommit) -> CommitResult | None:
        """After a commit failed without saying how: did it land?"""
        state = self.ledger.task_state(commit.task.comm_id, commit.task.task_id)
        if state is None or state.cursor != commit.reached:
            return None
        if commit.outcome is CommitOutcome.OPEN:
            return CommitResult.COMMITTED if state.owner == commit.owner else None
        return CommitResult.COMMITTED if state.phase == str(commit.outcome) else None

    def _adopt_proofs(self, run: _Run) -> None:
        """A provider's event proved some in-doubt messages of this window were sent."""
        found = self.messages.get_many(run.task.comm_id, [m.message_id for m in run.unknown])
        still_unknown = []
        for message in run.unknown:
            proof = found.get(message.message_id)
            if proof is None or proof.status is MessageStatus.DEFERRED:
                still_unknown.append(message)
                continue
            message.status, message.error = MessageStatus.SENT, None
            message.provider = proof.provider or message.provider
            message.provider_message_id = proof.provider_message_id
            message.sent_at = proof.sent_at or utc_now()
            run.records.append(message)
        run.unknown = still_unknown
        self._write_records(run)

    def _share_what_we_know(self, run: _Run) -> None:
        """We lost the lease with messages of our window handed to the provider: they are now
        UNKNOWN (or about to be); say which were sent so they need not wait for events."""
        reconciler = Reconciler(self.ledger, self.messages, self.communications)
        for record in run.records:
            if record.status is MessageStatus.SENT and record.provider_message_id:
                reconciler.reconcile_from_event(
                    record.comm_id,
                    record.message_id,
                    record.provider_message_id,
                    provider=record.provider,
                    account_id=record.account_id,
                    channel=record.channel,
                )

    def _hold_lease(self, run: _Run) -> None:
        """Renew the lease once half of it has gone; raise LeaseLost if it was taken over."""
        if not self._renewed(run):
            self._share_what_we_know(run)
            raise LeaseLost()

    def _renewed(self, run: _Run) -> bool:
        """Renew the lease once half of it has gone: False when it was taken over."""
        with run.lease_lock:
            now = self.clock.now()
            if now < run.lease_until - self.policy.renew_margin_s:
                return True
            lease_until = now + self.policy.lease_s
            if not self._persist(lambda: self.ledger.renew_lease(run.task, run.owner, lease_until)):
                return False
            run.lease_until = lease_until
            return True

    # -- deciding messages ----------------------------------------------------------------------

    def outline(
        self, communication: Communication, account_ids: Sequence[str], accounts: dict[str, Account]
    ) -> list[Message]:
        """The messages these accounts get, as decided before any provider call.

        SKIPPED ones carry their reason; the others are QUEUED with address, language and the
        account fields they render with. Preview and dry run call this too, so they agree with a send.
        """
        messages: list[Message] = []
        suppressed = self._suppressed(communication, accounts)
        for account_id in account_ids:
            account = accounts.get(account_id)
            planned_messages = apply_suppressions(
                plan_channels(account, communication.channels), account, suppressed
            )
            for planned in planned_messages:
                messages.append(_outlined(communication, account_id, account, planned))
        return messages

    def _suppressed(
        self, communication: Communication, accounts: dict[str, Account]
    ) -> set[tuple[Channel, str]]:
        """The accounts' suppressed addresses, in one batched read."""
        if self.suppressions is None:
            return set()
        wanted = [
            (channel, normalise_address(channel, address))
            for account in accounts.values()
            for channel in communication.channels
            if (address := address_for(account, channel))
        ]
        return self.suppressions.suppressed(wanted) if wanted else set()

    # -- one message --------------------------------------------------------------------------

    def _skip_reason(self, account: Account | None, channel: Channel) -> SkipReason | None:
        """Why, with the account as it is now, the planned message must not go out."""
        if account is None:
            return SkipReason.ACCOUNT_MISSING
        if channel not in account.channels:
            return SkipReason.NO_PREFERRED_CHANNEL
        if not account.is_active:
            return SkipReason.ACCOUNT_INACTIVE
        return address_problem(account, channel)

    def _message(
        self,
        run: _Run,
        communication: Communication,
        operator: _Operator,
        account_id: str,
        channel: Channel,
        deadline: float,
    ) -> Message:
        account = run.accounts.get(account_id)
        message = Message(
            comm_id=communication.comm_id, account_id=account_id, channel=channel, status=MessageStatus.QUEUED
        )
        message.address = address_for(account, channel) if account else None
        (planned,) = apply_suppressions(
            [PlannedMessage(channel, self._skip_reason(account, channel))], account, run.suppressed
        )
        skip = planned.skip_reason
        if skip is not None:
            message.status, message.skip_reason = MessageStatus.SKIPPED, skip
            message.error, message.error_code = SKIP_REASON_TEXT[skip], str(skip)
            return message
        assert account is not None and message.address is not None
        if communication.status is CommunicationStatus.CANCELLED:
            message.status = MessageStatus.CANCELLED
            return message
        message.language = choose_language(communication, channel, account).language
        if self._waits(run, communication, operator.contact, account, message):
            return message
        message.render_context = account.render_context()
        try:
            attempt = self._outgoing(communication, operator, message, account)
        except RenderError as error:
            return _failed(message, FailureCode.TEMPLATE_ERROR, f"template error: {error}")
        provider = self.email_sender().name if channel is Channel.EMAIL else self.sms_sender().name
        message.provider = provider
        try:
            result = self._deliver(run, provider, attempt, deadline)
        except OutcomeUnknown as doubt:
            message.status, message.error = MessageStatus.UNKNOWN, f"{IN_DOUBT_TEXT} ({doubt.reason})"
        except PermanentFailure as failure:
            return _failed(message, FailureCode.PROVIDER_REJECTED, failure.reason)
        except _RetriesExhausted as exhausted:
            return _failed(message, FailureCode.RETRIES_EXHAUSTED, exhausted.reason)
        else:
            message.status = MessageStatus.SENT
            message.provider, message.provider_message_id = result.provider, result.provider_message_id
            message.sent_at = utc_now()
        message.updated_at = utc_now()
        return message

    def _waits(
        self,
        run: _Run,
        communication: Communication,
        defaults: ContactDefaults | None,
        account: Account,
        message: Message,
    ) -> bool:
        """Past the communication's expiry, SKIPPED; outside the account's contact window, DEFERRED
        to its next opening (SKIPPED when that is past the expiry). True when it is not sent now."""
        now = datetime.fromtimestamp(self.clock.now(), UTC)
        expires_at = communication.expires_at
        if expires_at is None or now < expires_at:
            if communication.urgent or defaults is None:
                return False
            hours = communication.contact_hours or defaults.hours
            zone = zone_named(account.timezone, defaults.timezone)
            if is_open(hours, zone, now):
                return False
            opening = run.windows.opening(hours, zone, now)
            if expires_at is None or opening < expires_at:
                message.status, message.deferred_until = MessageStatus.DEFERRED, opening
                message.deferral = deferral_task_id(run.task.task_id, run.cursor, opening.timestamp())
                message.updated_at = utc_now()
                return True
        message.status, message.skip_reason = MessageStatus.SKIPPED, SkipReason.EXPIRED
        message.error, message.error_code = SKIP_REASON_TEXT[SkipReason.EXPIRED], str(SkipReason.EXPIRED)
        message.updated_at = utc_now()
        return True

    def _outgoing(
        self, communication: Communication, operator: _Operator, message: Message, account: Account
    ) -> Callable[[], SendResult]:
        assert message.address is not None and message.language is not None
        # Provider events carry these tags back, so each maps to its message without guessing.
        tags = {
            "comm_id": communication.comm_id,
            "message_id": message.message_id,
            "account_id": message.account_id,
            "channel": str(message.channel),
        }
        rendered = render_message(communication, message.channel, message.language, account.render_context())
        identity = operator.identity
        if isinstance(rendered, EmailContent):
            headers = list_unsubscribe_headers(operator.links, communication, message)
            outgoing_email = OutgoingEmail(
                message.address, rendered.subject, rendered.html, rendered.text, tags, identity, headers
            )
            return lambda: self.email_sender().send(outgoing_email)
        sender_id = identity.sms_sender if identity else None
        outgoing_sms = OutgoingSms(message.address, rendered.body, tags, sender_id=sender_id)
        return lambda: self.sms_sender().send(outgoing_sms)

    def _deliver(
        self, run: _Run, provider: str, attempt: Callable[[], SendResult], deadline: float
    ) -> SendResult:
        """Hand one message to its provider, retrying by error class.

        Throttled proves the provider did not take it: wait (with jitter) and try again, without
        counting a failure, or hand the task back when time runs short. TransientFailure also
        proves non-acceptance: a bounded number of attempts. OutcomeUnknown and PermanentFailure
        go straight up: the first is never resent, the second never helps.
        """
        failures = 0
        throttles = 0
        while True:
            self.limiter.acquire(provider, urgent=run.task.urgent)
            if not self._renewed(run):
                # The window's other calls may be in flight: their caller shares what went.
                raise LeaseLost()
            if self.clock.now() > deadline - run.margin_s:
                raise HandBack(self._backoff(max(throttles, 1)))
            started = self.clock.now()
            try:
                return attempt()
            except Throttled:
                self.metrics.count(MetricName.PROVIDER_THROTTLES)
                self.limiter.throttled(provider)
                throttles += 1
                delay = self._backoff(throttles)
                if self.clock.now() + delay > deadline - run.margin_s:
                    raise HandBack(delay) from None
                self.clock.sleep(delay)
            except TransientFailure as failure:
                failures += 1
                if failures >= self.policy.attempts:
                    raise _RetriesExhausted(
                        f"{failure.reason} (gave up after {failures} attempts)"
                    ) from failure
                self.clock.sleep(self._backoff(failures))
            finally:
                self.limiter.observe(provider, self.clock.now() - started)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter."""
        ceiling = min(self.policy.max_delay_s, self.policy.base_delay_s * 2 ** (attempt - 1))
        return self.rng.uniform(ceiling / 2, ceiling)


THROTTLED_TEXT = "deferred: the provider was throttling sending; it goes again once that should be over"


class _RetriesExhausted(SendFailure):
    pass


def _failed(message: Message, code: FailureCode, error: str) -> Message:
    message.status, message.error_code, message.error = MessageStatus.SEND_FAILED, str(code), error
    message.updated_at = utc_now()
    return message


def _waiting_for(record: Message, task: SendTask) -> bool:
    """A DEFERRED record this (deferral) task is to replace: nothing was recorded over it yet."""
    return record.status is MessageStatus.DEFERRED and record.deferral == task.task_id


def _in_doubt(comm_id: str, account_id: str, channel: Channel) -> Message:
    return Message(
        comm_id=comm_id,
        account_id=account_id,
        channel=channel,
        status=MessageStatus.UNKNOWN,
        error=f"{IN_DOUBT_TEXT} (the worker sending it stopped before recording it)",
    )


def _outlined(
    communication: Communication, account_id: str, account: Account | None, planned: PlannedMessage
) -> Message:
    message = Message(
        comm_id=communication.comm_id,
        account_id=account_id,
        channel=planned.channel,
        status=MessageStatus.QUEUED,
    )
    message.address = address_for(account, planned.channel) if account else None
    if planned.skip_reason is not None or account is None:
        message.status = MessageStatus.SKIPPED
        message.skip_reason = planned.skip_reason
        message.error = SKIP_REASON_TEXT[planned.skip_reason] if planned.skip_reason else None
        return message
    message.language = choose_language(communication, planned.channel, account).language
    message.render_context = account.render_context()
    return message
