"""Queue and schedule handlers: parse the event, call a service."""

from chalicelib.workers import audience_import, event_files, events, jobs, plan, schedule, send, sweep

__all__ = ["audience_import", "event_files", "events", "jobs", "plan", "schedule", "send", "sweep"]
