"""Domain errors. The API maps them to HTTP answers; adapters raise the send failures."""

from __future__ import annotations

from typing import Any


class HeraldError(Exception):
    """Base of every error Herald reports to a caller."""

    code = "error"
    status = 500

    def __init__(self, message: str, details: list[Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class Unauthorized(HeraldError):
    code, status = "unauthorized", 401


class Forbidden(HeraldError):
    code, status = "forbidden", 403


class NotFound(HeraldError):
    code, status = "not_found", 404


class ValidationError(HeraldError):
    code, status = "validation_error", 422


class BadRequest(ValidationError):
    """Input that cannot be parsed at all (malformed JSON, not a CSV)."""

    status = 400


class Conflict(HeraldError):
    code, status = "conflict", 409


class PayloadTooLarge(HeraldError):
    code, status = "payload_too_large", 413


class UnsupportedMediaType(HeraldError):
    code, status = "unsupported_media_type", 415


class SendFailure(Exception):
    """A provider did not take a message; `reason` is what an admin reads."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Throttled(SendFailure):
    """The provider asked us to slow down; the message can be retried later."""


class TransientFailure(SendFailure):
    """A passing fault that proves the provider did not take the message (connection refused, an
    explicit 5xx answer); it can be retried."""


class OutcomeUnknown(SendFailure):
    """The provider may or may not have taken the message (a read timeout, a dropped connection,
    a gateway timeout): never resent; its events settle it."""


class PermanentFailure(SendFailure):
    """The provider refused this message for good; retrying would not help."""
