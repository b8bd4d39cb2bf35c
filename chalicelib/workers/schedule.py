"""The schedule handler: every minute, start the scheduled communications that are due."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.models import utc_now
from chalicelib.wiring import services


def handle(event: dict[str, Any]) -> dict[str, list[str]]:
    """Run on EventBridge's tick (the local stack's ticker sends the same event)."""
    return services().scheduler.run(utc_now()).to_dict()
