"""Queue and schedule handlers: parse the event, call a service."""

from chalicelib.workers import plan, schedule, send, sweep

__all__ = ["plan", "schedule", "send", "sweep"]
