"""Communications: drafts, their audience, sending, and reading back what happened."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.domain.control import SendControl
from chalicelib.domain.errors import Conflict, Forbidden, NotFound, ValidationError
from chalicelib.domain.models import (
    SCHEDULER,
    Admin,
    AuditAction,
    AuditEntry,
    Channel,
    Communication,
    CommunicationStatus,
    ContactHours,
    Content,
    Message,
    MessageStatus,
    Page,
    check_transition,
    communication_audit_subject,
    iso,
    new_id,
    utc_now,
)
from chalicelib.domain.ports import (
    AccountDirectory,
    AudienceStore,
    AuditLog,
    Clock,
    CommunicationStore,
    MessageStore,
    SendLedger,
    TemplateStore,
    WorkQueue,
)
from chalicelib.domain.rendering import RenderError, render_email, render_sms, template_errors

if TYPE_CHECKING:
    from chalicelib.domain.operator_settings import OperatorSettings

# How far ahead a send may be scheduled: further is almost surely a typo in the year.
SCHEDULE_HORIZON = timedelta(days=366)

ALREADY_SENDING = frozenset(
    {
        CommunicationStatus.IN_PROGRESS,
        CommunicationStatus.PAUSED,
        CommunicationStatus.COMPLETED,
        CommunicationStatus.FAILED,
    }
)


@dataclass(frozen=True)
class DraftFields:
    """The fields an admin sets on a draft; None leaves a field as it is when patching."""

    name: str | None = None
    channels: list[Channel] | None = None
    default_language: str | None = None
    content: Content | None = None
    wizard_step: str | None = None
    urgent: bool | None = None
    expires_at: datetime | None = None
    contact_hours: ContactHours | None = None
    transactional: bool | None = None
    # Nullable fields the admin cleared (sent as null), as opposed to left out.
    cleared: frozenset[str] = field(default_factory=frozenset)

    def changes(self) -> dict[str, Any]:
        values = {k: v for k, v in vars(self).items() if v is not None and k != "cleared"}
        values.update(dict.fromkeys(self.cleared))
        return values

    # On create only: copy content (and the default language, unless given) from a saved template.
    template_id: str | None = None


@dataclass
class CommunicationService:
    """Drafts, their audience and their way out: send, schedule, approval, cancel. Every change is audited."""

    communications: CommunicationStore
    audiences: AudienceStore
    directory: AccountDirectory
    messages: MessageStore
    queue: WorkQueue
    audience_chunk_size: int
    audit: AuditLog
    # Fresh operator settings (the approval threshold is a control: never read from a stale cache).
    operator_settings: Callable[[], OperatorSettings]
    templates: TemplateStore | None = None
    # The sweep looks after every communication that starts sending (see domain/sweep.py).
    ledger: SendLedger | None = None
    clock: Clock | None = None
    watch_interval_s: float = 60.0

    def create(self, fields: DraftFields, by: Admin) -> Communication:
        if fields.template_id:
            fields = self._from_template(fields)
        assert fields.name and fields.channels and fields.default_language
        communication = Communication(
            comm_id=new_id(),
            name=fields.name,
            channels=fields.channels,
            default_language=fields.default_language,
            content=fields.content or Content(),
            created_by=by,
            wizard_step=fields.wizard_step,
            urgent=bool(fields.urgent),
            expires_at=fields.expires_at,
            contact_hours=fields.contact_hours,
            transactional=fields.transactional is not False,
            template_id=fields.template_id,
        )
        _check_templates(communication.content)
        _check_expiry(communication.expires_at)
        self.communications.create(communication)
        self._record(communication.comm_id, by, AuditAction.CREATE, name=communication.name)
        return communication

    def get(self, comm_id: str) -> Communication:
        communication = self.communications.get(comm_id)
        if communication is None:
            raise NotFound(f"communication {comm_id} not found")
        return communication

    def deferred_span(self, communication: Communication) -> tuple[datetime, datetime] | None:
        """When the messages waiting for their contact window (DEFERRED) go: the earliest and the
        latest opening among them; None when none waits."""
        if self.ledger is None or communication.counts.deferred <= 0:
            return None
        span = self.ledger.deferral_span(communication.comm_id)
        if span is None:
            return None
        return datetime.fromtimestamp(span[0], UTC), datetime.fromtimestamp(span[1], UTC)

    def list_page(
        self, status: CommunicationStatus | None, cursor: str | None, limit: int
    ) -> Page[Communication]:
        return self.communications.list(status, cursor, limit)

    def update_draft(self, comm_id: str, fields: DraftFields, *, by: Admin) -> Communication:
        communication = self._draft(comm_id)
        changes = fields.changes()
        updated = replace(communication, **changes, updated_at=utc_now())
        _check_templates(updated.content)
        if "expires_at" in changes:
            _check_expiry(updated.expires_at)
        self.communications.save_draft(updated)
        # The wizard step is where the admin is in the UI, not a change to the communication.
        changed = sorted(
            name
            for name in changes
            if name != "wizard_step" and getattr(communication, name) != getattr(updated, name)
        )
        if changed:
            self._record(comm_id, by, AuditAction.EDIT, fields=changed)
        return updated

    def delete_draft(self, comm_id: str, *, by: Admin) -> None:
        draft = self._draft(comm_id)
        self.communications.delete_draft(comm_id)
        self._record(comm_id, by, AuditAction.DELETE, name=draft.name)

    def send(self, comm_id: str, by: Admin) -> Communication:
        """Start sending now, or ask for approval above the operator's threshold.

        Asking again while it sends or waits for approval (a double click, a retry) changes nothing.
        """
        communication = self.get(comm_id)
        if communication.status in ALREADY_SENDING or communication.status is S.PENDING_APPROVAL:
            return communication
        if communication.status is S.SCHEDULED:
            raise Conflict(
                f"this communication is scheduled for {iso(communication.send_at)}; "
                "unschedule it to send it now"
            )
        if communication.status is not S.DRAFT:
            raise Conflict(f"a {communication.status} communication cannot be sent")
        _check_sendable(communication)
        threshold = self.operator_settings().approval_threshold
        if _needs_approval(communication, threshold):
            moved = self._request_approval(
                communication, S.DRAFT, threshold, requested_by=by, actor=by, action=AuditAction.SEND
            )
        else:
            moved = self._start(communication, S.DRAFT, sent_by=by, actor=by, action=AuditAction.SEND)
        return moved or self.get(comm_id)

    def schedule(self, comm_id: str, send_at: datetime, by: Admin) -> Communication:
        """Freeze a ready draft until `send_at` (timezone-aware, in the future); then it starts by itself."""
        send_at = send_at.astimezone(UTC).replace(microsecond=0)
        communication = self.get(comm_id)
        if communication.status is S.SCHEDULED and communication.send_at == send_at:
            return communication
        if communication.status is S.SCHEDULED:
            raise Conflict(
                f"this communication is already scheduled for {iso(communication.send_at)}; "
                "unschedule it first to choose another time"
            )
        if communication.status is not S.DRAFT:
            raise Conflict(f"a {communication.status} communication cannot be scheduled")
        check_transition(S.DRAFT, S.SCHEDULED)
        now = utc_now()
        _check_send_at(send_at, now)
        _check_sendable(communication, starts_at=send_at)
        scheduled = replace(
            communication, status=S.SCHEDULED, send_at=send_at, scheduled_by=by, updated_at=now
        )
        if not self.communications.move(scheduled, S.DRAFT):
            fresh = self.get(comm_id)
            if fresh.status is S.SCHEDULED and fresh.send_at == send_at:
                return fresh
            raise Conflict(f"the communication became {fresh.status} meanwhile; reload it")
        self._record(comm_id, by, AuditAction.SCHEDULE, send_at=iso(send_at), **_moved(S.DRAFT, S.SCHEDULED))
        return scheduled

    def unschedule(self, comm_id: str, by: Admin) -> Communication:
        """Back to an editable draft before it starts. Unscheduling a draft again changes nothing."""
        communication = self.get(comm_id)
        if communication.status is S.DRAFT:
            return communication
        if communication.status is not S.SCHEDULED:
            raise Conflict(
                f"only a scheduled communication can be unscheduled; this one is {communication.status}"
            )
        return self._back_to_draft(communication, by, AuditAction.UNSCHEDULE)

    def withdraw(self, comm_id: str, by: Admin) -> Communication:
        """Take a send waiting for approval back to a draft (the requester changing their mind, or
        another admin declining it). Withdrawing a draft again changes nothing."""
        communication = self.get(comm_id)
        if communication.status is S.DRAFT:
            return communication
        if communication.status is not S.PENDING_APPROVAL:
            raise Conflict(
                "only a communication waiting for approval can be withdrawn; "
                f"this one is {communication.status}"
            )
        return self._back_to_draft(communication, by, AuditAction.WITHDRAW)

    def cancel(self, comm_id: str, by: Admin) -> Communication:
        """Cancel for good: SCHEDULED, IN_PROGRESS or PAUSED. Cancelling again changes nothing."""
        communication = self.get(comm_id)
        if communication.status is S.CANCELLED:
            return communication
        if communication.status is S.SCHEDULED:
            cancelled = self._cancel_scheduled(communication, by)
            if cancelled is not None:
                return cancelled
            communication = self.get(comm_id)  # the scheduler started it meanwhile
        running = communication.status in (S.IN_PROGRESS, S.PAUSED)
        if running and self.ledger is not None and self.clock is not None:
            control = SendControl(self.communications, self.ledger, self.queue, self.clock, self.audit)
            return control.cancel(comm_id, by=by)
        raise Conflict(f"a {communication.status} communication cannot be cancelled")

    def approve(self, comm_id: str, by: Admin) -> Communication:
        """A second admin lets a send waiting for approval go out; the requester cannot approve their own."""
        communication = self.get(comm_id)
        if communication.status in ALREADY_SENDING and by.is_same_person(communication.approved_by):
            return communication  # the approver's double click
        if communication.status is not S.PENDING_APPROVAL:
            raise Conflict(
                "only a communication waiting for approval can be approved; "
                f"this one is {communication.status}"
            )
        if by.is_same_person(communication.sent_by):
            raise Forbidden("you asked for this send, so another admin has to approve it")
        if communication.expires_at is not None and communication.expires_at <= utc_now():
            raise Conflict(
                f"this communication expired at {iso(communication.expires_at)} while waiting for approval; "
                "withdraw it, change its expiry and send it again"
            )
        started = self._start(
            communication,
            S.PENDING_APPROVAL,
            sent_by=communication.sent_by,
            approved_by=by,
            actor=by,
            action=AuditAction.APPROVE,
        )
        return started or self.get(comm_id)

    def start_scheduled(self, comm_id: str, now: datetime) -> Communication | None:
        """Start a communication whose time has come (or ask for approval); None if this call did not
        move it (not due, no longer scheduled, or another run moved it first).

        Overlapping schedule runs may both call this: the conditional move out of SCHEDULED lets
        exactly one of them start it and queue its planning.
        """
        communication = self.communications.get(comm_id)
        if (
            communication is None
            or communication.status is not S.SCHEDULED
            or communication.send_at is None
            or communication.send_at > now
        ):
            return None
        requester = communication.scheduled_by or SCHEDULER
        threshold = self.operator_settings().approval_threshold
        if _needs_approval(communication, threshold):
            return self._request_approval(
                communication,
                S.SCHEDULED,
                threshold,
                requested_by=requester,
                actor=SCHEDULER,
                action=AuditAction.START,
            )
        return self._start(
            communication, S.SCHEDULED, sent_by=requester, actor=SCHEDULER, action=AuditAction.START
        )

    def audit_trail(self, comm_id: str, cursor: str | None, limit: int) -> Page[AuditEntry]:
        """What happened to a communication, oldest first; kept after a draft is deleted."""
        page = self.audit.list(communication_audit_subject(comm_id), cursor, limit)
        if not page.items and cursor is None and self.communications.get(comm_id) is None:
            raise NotFound(f"communication {comm_id} not found")
        return page

    def _start(
        self,
        communication: Communication,
        expected: CommunicationStatus,
        *,
        sent_by: Admin | None,
        actor: Admin,
        action: AuditAction,
        approved_by: Admin | None = None,
    ) -> Communication | None:
        """The one way a communication starts sending: a conditional move, then its planning task.

        None when it was no longer `expected` (another request or run moved it first)."""
        check_transition(expected, S.IN_PROGRESS)
        now = utc_now()
        started = replace(
            communication,
            status=S.IN_PROGRESS,
            sent_by=sent_by,
            started_at=now,
            approved_by=approved_by,
            approved_at=now if approved_by else None,
            updated_at=now,
        )
        if self.ledger is not None and self.clock is not None:
            # Watched before it starts, so a crash right after the start (before planning is
            # queued) still gets it planned.
            self.ledger.watch(communication.comm_id, self.clock.now() + self.watch_interval_s)
        if not self.communications.start_sending(started, expected):
            return None
        self.queue.enqueue_planning(communication.comm_id, 0)
        self._record(
            communication.comm_id,
            actor,
            action,
            audience=communication.audience.accepted,
            **_moved(expected, S.IN_PROGRESS),
        )
        return started

    def _request_approval(
        self,
        communication: Communication,
        expected: CommunicationStatus,
        threshold: int | None,
        *,
        requested_by: Admin,
        actor: Admin,
        action: AuditAction,
    ) -> Communication | None:
        check_transition(expected, S.PENDING_APPROVAL)
        pending = replace(
            communication, status=S.PENDING_APPROVAL, sent_by=requested_by, updated_at=utc_now()
        )
        if not self.communications.move(pending, expected):
            return None
        self._record(
            communication.comm_id,
            actor,
            action,
            audience=communication.audience.accepted,
            approval_threshold=threshold,
            requested_by=requested_by.to_api(),
            **_moved(expected, S.PENDING_APPROVAL),
        )
        return pending

    def _back_to_draft(self, communication: Communication, by: Admin, action: AuditAction) -> Communication:
        expected = communication.status
        check_transition(expected, S.DRAFT)
        draft = replace(
            communication,
            status=S.DRAFT,
            send_at=None,
            scheduled_by=None,
            sent_by=None,
            updated_at=utc_now(),
        )
        if not self.communications.move(draft, expected):
            fresh = self.get(communication.comm_id)
            if fresh.status is S.DRAFT:
                return fresh
            raise Conflict(
                f"the communication became {fresh.status} meanwhile; it can no longer be changed back"
            )
        self._record(communication.comm_id, by, action, **_moved(expected, S.DRAFT))
        return draft

    def _cancel_scheduled(self, communication: Communication, by: Admin) -> Communication | None:
        """None when it is no longer SCHEDULED (started meanwhile): cancelled as a running one then."""
        check_transition(S.SCHEDULED, S.CANCELLED)
        now = utc_now()
        cancelled = replace(communication, status=S.CANCELLED, finished_at=now, updated_at=now)
        if not self.communications.move(cancelled, S.SCHEDULED):
            fresh = self.get(communication.comm_id)
            if fresh.status is S.CANCELLED:
                return fresh
            if fresh.status in (S.IN_PROGRESS, S.PAUSED):
                return None
            raise Conflict(f"the communication became {fresh.status} before it could be cancelled")
        self._record(
            communication.comm_id,
            by,
            AuditAction.CANCEL,
            send_at=iso(communication.send_at),
            **_moved(S.SCHEDULED, S.CANCELLED),
        )
        return cancelled

    def _record(self, comm_id: str, actor: Admin, action: AuditAction, **details: Any) -> None:
        self.audit.record(AuditEntry.for_communication(comm_id, actor, action, **details))

    def list_messages(
        self,
        comm_id: str,
        channel: Channel | None,
        statuses: frozenset[MessageStatus] | None,
        account_id: str | None,
        cursor: str | None,
        limit: int,
    ) -> Page[Message]:
        self.get(comm_id)
        return self.messages.list(comm_id, channel, statuses, account_id, cursor, limit)

    def get_message(self, comm_id: str, message_id: str) -> dict[str, Any]:
        """One message with the content it was sent with."""
        communication = self.get(comm_id)
        message = self.messages.get(comm_id, message_id)
        if message is None:
            raise NotFound(f"message {message_id} not found")
        body = message.to_api()
        body["content"] = _rendered_content(communication, message)
        return body

    def _from_template(self, fields: DraftFields) -> DraftFields:
        """The fields with the template's content copied in: later edits of either stay apart."""
        template = self.templates.get(fields.template_id) if self.templates and fields.template_id else None
        if template is None:
            raise ValidationError(
                "the template does not exist", [{"field": "template_id", "error": "not found"}]
            )
        return replace(
            fields,
            content=template.content,
            default_language=fields.default_language or template.default_language,
        )

    def _draft(self, comm_id: str) -> Communication:
        communication = self.get(comm_id)
        if communication.status is S.SCHEDULED:
            raise Conflict("a scheduled communication is frozen; unschedule it first to change it")
        if communication.status is S.PENDING_APPROVAL:
            raise Conflict("this communication is waiting for approval; withdraw it first to change it")
        if communication.status is not S.DRAFT:
            raise Conflict(f"only drafts can be changed; this communication is {communication.status}")
        return communication


S = CommunicationStatus


def _needs_approval(communication: Communication, threshold: int | None) -> bool:
    """Above the operator's threshold (audience size; None or 0: off), a second admin must approve."""
    return bool(threshold) and communication.audience.accepted > (threshold or 0)


def _moved(source: CommunicationStatus, target: CommunicationStatus) -> dict[str, str]:
    return {"from": str(source), "to": str(target)}


def _check_expiry(expires_at: datetime | None) -> None:
    if expires_at is not None and expires_at <= utc_now():
        raise ValidationError(
            "expires_at must be in the future", [{"field": "expires_at", "error": "in the past"}]
        )


def _check_send_at(send_at: datetime, now: datetime) -> None:
    if send_at <= now:
        raise ValidationError(
            "send_at must be in the future", [{"field": "send_at", "error": f"not after {iso(now)}"}]
        )
    if send_at > now + SCHEDULE_HORIZON:
        raise ValidationError(
            f"send_at must be within {SCHEDULE_HORIZON.days} days",
            [{"field": "send_at", "error": "too far ahead"}],
        )


def _check_templates(content: Content) -> None:
    errors = template_errors(content)
    if errors:
        raise ValidationError("the content has template errors", errors)


def _check_sendable(communication: Communication, starts_at: datetime | None = None) -> None:
    """What must hold before a communication starts (now, or at `starts_at` when scheduled)."""
    problems: list[dict[str, str]] = []
    starts_at = starts_at or utc_now()
    if communication.expires_at is not None and communication.expires_at <= starts_at:
        problems.append(
            {
                "field": "expires_at",
                "error": f"it expires at {iso(communication.expires_at)}, before it would start",
            }
        )
    if communication.audience.state in ("importing", "failed"):
        state = communication.audience.state
        problems.append({"field": "audience", "error": f"the audience import is {state}; it must be ready"})
    elif communication.audience.accepted == 0:
        problems.append({"field": "audience", "error": "the audience is empty; upload a CSV first"})
    for channel in communication.channels:
        languages = communication.content.languages(channel)
        if not languages:
            problems.append({"field": f"content.{channel}", "error": f"no {channel} content"})
        elif communication.default_language not in languages:
            problems.append(
                {
                    "field": f"content.{channel}.{communication.default_language}",
                    "error": f"no {channel} content in the default language {communication.default_language}",
                }
            )
    if problems:
        raise ValidationError("the communication is not ready to send", problems)


def _rendered_content(communication: Communication, message: Message) -> dict[str, str] | None:
    if message.language is None or message.render_context is None:
        return None
    try:
        if message.channel is Channel.EMAIL:
            email = render_email(
                communication.content.email[message.language], message.render_context, communication
            )
            return {"subject": email.subject, "html": email.html, "text": email.text}
        sms = render_sms(communication.content.sms[message.language], message.render_context, communication)
        return {"body": sms.body}
    except RenderError:
        return None  # the message failed to render when sent; its error says why
