"""The operator's settings: sender identity, defaults, providers, limits, approval and retention.

One stored record, edited through `GET|PUT /settings`; until an admin saves it, the defaults
come from the environment (chalicelib/settings.py). Hot paths (every send task) read it
through `SettingsService.current()`, a short in-process cache, never once per message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from chalicelib.domain.contact_hours import ContactDefaults
from chalicelib.domain.errors import Conflict
from chalicelib.domain.models import (
    SETTINGS_AUDIT_SUBJECT,
    Admin,
    AuditAction,
    AuditEntry,
    Channel,
    ContactHours,
    Page,
    SenderIdentity,
    iso,
    utc_now,
)
from chalicelib.domain.ports import AuditLog, SettingsStore

# The providers Herald has an adapter for, per channel (chalicelib/wiring.py builds them).
KNOWN_PROVIDERS: dict[Channel, tuple[str, ...]] = {
    Channel.EMAIL: ("ses", "sendgrid", "mailgun"),
    Channel.SMS: ("sns", "eum", "twilio"),
}

# Message records must outlive the longest wait of a message (a deferral to the next contact
# window spans a weekend at most), so retention has a floor.
MIN_RETENTION_DAYS = 7
MAX_RETENTION_DAYS = 3650
SAVE_ATTEMPTS = 3


@dataclass(frozen=True)
class Providers:
    email: str
    sms: str

    def to_api(self) -> dict[str, str]:
        return {"email": self.email, "sms": self.sms}


@dataclass(frozen=True)
class RateLimits:
    """Messages per second handed to each channel's provider."""

    email_per_s: float
    sms_per_s: float

    def to_api(self) -> dict[str, float]:
        return {"email_per_s": self.email_per_s, "sms_per_s": self.sms_per_s}


@dataclass(frozen=True)
class OperatorSettings:
    from_email: str
    from_name: str
    reply_to: str | None
    sms_sender: str | None
    default_language: str
    default_timezone: str
    contact_hours: ContactHours
    providers: Providers
    rate_limits: RateLimits
    # Audience size above which a send waits for a second admin's approval; None or 0: never.
    approval_threshold: int | None
    retention_days: int
    version: int = 0
    updated_at: datetime | None = None
    updated_by: Admin | None = None

    @property
    def identity(self) -> SenderIdentity:
        return SenderIdentity(self.from_email, self.from_name, self.reply_to, self.sms_sender)

    @property
    def contact_defaults(self) -> ContactDefaults:
        return ContactDefaults(self.contact_hours, self.default_timezone)

    @property
    def retention_seconds(self) -> int:
        return self.retention_days * 86_400

    def to_api(self) -> dict[str, Any]:
        return {
            "from_email": self.from_email,
            "from_name": self.from_name,
            "reply_to": self.reply_to,
            "sms_sender": self.sms_sender,
            "default_language": self.default_language,
            "default_timezone": self.default_timezone,
            "contact_hours": self.contact_hours.to_api(),
            "providers": self.providers.to_api(),
            "rate_limits": self.rate_limits.to_api(),
            "approval_threshold": self.approval_threshold,
            "retention_days": self.retention_days,
            "updated_at": iso(self.updated_at),
            "updated_by": self.updated_by.to_api() if self.updated_by else None,
        }


@dataclass(frozen=True)
class ProviderCeilings(Mapping[str, float]):
    """Messages per second the fleet may hand each provider: the operator's limit for its channel.

    Read through `SettingsService.current()`, so a change an admin saves reaches every worker
    within the settings cache's lifetime.
    """

    settings: Callable[[], OperatorSettings]

    def _by_provider(self) -> dict[str, float]:
        limits = self.settings().rate_limits
        per_channel = {Channel.EMAIL: limits.email_per_s, Channel.SMS: limits.sms_per_s}
        return {name: per_channel[channel] for channel, names in KNOWN_PROVIDERS.items() for name in names}

    def __getitem__(self, provider: str) -> float:
        return self._by_provider()[provider]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_provider())

    def __len__(self) -> int:
        return len(self._by_provider())


# The fields an admin edits (the rest is bookkeeping).
EDITABLE_FIELDS = tuple(
    f.name for f in fields(OperatorSettings) if f.name not in ("version", "updated_at", "updated_by")
)


def _api_value(value: Any) -> Any:
    return value.to_api() if hasattr(value, "to_api") else value


@dataclass
class SettingsService:
    """Reads and changes the operator's settings; every change is audited."""

    store: SettingsStore
    # Built on first need: only while no admin has saved settings yet.
    defaults: Callable[[], OperatorSettings]
    audit: AuditLog
    cache_ttl_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _cached: tuple[float, OperatorSettings] | None = field(default=None, init=False, repr=False)
    # A send worker's concurrent calls find the cache expired together: one of them reads.
    _refreshing: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def get(self) -> OperatorSettings:
        """The settings as stored now (the defaults until an admin saves them)."""
        settings = self.store.get() or self.defaults()
        self._cached = (self.clock(), settings)
        return settings

    def current(self) -> OperatorSettings:
        """The settings, at most `cache_ttl_s` old: what the send path reads."""
        with self._refreshing:
            if self._cached is not None and self.clock() - self._cached[0] < self.cache_ttl_s:
                return self._cached[1]
            return self.get()

    def update(self, changes: dict[str, Any], by: Admin) -> OperatorSettings:
        """Apply validated field changes (fields left out keep their value); a no-op writes nothing."""
        unknown = set(changes) - set(EDITABLE_FIELDS)
        if unknown:
            raise ValueError(f"not settings fields: {sorted(unknown)}")
        for _ in range(SAVE_ATTEMPTS):
            current = self.get()
            changed = {
                name: {"from": _api_value(getattr(current, name)), "to": _api_value(value)}
                for name, value in changes.items()
                if getattr(current, name) != value
            }
            if not changed:
                return current
            updated = replace(
                current, **changes, version=current.version + 1, updated_at=utc_now(), updated_by=by
            )
            # Conditional on the version read, so two admins saving at once never lose a change:
            # the second one re-reads and re-applies its own fields.
            if self.store.put(updated, expected_version=current.version):
                self._cached = (self.clock(), updated)
                self.audit.record(
                    AuditEntry(SETTINGS_AUDIT_SUBJECT, by, AuditAction.SETTINGS_CHANGE, {"changed": changed})
                )
                return updated
        raise Conflict("the settings kept changing while saving; reload them and try again")

    def audit_trail(self, cursor: str | None, limit: int) -> Page[AuditEntry]:
        return self.audit.list(SETTINGS_AUDIT_SUBJECT, cursor, limit)
