"""Run the app's ``@app.schedule`` handlers on a timer, the way EventBridge's rules invoke them.

Each tick builds the event an EventBridge scheduled rule sends ("Scheduled Event" from
``aws.events``) and calls the handler with a Lambda-shaped context. Locally the interval is
configurable (``--tick-seconds``), so a schedule can fire sooner than the deployed rule's rate.
A handler that raises is logged and called again on the next tick, as the next rule firing would.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.models import iso, utc_now
from chalicelib.local import MOTO_ACCOUNT_ID
from chalicelib.local.pollers import FakeLambdaContext

log = logging.getLogger("herald.local.ticker")

ScheduleHandler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class ScheduledFunction:
    """One ``@app.schedule`` function: its name, its rule's expression, and its handler."""

    name: str
    expression: str
    handler: ScheduleHandler
    timeout_s: int = 60
    memory_mb: int = 512


def scheduled_event(rule_name: str, region: str) -> dict[str, Any]:
    """The event an EventBridge scheduled rule delivers to its Lambda target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": MOTO_ACCOUNT_ID,
        "time": iso(utc_now()),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{MOTO_ACCOUNT_ID}:rule/{rule_name}"],
        "detail": {},
    }


def scheduled_functions_from_app(
    app_module: Any, function_config: Callable[[str], tuple[int, int]]
) -> list[ScheduledFunction]:
    """The schedule handlers the Chalice app declares (``@app.schedule``)."""
    from chalice.app import ScheduledEventConfig

    functions = []
    for source in app_module.app.event_sources:
        if not isinstance(source, ScheduledEventConfig):
            continue
        expression = source.schedule_expression
        timeout_s, memory_mb = function_config(source.name)
        functions.append(
            ScheduledFunction(
                name=source.name,
                expression=expression if isinstance(expression, str) else expression.to_string(),
                handler=getattr(app_module, source.name),
                timeout_s=timeout_s,
                memory_mb=memory_mb,
            )
        )
    return functions


class ScheduleTicker:
    """Calls every scheduled function each ``interval_s`` seconds on a thread of its own."""

    def __init__(
        self,
        functions: list[ScheduledFunction],
        interval_s: float,
        *,
        region: str = "us-east-1",
        stop_event: threading.Event | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("the tick interval must be positive")
        self.functions = functions
        self.interval_s = interval_s
        self._region = region
        self.stop_event = stop_event or threading.Event()
        self._busy = threading.Event()
        self.ticks = 0
        self._thread = threading.Thread(target=self._run, name="schedule-ticker", daemon=True)

    @property
    def busy(self) -> bool:
        return self._busy.is_set()

    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout_s: float | None = 10) -> None:
        self.stop_event.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self.stop_event.wait(self.interval_s):
            self.tick()

    def tick(self) -> list[Any]:
        """Invoke each scheduled function once; returns what each handler returned (None if it raised)."""
        self._busy.set()
        try:
            return [self._invoke(function) for function in self.functions]
        finally:
            self.ticks += 1
            self._busy.clear()

    def _invoke(self, function: ScheduledFunction) -> Any:
        context = FakeLambdaContext(
            function_name=function.name,
            memory_limit_in_mb=function.memory_mb,
            timeout_s=function.timeout_s,
            region=self._region,
        )
        try:
            result = function.handler(scheduled_event(f"herald-{function.name}", self._region), context)
        except Exception:
            log.exception("%s raised; it runs again on the next tick", function.name)
            return None
        log.debug("%s: %s", function.name, result)
        return result
