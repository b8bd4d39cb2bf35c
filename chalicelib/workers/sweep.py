"""The sweep, every minute: expired leases, UNKNOWN messages past their window, active communications."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.wiring import services

if TYPE_CHECKING:
    from chalicelib.wiring import Services


def handle(svc: Services | None = None) -> dict[str, Any]:
    return dict((svc or services()).sweeper.sweep())
