"""Queue and schedule handlers: parse the event, call a service."""

from chalicelib.workers import events, plan, send

__all__ = ["events", "plan", "send"]
