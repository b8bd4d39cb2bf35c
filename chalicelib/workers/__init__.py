"""Queue and schedule handlers: parse the event, call a service."""

from chalicelib.workers import plan, schedule, send

__all__ = ["plan", "schedule", "send"]
