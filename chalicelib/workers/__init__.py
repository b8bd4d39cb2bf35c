"""Queue and schedule handlers: parse the event, call a service."""

from chalicelib.workers import events, plan, schedule, send

__all__ = ["events", "plan", "schedule", "send"]
