"""Where a communication stands as its messages go out: finishing it, and feeding its planner."""

from __future__ import annotations

import logging

from chalicelib.domain.models import Communication, CommunicationStatus
from chalicelib.domain.ports import CommunicationStore, SendLedger, WorkQueue

logger = logging.getLogger(__name__)


def finish_if_done(store: CommunicationStore, communication: Communication | None) -> None:
    """End a communication once planning is over and no message is pending (UNKNOWN ones are)."""
    if communication is None or communication.status is not CommunicationStatus.IN_PROGRESS:
        return
    if not communication.planning_done:
        return
    counts = communication.counts
    if counts.pending > 0:
        return
    final = CommunicationStatus.FAILED if counts.send_failed else CommunicationStatus.COMPLETED
    if store.finish(communication.comm_id, final):
        logger.info("communication finished", extra={"comm_id": communication.comm_id, "status": str(final)})


def kick_planning(
    ledger: SendLedger,
    queue: WorkQueue,
    communication: Communication | None,
    now: float,
    low_water: int | None,
) -> bool:
    """Queue parked planning again once its queued tasks ran low (`low_water`; None: at once)."""
    if communication is None or communication.planning_done or communication.plan_state != "parked":
        return False
    if communication.status not in (CommunicationStatus.IN_PROGRESS, CommunicationStatus.CANCELLED):
        return False
    if low_water is not None and communication.tasks_outstanding > low_water:
        return False
    if not ledger.kick_planning(communication.comm_id, communication.plan_next, now):
        return False
    queue.enqueue_planning(communication.comm_id, communication.plan_next)
    return True
