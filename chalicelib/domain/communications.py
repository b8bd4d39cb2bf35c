"""Communications: drafts, their audience, sending, and reading back what happened."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from chalicelib.domain.audience import AudienceImport, chunked, decode_csv, import_audience
from chalicelib.domain.errors import Conflict, NotFound, ValidationError
from chalicelib.domain.models import (
    Admin,
    AudienceSummary,
    Channel,
    Communication,
    CommunicationStatus,
    Content,
    Message,
    MessageStatus,
    Page,
    new_id,
    utc_now,
)
from chalicelib.domain.ports import (
    AccountDirectory,
    AudienceStore,
    Clock,
    CommunicationStore,
    MessageStore,
    SendLedger,
    WorkQueue,
)
from chalicelib.domain.rendering import RenderError, render_email, render_sms, template_errors

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


@dataclass
class CommunicationService:
    communications: CommunicationStore
    audiences: AudienceStore
    directory: AccountDirectory
    messages: MessageStore
    queue: WorkQueue
    audience_chunk_size: int
    # The sweep looks after every communication that starts sending (see domain/sweep.py).
    ledger: SendLedger | None = None
    clock: Clock | None = None
    watch_interval_s: float = 60.0

    def create(self, fields: DraftFields, by: Admin) -> Communication:
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
        )
        _check_templates(communication.content)
        self.communications.create(communication)
        return communication

    def get(self, comm_id: str) -> Communication:
        communication = self.communications.get(comm_id)
        if communication is None:
            raise NotFound(f"communication {comm_id} not found")
        return communication

    def list_page(
        self, status: CommunicationStatus | None, cursor: str | None, limit: int
    ) -> Page[Communication]:
        return self.communications.list(status, cursor, limit)

    def update_draft(self, comm_id: str, fields: DraftFields) -> Communication:
        communication = self._draft(comm_id)
        changes: dict[str, Any] = {k: v for k, v in vars(fields).items() if v is not None}
        updated = replace(communication, **changes, updated_at=utc_now())
        _check_templates(updated.content)
        self.communications.save_draft(updated)
        return updated

    def delete_draft(self, comm_id: str) -> None:
        self._draft(comm_id)
        self.communications.delete_draft(comm_id)

    def set_audience_csv(self, comm_id: str, body: bytes | str) -> AudienceImport:
        """Replace a draft's audience with the accounts of a CSV; bad lines are reported, not taken."""
        draft = self._draft(comm_id)
        result = import_audience(decode_csv(body), self._existing_accounts)
        if not result.account_ids:
            raise ValidationError(
                "the CSV names no existing account, so the audience was left unchanged", result.errors
            )
        chunks = self.audiences.replace(
            comm_id, chunked(result.account_ids, self.audience_chunk_size), draft.audience.chunks
        )
        summary = AudienceSummary(
            source="csv",
            state="ready",
            accepted=len(result.account_ids),
            duplicates=result.duplicates,
            rejected=result.rejected,
            chunks=chunks,
        )
        self.communications.set_audience(comm_id, summary)
        return result

    def _existing_accounts(self, account_ids: Sequence[str]) -> set[str]:
        return set(self.directory.get_many(account_ids))

    def send(self, comm_id: str, by: Admin) -> Communication:
        """Start sending now. Asking again while it sends (a double click, a retry) changes nothing."""
        communication = self.get(comm_id)
        if communication.status in ALREADY_SENDING:
            return communication
        if communication.status is not CommunicationStatus.DRAFT:
            raise Conflict(f"a {communication.status} communication cannot be sent")
        _check_sendable(communication)
        started = replace(
            communication, status=CommunicationStatus.IN_PROGRESS, sent_by=by, started_at=utc_now()
        )
        if self.ledger is not None and self.clock is not None:
            # Watched before it starts, so a crash right after the start (before planning is
            # queued) still gets it planned.
            self.ledger.watch(comm_id, self.clock.now() + self.watch_interval_s)
        if not self.communications.start_sending(started):
            return self.get(comm_id)
        self.queue.enqueue_planning(comm_id, 0)
        return started

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

    def _draft(self, comm_id: str) -> Communication:
        communication = self.get(comm_id)
        if communication.status is not CommunicationStatus.DRAFT:
            raise Conflict(f"only drafts can be changed; this communication is {communication.status}")
        return communication


def _check_templates(content: Content) -> None:
    errors = template_errors(content)
    if errors:
        raise ValidationError("the content has template errors", errors)


def _check_sendable(communication: Communication) -> None:
    problems: list[dict[str, str]] = []
    if communication.audience.accepted == 0:
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
            email = render_email(communication.content.email[message.language], message.render_context)
            return {"subject": email.subject, "html": email.html, "text": email.text}
        return {"body": render_sms(communication.content.sms[message.language], message.render_context).body}
    except RenderError:
        return None  # the message failed to render when sent; its error says why
