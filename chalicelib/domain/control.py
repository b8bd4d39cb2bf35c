"""Cancel, pause and resume a communication while it sends.

Workers see the status through a short-lived cache (`status_cache_s`), so a change takes effect
within seconds and costs no read per message. Pausing parks each task where it stands (its
lease released, its cursor kept, its queue body kept); resuming queues the parked tasks and
the parked planning again, so sending carries on exactly where it stopped. Cancelling is
final: pending messages are recorded CANCELLED as the remaining tasks pass through workers;
messages already with a provider finish. Messages waiting for their contact window (DEFERRED)
are held by a pause (their tasks park when they come due) and cancelled at once by a cancel
(their tasks are queued now, and record them CANCELLED).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.models import Admin, AuditAction, AuditEntry, Communication, CommunicationStatus
from chalicelib.domain.ports import AuditLog, Clock, CommunicationStore, SendLedger, WorkQueue
from chalicelib.domain.progress import kick_planning

logger = logging.getLogger(__name__)

_S = CommunicationStatus
CANCELLABLE = frozenset({_S.SCHEDULED, _S.IN_PROGRESS, _S.PAUSED})


@dataclass
class SendControl:
    communications: CommunicationStore
    ledger: SendLedger
    queue: WorkQueue
    clock: Clock
    # Each change is recorded with who asked for it (the sweep, which only wakes, has no log).
    audit: AuditLog | None = None

    def cancel(self, comm_id: str, by: Admin) -> Communication:
        """SCHEDULED, IN_PROGRESS or PAUSED → CANCELLED, for good. Asking again changes nothing.

        A scheduled one is best cancelled through CommunicationService.cancel, which also takes it
        out of the schedule index."""
        cancelled = self._move(comm_id, CANCELLABLE, _S.CANCELLED, by, AuditAction.CANCEL, wake=True)
        self.release_deferrals(comm_id)
        return cancelled

    def pause(self, comm_id: str, by: Admin) -> Communication:
        """IN_PROGRESS → PAUSED: no new message goes out until resumed."""
        return self._move(comm_id, frozenset({_S.IN_PROGRESS}), _S.PAUSED, by, AuditAction.PAUSE, wake=False)

    def resume(self, comm_id: str, by: Admin) -> Communication:
        """PAUSED → IN_PROGRESS: parked tasks and planning are queued again."""
        return self._move(comm_id, frozenset({_S.PAUSED}), _S.IN_PROGRESS, by, AuditAction.RESUME, wake=True)

    def wake(self, comm_id: str) -> int:
        """Queue a communication's parked tasks and parked planning again; returns the tasks queued."""
        parked = self.ledger.parked_tasks(comm_id)
        if parked:
            self.queue.enqueue_send_tasks([p.task for p in parked])
            self.ledger.unpark(parked)
        kick_planning(self.ledger, self.queue, self.ledger.communication(comm_id), self.clock.now(), None)
        return len(parked)

    def release_deferrals(self, comm_id: str, look_again_s: float = 120.0) -> int:
        """Queue the tasks of a communication's deferred messages now, rather than when their
        contact window opens (a cancelled communication records them CANCELLED). Deferrals
        already queued are left to the sweep. Returns the tasks queued."""
        waiting = [deferral for deferral in self.ledger.deferrals(comm_id) if not deferral.queued]
        if not waiting:
            return 0
        self.queue.enqueue_send_tasks([deferral.task for deferral in waiting])
        look_again_at = self.clock.now() + look_again_s
        for deferral in waiting:
            self.ledger.deferral_queued(comm_id, deferral.task.task_id, look_again_at)
        logger.info("deferred messages queued", extra={"comm_id": comm_id, "tasks": len(waiting)})
        return len(waiting)

    def _move(
        self,
        comm_id: str,
        allowed: frozenset[CommunicationStatus],
        target: CommunicationStatus,
        by: Admin,
        action: AuditAction,
        wake: bool,
    ) -> Communication:
        communication = self._get(comm_id)
        if communication.status is not target:
            source = communication.status
            if source not in allowed:
                raise Conflict(f"a {source} communication cannot become {target}")
            if not self.communications.change_status(comm_id, allowed, target):
                communication = self._get(comm_id)
                if communication.status is not target:
                    raise Conflict(f"a {communication.status} communication cannot become {target}")
            else:
                logger.info("communication status changed", extra={"comm_id": comm_id, "status": str(target)})
                if self.audit is not None:
                    details = {"from": str(source), "to": str(target)}
                    self.audit.record(AuditEntry.for_communication(comm_id, by, action, **details))
        if wake:
            # Also when asked again: a wake cut short by a crash is finished by the repeat
            # (or by the sweep).
            self.wake(comm_id)
        return self._get(comm_id)

    def _get(self, comm_id: str) -> Communication:
        communication = self.communications.get(comm_id)
        if communication is None:
            raise NotFound(f"communication {comm_id} not found")
        return communication
