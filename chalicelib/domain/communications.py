"""Communications: drafts, their audience, sending, and reading back what happened."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from chalicelib.domain.errors import Conflict, NotFound, ValidationError
from chalicelib.domain.models import (
    Admin,
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
    CommunicationStore,
    MessageStore,
    TemplateStore,
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
    # On create only: copy content (and the default language, unless given) from a saved template.
    template_id: str | None = None


@dataclass
class CommunicationService:
    communications: CommunicationStore
    audiences: AudienceStore
    directory: AccountDirectory
    messages: MessageStore
    queue: WorkQueue
    audience_chunk_size: int
    templates: TemplateStore | None = None

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
            template_id=fields.template_id,
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
        if communication.status is not CommunicationStatus.DRAFT:
            raise Conflict(f"only drafts can be changed; this communication is {communication.status}")
        return communication


def _check_templates(content: Content) -> None:
    errors = template_errors(content)
    if errors:
        raise ValidationError("the content has template errors", errors)


def _check_sendable(communication: Communication) -> None:
    problems: list[dict[str, str]] = []
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
