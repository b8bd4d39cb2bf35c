"""Queue and schedule handlers: parse the event, call a service."""

from chalicelib.workers import plan, send, sweep

__all__ = ["plan", "send", "sweep"]
