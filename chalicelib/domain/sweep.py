"""The sweep (every minute): nothing stays in progress.

It reads what is due from a sparse index, never a scan: leases that may have expired (the
task is queued again, and the worker that receives it takes it over, turning the dead owner's
window UNKNOWN), UNKNOWN windows whose reconciliation time is over (settled as
outcome_unknown), deferrals whose contact window opened (their task is queued: it sends the
messages, or records them expired, cancelled, or parked by a pause), and each active
communication (planning that stalled or was parked too long, tasks parked by a pause that was
lifted, a finish that a crash cut short, deferred messages of a cancelled one), and delivery
tallies whose worker died before counting them.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from chalicelib.domain.control import SendControl
from chalicelib.domain.delivery import TallySettler
from chalicelib.domain.models import CommunicationStatus
from chalicelib.domain.ports import (
    AudienceStore,
    Clock,
    CommunicationStore,
    DueEntry,
    DueKind,
    SendLedger,
    SendTask,
    TaskPhase,
    WorkQueue,
)
from chalicelib.domain.progress import finish_if_done, kick_planning
from chalicelib.domain.reconciliation import Reconciler

logger = logging.getLogger(__name__)

_S = CommunicationStatus
ACTIVE = frozenset({_S.IN_PROGRESS, _S.PAUSED, _S.CANCELLED})
FINAL = frozenset({_S.COMPLETED, _S.FAILED, _S.CANCELLED})
PAGE = 100


@dataclass
class SweepPolicy:
    lease_s: float = 120.0
    plan_stall_s: float = 600.0
    watch_interval_s: float = 60.0
    planning_low_water: int = 20
    # Stop taking new entries after this long; the rest waits for the next run.
    budget_s: float = 45.0
    # How often a deferral whose task is queued, held or parked is looked at again.
    deferral_recheck_s: float = 600.0


@dataclass
class Sweeper:
    ledger: SendLedger
    reconciler: Reconciler
    communications: CommunicationStore
    audiences: AudienceStore
    queue: WorkQueue
    clock: Clock
    policy: SweepPolicy
    tallies: TallySettler

    def sweep(self) -> Counter[str]:
        """Handle what is due now; returns what was done, by kind."""
        started = self.clock.now()
        done: Counter[str] = Counter()
        while self.clock.now() - started < self.policy.budget_s:
            entries = self.ledger.due(self.clock.now(), PAGE)
            for entry in entries:
                done.update(self._handle(entry))
            if len(entries) < PAGE:
                break
        if done:
            logger.info("sweep", extra={"done": dict(done)})
        return done

    def _handle(self, entry: DueEntry) -> Counter[str]:
        if entry.kind is DueKind.TASK:
            return Counter([self._check_lease(entry)])
        if entry.kind is DueKind.UNKNOWN:
            given_up = self.reconciler.settle_window(entry.comm_id, entry.key)
            return Counter({"unknown_windows_closed": 1, "outcome_unknown": given_up})
        if entry.kind is DueKind.DEFERRAL:
            return Counter([self._release(entry)])
        if entry.kind is DueKind.TALLY:
            settled = self.tallies.settle_tally(entry.comm_id, entry.key)
            return Counter(["tally_settled" if settled else "tally_gone"])
        return Counter([self._look_after(entry)])

    def _release(self, entry: DueEntry) -> str:
        """A deferral is due: queue its task (again, if it never got going)."""
        deferral = self.ledger.deferral(entry.comm_id, entry.key)
        if deferral is None:
            return "deferral_gone"
        now = self.clock.now()
        if deferral.queued:
            state = self.ledger.task_state(entry.comm_id, entry.key)
            if state is not None and state.phase is TaskPhase.DONE:
                self.ledger.reschedule(entry, None)
                return "deferral_done"
            if state is not None and state.phase in (TaskPhase.CLAIMED, TaskPhase.PARKED):
                # A worker holds it (the lease sweep looks after that), or a pause parked it.
                self.ledger.reschedule(entry, now + self.policy.deferral_recheck_s)
                return "deferral_held"
        self.queue.enqueue_send_tasks([deferral.task])
        self.ledger.deferral_queued(entry.comm_id, entry.key, now + self.policy.deferral_recheck_s)
        return "deferral_queued"

    def _check_lease(self, entry: DueEntry) -> str:
        state = self.ledger.task_state(entry.comm_id, entry.key)
        if state is None or state.phase is not TaskPhase.CLAIMED:
            self.ledger.reschedule(entry, None)
            return "lease_gone"
        now = self.clock.now()
        if state.lease_until > now:
            self.ledger.reschedule(entry, state.lease_until)
            return "lease_renewed"
        task = self._rebuild(entry.comm_id, entry.key)
        if task is None:
            self.ledger.reschedule(entry, None)
            return "task_unknown"
        # Whoever receives it takes the task over; look again if nobody has by then.
        self.queue.enqueue_send_tasks([task])
        self.ledger.reschedule(entry, now + self.policy.lease_s)
        logger.warning(
            "lease expired: task queued again", extra={"comm_id": task.comm_id, "task_id": task.task_id}
        )
        return "lease_expired"

    def _rebuild(self, comm_id: str, task_id: str) -> SendTask | None:
        ref = self.ledger.task_ref(comm_id, task_id)
        if ref is None:
            return None
        if ref.deferred:
            deferral = self.ledger.deferral(comm_id, task_id)
            return deferral.task if deferral else None
        chunk = self.audiences.chunk(comm_id, ref.chunk) or []
        count = len(ref.plan_code.split("|"))
        account_ids = chunk[ref.start : ref.start + count]
        return SendTask.from_plan_code(
            comm_id, task_id, account_ids, ref.plan_code, ref.chunk, ref.start, ref.urgent
        )

    def _look_after(self, entry: DueEntry) -> str:
        communication = self.ledger.communication(entry.comm_id)
        if communication is None or communication.status not in ACTIVE | FINAL:
            # A send that never started (the status move lost a race, or it was unscheduled).
            self.ledger.reschedule(entry, None)
            return "watch_dropped"
        now = self.clock.now()
        if communication.status is not _S.PAUSED and self.ledger.parked_tasks(entry.comm_id):
            # A resume or cancel was cut short before it queued the parked tasks again.
            SendControl(self.communications, self.ledger, self.queue, self.clock).wake(entry.comm_id)
        if communication.status is not _S.PAUSED and not communication.planning_done:
            self._keep_planning(communication.comm_id, now)
        if communication.status is _S.CANCELLED and communication.counts.deferred > 0:
            # A cancel cut short before it queued the deferred messages' tasks.
            control = SendControl(self.communications, self.ledger, self.queue, self.clock)
            control.release_deferrals(entry.comm_id, self.policy.lease_s)
        finish_if_done(self.communications, communication)
        fresh = self.ledger.communication(entry.comm_id)
        if fresh is not None and fresh.status in FINAL and fresh.planning_done and fresh.counts.pending == 0:
            self.ledger.reschedule(entry, None)
            return "watch_finished"
        self.ledger.reschedule(entry, now + self.policy.watch_interval_s)
        return "watch"

    def _keep_planning(self, comm_id: str, now: float) -> None:
        communication = self.ledger.communication(comm_id)
        if communication is None:
            return
        if communication.plan_state == "parked":
            kick_planning(self.ledger, self.queue, communication, now, self.policy.planning_low_water)
            return
        touched = communication.plan_touched_at or (
            communication.started_at.timestamp() if communication.started_at else now
        )
        if now - touched > self.policy.plan_stall_s:
            logger.warning("planning stalled: queued again", extra={"comm_id": comm_id})
            self.ledger.note_planning(comm_id, communication.plan_next, "queued", now)
            self.queue.enqueue_planning(comm_id, communication.plan_next)
