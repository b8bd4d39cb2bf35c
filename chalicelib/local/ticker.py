"""Run the app's scheduled functions (``@app.schedule``) the way EventBridge would, on a thread.

Locally they run every ``interval_s`` seconds (HERALD_LOCAL_TICK_S, default 5) instead of their
deployed rate, so the sweep recovers crashed work within seconds in a demo or a test.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.local.pollers import FakeLambdaContext

log = logging.getLogger("herald.local.ticker")


@dataclass(frozen=True)
class Scheduled:
    name: str
    handler: Callable[[dict[str, Any], Any], Any]


def scheduled_from_app(app_module: Any) -> list[Scheduled]:
    """The functions the Chalice app schedules."""
    from chalice.app import ScheduledEventConfig

    return [
        Scheduled(source.name, getattr(app_module, source.name))
        for source in app_module.app.event_sources
        if isinstance(source, ScheduledEventConfig)
    ]


def scheduled_event(name: str, region: str = "us-east-1") -> dict[str, Any]:
    """The event EventBridge passes to a scheduled Lambda function."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:123456789012:rule/{name}"],
        "detail": {},
    }


class ScheduleTicker:
    def __init__(self, scheduled: list[Scheduled], interval_s: float, stop_event: threading.Event) -> None:
        self.scheduled = scheduled
        self.interval_s = interval_s
        self.stop_event = stop_event
        self._thread = threading.Thread(target=self._run, name="schedule-ticker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10) -> None:
        self.stop_event.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def tick(self) -> None:
        for job in self.scheduled:
            try:
                job.handler(
                    scheduled_event(job.name), FakeLambdaContext(function_name=job.name, timeout_s=60)
                )
            except Exception:
                log.exception("scheduled function %s failed", job.name)

    def _run(self) -> None:
        while not self.stop_event.wait(self.interval_s):
            self.tick()
