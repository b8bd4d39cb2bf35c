"""The schedule run: every minute, start the scheduled communications whose time has come."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from chalicelib.domain.communications import CommunicationService
from chalicelib.domain.models import CommunicationStatus
from chalicelib.domain.ports import CommunicationStore

logger = logging.getLogger(__name__)

DUE_PAGE_SIZE = 100


@dataclass
class ScheduleRun:
    """What one run did, by communication id."""

    started: list[str] = field(default_factory=list)
    awaiting_approval: list[str] = field(default_factory=list)
    # Due but moved meanwhile (an overlapping run started it, an admin unscheduled or cancelled it).
    passed_over: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[str]]:
        return {
            "started": self.started,
            "awaiting_approval": self.awaiting_approval,
            "passed_over": self.passed_over,
            "errors": self.errors,
        }


@dataclass
class Scheduler:
    """Finds due communications through the store's schedule index and starts each one once."""

    communications: CommunicationStore
    service: CommunicationService
    page_size: int = DUE_PAGE_SIZE

    def run(self, now: datetime) -> ScheduleRun:
        run = ScheduleRun()
        cursor: str | None = None
        while True:
            page = self.communications.due(now, cursor, self.page_size)
            for comm_id in page.items:
                self._start(comm_id, now, run)
            cursor = page.next_cursor
            if cursor is None:
                return run

    def _start(self, comm_id: str, now: datetime, run: ScheduleRun) -> None:
        # One communication failing (a throttled write) must not hold back the others; it is
        # still SCHEDULED, so the next run picks it up again.
        try:
            result = self.service.start_scheduled(comm_id, now)
        except Exception:
            logger.exception("could not start a scheduled communication", extra={"comm_id": comm_id})
            run.errors.append(comm_id)
            return
        if result is None:
            run.passed_over.append(comm_id)
        elif result.status is CommunicationStatus.PENDING_APPROVAL:
            run.awaiting_approval.append(comm_id)
            logger.info("scheduled communication awaits approval", extra={"comm_id": comm_id})
        else:
            run.started.append(comm_id)
            logger.info("scheduled communication started", extra={"comm_id": comm_id})
