"""Queue and schedule handlers: parse the event, call a service."""

from chalicelib.workers import plan, send

__all__ = ["plan", "send"]
