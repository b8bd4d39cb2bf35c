"""Herald's models and statuses, with the one table of legal status moves."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from enum import StrEnum
from typing import Any

from chalicelib.domain.errors import Conflict

MESSAGE_ID_NAMESPACE = uuid.UUID("5b8f4a52-8d0e-4c47-9a53-6b1f0e7c2d11")


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class CommunicationStatus(StrEnum):
    DRAFT = "DRAFT"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    SCHEDULED = "SCHEDULED"
    IN_PROGRESS = "IN_PROGRESS"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class MessageStatus(StrEnum):
    QUEUED = "QUEUED"
    DEFERRED = "DEFERRED"
    SENDING = "SENDING"
    UNKNOWN = "UNKNOWN"
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"
    SEND_FAILED = "SEND_FAILED"
    SKIPPED = "SKIPPED"
    CANCELLED = "CANCELLED"


class SkipReason(StrEnum):
    NO_EMAIL = "no_email"
    NO_PHONE = "no_phone"
    INVALID_EMAIL = "invalid_email"
    INVALID_PHONE = "invalid_phone"
    NO_PREFERRED_CHANNEL = "no_preferred_channel"
    ACCOUNT_INACTIVE = "account_inactive"
    ACCOUNT_MISSING = "account_missing"
    SUPPRESSED = "suppressed"
    EXPIRED = "expired"


class FailureCode(StrEnum):
    """Why a message could not be sent (SEND_FAILED): the machine code next to its `error` text."""

    PROVIDER_REJECTED = "provider_rejected"
    RETRIES_EXHAUSTED = "retries_exhausted"
    OUTCOME_UNKNOWN = "outcome_unknown"
    TEMPLATE_ERROR = "template_error"


OUTCOME_UNKNOWN_TEXT = (
    "outcome unknown: the provider may have taken this message, but no event confirmed it within the "
    "reconciliation window; it was not resent, so check with the recipient before sending it again"
)
IN_DOUBT_TEXT = "in doubt: the provider may have taken this message; waiting for its events to confirm it"

# Statuses a message never leaves by sending (delivery events may still move SENT on).
TERMINAL_STATUSES = frozenset(
    {
        MessageStatus.SENT,
        MessageStatus.DELIVERED,
        MessageStatus.FAILED,
        MessageStatus.SEND_FAILED,
        MessageStatus.SKIPPED,
        MessageStatus.CANCELLED,
    }
)

SKIP_REASON_TEXT: dict[SkipReason, str] = {
    SkipReason.NO_EMAIL: "no email address on file",
    SkipReason.NO_PHONE: "no phone number on file",
    SkipReason.INVALID_EMAIL: "the email address on file is not valid",
    SkipReason.INVALID_PHONE: "the phone number on file is not a valid E.164 number",
    SkipReason.NO_PREFERRED_CHANNEL: "the account prefers none of this communication's channels",
    SkipReason.ACCOUNT_INACTIVE: "the account is inactive",
    SkipReason.ACCOUNT_MISSING: "the account no longer exists",
    SkipReason.SUPPRESSED: "the address is on the suppression list",
    SkipReason.EXPIRED: "the communication expired before this message could be sent",
}

_S = CommunicationStatus
COMMUNICATION_TRANSITIONS: dict[CommunicationStatus, frozenset[CommunicationStatus]] = {
    _S.DRAFT: frozenset({_S.PENDING_APPROVAL, _S.SCHEDULED, _S.IN_PROGRESS}),
    _S.PENDING_APPROVAL: frozenset({_S.DRAFT, _S.IN_PROGRESS, _S.SCHEDULED}),
    _S.SCHEDULED: frozenset({_S.DRAFT, _S.PENDING_APPROVAL, _S.IN_PROGRESS, _S.CANCELLED}),
    _S.IN_PROGRESS: frozenset({_S.PAUSED, _S.COMPLETED, _S.FAILED, _S.CANCELLED}),
    _S.PAUSED: frozenset({_S.IN_PROGRESS, _S.CANCELLED}),
    _S.COMPLETED: frozenset(),
    _S.FAILED: frozenset(),
    _S.CANCELLED: frozenset(),
}


def check_transition(current: CommunicationStatus, target: CommunicationStatus) -> None:
    """Raise Conflict unless a communication may move from `current` to `target`."""
    if target not in COMMUNICATION_TRANSITIONS[current]:
        raise Conflict(f"a {current} communication cannot become {target}")


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_precise(moment: datetime) -> str:
    """UTC with microseconds, for records whose order within a second matters (the audit trail)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id() -> str:
    return str(uuid.uuid4())


def message_id_for(comm_id: str, account_id: str, channel: Channel) -> str:
    """The one id of a (communication, account, channel) message, the same on every retry."""
    return str(uuid.uuid5(MESSAGE_ID_NAMESPACE, f"{comm_id}:{account_id}:{channel}"))


@dataclass(frozen=True)
class Admin:
    """The signed-in caller, from the token's claims."""

    id: str
    first_name: str
    last_name: str
    can_write: bool

    def to_api(self) -> dict[str, str]:
        return {"id": self.id, "first_name": self.first_name, "last_name": self.last_name}

    def is_same_person(self, other: Admin | None) -> bool:
        return other is not None and other.id == self.id


# Who the audit trail names when Herald itself acts (a scheduled communication starting).
SCHEDULER = Admin(id="herald:scheduler", first_name="Herald", last_name="scheduler", can_write=True)
# … and when it imports an uploaded audience file (the upload itself carries no admin).
AUDIENCE_IMPORTER = Admin(
    id="herald:audience-import", first_name="Herald", last_name="audience import", can_write=True
)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class ContactHours:
    """A daily window ("08:00" to "21:00", start before end; "24:00" ends at midnight) on some
    weekdays, judged in an account's zone (domain/contact_hours.py)."""

    start: str
    end: str
    days: tuple[str, ...]

    @property
    def start_time(self) -> time:
        return time.fromisoformat(self.start)

    @property
    def end_time(self) -> time:
        return time.max if self.end == "24:00" else time.fromisoformat(self.end)

    @property
    def weekdays(self) -> frozenset[int]:
        """The days as datetime.weekday() numbers (Monday is 0)."""
        return frozenset(WEEKDAYS.index(day) for day in self.days)

    def to_api(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "days": list(self.days)}

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> ContactHours:
        return cls(start=raw["start"], end=raw["end"], days=tuple(raw["days"]))


class AuditAction(StrEnum):
    CREATE = "create"
    EDIT = "edit"
    AUDIENCE = "audience"
    SEND = "send"
    APPROVE = "approve"
    WITHDRAW = "withdraw"
    SCHEDULE = "schedule"
    UNSCHEDULE = "unschedule"
    START = "start"
    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"
    DELETE = "delete"
    SETTINGS_CHANGE = "settings_change"
    UNSUBSCRIBE = "unsubscribe"
    SMS_STOP = "sms_stop"
    SMS_START = "sms_start"
    ERASE = "erase"


SETTINGS_AUDIT_SUBJECT = "settings"


def communication_audit_subject(comm_id: str) -> str:
    return f"communication#{comm_id}"


@dataclass(frozen=True)
class AuditEntry:
    """Who did what to which subject (a communication, the settings), when, with what details."""

    subject: str
    actor: Admin
    action: AuditAction
    details: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: utc_now())
    entry_id: str = field(default_factory=lambda: new_id())

    @classmethod
    def for_communication(cls, comm_id: str, actor: Admin, action: AuditAction, **details: Any) -> AuditEntry:
        return cls(communication_audit_subject(comm_id), actor, action, details)

    def to_api(self) -> dict[str, Any]:
        return {
            "at": iso_precise(self.at),
            "actor": self.actor.to_api(),
            "action": str(self.action),
            "details": self.details,
        }


@dataclass(frozen=True)
class Contact:
    """What choosing an account's channels reads: whether it is active, its channels and addresses."""

    account_id: str
    channels: tuple[Channel, ...]
    status: str = "active"
    email: str | None = None
    phone: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status == "active"


@dataclass
class Account:
    account_id: str
    first_name: str
    last_name: str
    language: str
    channels: list[Channel]
    status: str = "active"
    email: str | None = None
    phone: str | None = None
    timezone: str | None = None
    service_area: str | None = None
    network_provider: str | None = None
    segment: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    updated_at: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    def to_api(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
            "phone": self.phone,
            "language": self.language,
            "channels": [str(c) for c in self.channels],
            "status": self.status,
            "timezone": self.timezone,
            "service_area": self.service_area,
            "network_provider": self.network_provider,
            "segment": self.segment,
            "attributes": self.attributes,
            "updated_at": self.updated_at,
        }

    def render_context(self) -> dict[str, Any]:
        """What templates see as `account`."""
        context = self.to_api()
        context.pop("updated_at")
        return context


@dataclass(frozen=True)
class EmailContent:
    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class SmsContent:
    body: str


@dataclass(frozen=True)
class Content:
    """Per-language content of each channel: {"en": EmailContent(...), "fr": ...}."""

    email: dict[str, EmailContent] = field(default_factory=dict)
    sms: dict[str, SmsContent] = field(default_factory=dict)

    def languages(self, channel: Channel) -> list[str]:
        return list(self.email if channel is Channel.EMAIL else self.sms)

    def to_api(self) -> dict[str, Any]:
        return {
            "email": {
                lang: {"subject": c.subject, "html": c.html, "text": c.text} for lang, c in self.email.items()
            },
            "sms": {lang: {"body": c.body} for lang, c in self.sms.items()},
        }

    @classmethod
    def from_api(cls, raw: dict[str, Any] | None) -> Content:
        raw = raw or {}
        return cls(
            email={
                lang: EmailContent(subject=c["subject"], html=c.get("html", ""), text=c.get("text", ""))
                for lang, c in (raw.get("email") or {}).items()
            },
            sms={lang: SmsContent(body=c["body"]) for lang, c in (raw.get("sms") or {}).items()},
        )


COUNT_FIELDS = (
    "total",
    "sent",
    "send_failed",
    "skipped",
    "cancelled",
    "delivered",
    "delivery_failed",
    "deferred",
)


@dataclass
class Counts:
    """Tallies of one channel's messages (or of all of them)."""

    total: int = 0
    sent: int = 0
    send_failed: int = 0
    skipped: int = 0
    cancelled: int = 0
    delivered: int = 0
    delivery_failed: int = 0
    deferred: int = 0

    @property
    def pending(self) -> int:
        return self.total - self.sent - self.send_failed - self.skipped - self.cancelled

    @property
    def sent_pct(self) -> float | None:
        sendable = self.total - self.skipped - self.cancelled
        if sendable <= 0:
            return None
        return round(self.sent * 100 / sendable, 1)

    def record(self, status: MessageStatus) -> None:
        """Count one message record in `status` (not its planned total)."""
        if status in (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.FAILED):
            self.sent += 1
        if status is MessageStatus.DELIVERED:
            self.delivered += 1
        elif status is MessageStatus.FAILED:
            self.delivery_failed += 1
        elif status is MessageStatus.SEND_FAILED:
            self.send_failed += 1
        elif status is MessageStatus.SKIPPED:
            self.skipped += 1
        elif status is MessageStatus.CANCELLED:
            self.cancelled += 1
        elif status is MessageStatus.DEFERRED:
            self.deferred += 1

    def __add__(self, other: Counts) -> Counts:
        return Counts(**{name: getattr(self, name) + getattr(other, name) for name in COUNT_FIELDS})

    def to_api(self) -> dict[str, int]:
        return {
            "messages_total": self.total,
            "pending": self.pending,
            "sent": self.sent,
            "send_failed": self.send_failed,
            "skipped": self.skipped,
            "cancelled": self.cancelled,
            "delivered": self.delivered,
            "delivery_failed": self.delivery_failed,
            "deferred": self.deferred,
        }


@dataclass
class AudienceSummary:
    source: str | None = None  # "csv" | "upload" | "filter" | None while unset
    state: str = "empty"  # empty | importing | ready | failed
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    chunks: int = 0
    filter: dict[str, list[str]] | None = None
    # Why an import failed, and where the full list of rejected lines is (a file key).
    error: str | None = None
    errors_key: str | None = None
    # The uploaded file an upload audience came from (S3 may report a file more than once).
    upload_key: str | None = None

    def to_api(self, comm_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "source": self.source,
            "state": self.state,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "filter": self.filter,
            "error": self.error,
            "errors_url": None,
        }
        if self.errors_key and comm_id:
            body["errors_url"] = f"/communications/{comm_id}/audience/errors.csv"
        return body


@dataclass
class Communication:
    comm_id: str
    name: str
    channels: list[Channel]
    default_language: str
    content: Content
    status: CommunicationStatus = CommunicationStatus.DRAFT
    created_at: datetime = field(default_factory=utc_now)
    updated_at: datetime = field(default_factory=utc_now)
    created_by: Admin | None = None
    sent_by: Admin | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    wizard_step: str | None = None
    template_id: str | None = None
    audience: AudienceSummary = field(default_factory=AudienceSummary)
    counts_by_channel: dict[Channel, Counts] = field(default_factory=dict)
    planning_done: bool = False
    # Planning progress: the next audience chunk to plan, and whether the planner is queued,
    # parked (enough tasks queued ahead, or paused) or done. Tasks planned and finished give
    # how many are queued ahead.
    plan_state: str = "queued"
    plan_next: int = 0
    plan_touched_at: float = 0.0
    tasks_planned: int = 0
    tasks_done: int = 0
    # Scheduling and approval: when it is due, who scheduled it, who approved its start.
    send_at: datetime | None = None
    scheduled_by: Admin | None = None
    approved_by: Admin | None = None
    approved_at: datetime | None = None
    # Delivery constraints: ignore contact hours (an outage notice; urgent ones also go through
    # their own send queue, ahead of bulk ones), stop sending after a moment, and the contact
    # window (None: the operator's default).
    urgent: bool = False
    expires_at: datetime | None = None
    contact_hours: ContactHours | None = None
    # Transactional notices (the default) carry no unsubscribe link; others get RFC 8058 one-click headers.
    transactional: bool = True

    @property
    def tasks_outstanding(self) -> int:
        return self.tasks_planned - self.tasks_done

    @property
    def counts(self) -> Counts:
        total = Counts()
        for channel_counts in self.counts_by_channel.values():
            total = total + channel_counts
        return total

    def to_api(self, detail: bool = False) -> dict[str, Any]:
        counts = self.counts
        body: dict[str, Any] = {
            "id": self.comm_id,
            "name": self.name,
            "status": str(self.status),
            "channels": [str(c) for c in self.channels],
            "default_language": self.default_language,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "created_by": self.created_by.to_api() if self.created_by else None,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "sent_by": self.sent_by.to_api() if self.sent_by else None,
            "counts": counts.to_api(),
            "sent_pct": counts.sent_pct,
            "wizard_step": self.wizard_step,
            "template_id": self.template_id,
            "audience": self.audience.to_api(self.comm_id),
            "scheduled_at": iso(self.send_at),
            "scheduled_by": self.scheduled_by.to_api() if self.scheduled_by else None,
            "approved_by": self.approved_by.to_api() if self.approved_by else None,
            "approved_at": iso(self.approved_at),
            "urgent": self.urgent,
            "expires_at": iso(self.expires_at),
            "contact_hours": self.contact_hours.to_api() if self.contact_hours else None,
            "transactional": self.transactional,
        }
        if detail:
            body["content"] = self.content.to_api()
            body["counts_by_channel"] = {
                str(channel): self.counts_by_channel.get(channel, Counts()).to_api()
                for channel in self.channels
            }
        return body


@dataclass
class Message:
    """One (communication, account, channel) message and what became of it."""

    comm_id: str
    account_id: str
    channel: Channel
    status: MessageStatus
    language: str | None = None
    address: str | None = None
    error: str | None = None
    # A FailureCode for SEND_FAILED, the SkipReason for SKIPPED: what a program can act on.
    error_code: str | None = None
    skip_reason: SkipReason | None = None
    provider: str | None = None
    provider_message_id: str | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    updated_at: datetime = field(default_factory=utc_now)
    # The account fields the message was rendered with, so its content can be shown later.
    render_context: dict[str, Any] | None = None
    # What the provider last reported (delivered, bounced…), in Herald's delivery vocabulary.
    delivery_outcome: str | None = None
    # DEFERRED: when the account's contact window opens, and the id of the task that sends it then.
    deferred_until: datetime | None = None
    deferral: str | None = None

    @property
    def message_id(self) -> str:
        return message_id_for(self.comm_id, self.account_id, self.channel)

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.message_id,
            "account_id": self.account_id,
            "channel": str(self.channel),
            "language": self.language,
            "address": self.address,
            "status": str(self.status),
            "error": self.error,
            "error_code": self.error_code,
            "skip_reason": str(self.skip_reason) if self.skip_reason else None,
            "provider": self.provider,
            "provider_message_id": self.provider_message_id,
            "sent_at": iso(self.sent_at),
            "delivered_at": iso(self.delivered_at),
            "updated_at": iso(self.updated_at),
            "outcome": self.delivery_outcome,
            "deferred_until": iso(self.deferred_until),
        }


@dataclass(frozen=True)
class SenderIdentity:
    """Who messages come from, as the operator set it: From, Reply-To, and the SMS sender."""

    from_email: str
    from_name: str = ""
    reply_to: str | None = None
    sms_sender: str | None = None


@dataclass(frozen=True)
class OutgoingEmail:
    to: str
    subject: str
    html: str
    text: str
    # Herald's ids, carried as provider tags so delivery events map back without guessing.
    tags: dict[str, str]
    # The operator's sender identity; None leaves the adapter's configured sender.
    sender: SenderIdentity | None = None
    # Extra headers (List-Unsubscribe…), passed through by every email adapter.
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OutgoingSms:
    to: str
    body: str
    tags: dict[str, str]
    # An alphanumeric sender id or an E.164 origination number; None leaves the adapter's default.
    sender_id: str | None = None


@dataclass(frozen=True)
class SendResult:
    provider: str
    provider_message_id: str


@dataclass(frozen=True)
class Page[T]:
    items: list[T]
    next_cursor: str | None


@dataclass
class Template:
    """Saved, reusable content; a communication created from it gets a copy."""

    template_id: str
    name: str
    default_language: str
    content: Content
    created_at: datetime = field(default_factory=utc_now)
    updated_at: datetime = field(default_factory=utc_now)
    created_by: Admin | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.template_id,
            "name": self.name,
            "default_language": self.default_language,
            "content": self.content.to_api(),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "created_by": self.created_by.to_api() if self.created_by else None,
        }


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass
class Job:
    """Work that can outlast an HTTP request (an export, a dry run over a large audience)."""

    job_id: str
    kind: str
    params: dict[str, Any]
    state: JobState = JobState.QUEUED
    # How far it got, in the job's own unit (audience chunks, exported rows); total when known.
    done: int = 0
    total: int | None = None
    result: dict[str, Any] | None = None
    result_key: str | None = None
    error: str | None = None
    created_at: datetime = field(default_factory=utc_now)
    updated_at: datetime = field(default_factory=utc_now)

    def to_api(self, result_url: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.job_id,
            "kind": self.kind,
            "state": str(self.state),
            "progress": {"done": self.done, "total": self.total},
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "error": self.error,
        }
        if self.result is not None:
            body["result"] = self.result
        if result_url is not None:
            body["result_url"] = result_url
        return body
