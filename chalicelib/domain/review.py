"""Before sending: preview one account's message, dry-run the whole audience, send a test to one person.

All three decide messages with `Sender.outline` (channels, skip reasons, language) and render
with `render_message`, the very code a send runs, so what they show is what a send then does.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.addresses import email_problem, phone_problem
from chalicelib.domain.errors import Conflict, NotFound, SendFailure, ValidationError
from chalicelib.domain.models import (
    Account,
    Admin,
    Channel,
    Communication,
    EmailContent,
    Message,
    MessageStatus,
    OutgoingEmail,
    OutgoingSms,
    SmsContent,
)
from chalicelib.domain.planning import choose_language
from chalicelib.domain.ports import (
    AccountDirectory,
    AudienceStore,
    CommunicationStore,
    EmailSender,
    SmsSender,
)
from chalicelib.domain.rendering import RenderError, render_message
from chalicelib.domain.sending import Sender
from chalicelib.domain.sms import sms_shape

logger = logging.getLogger(__name__)

READ_BATCH = 100
SAMPLE_ACCOUNT_ID = "00000000-0000-0000-0000-000000000000"
Progress = Callable[[int, int], None]


@dataclass
class DryRunTally:
    """What a send would produce, counted the way the communication's counters count it."""

    messages_total: int = 0
    accounts: int = 0
    by_channel: Counter[str] = field(default_factory=Counter)
    by_language: Counter[str] = field(default_factory=Counter)
    by_channel_language: dict[str, Counter[str]] = field(default_factory=dict)
    fallbacks: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    render_errors: int = 0
    sms_segments: int = 0

    def add(self, communication: Communication, message: Message, account: Account | None) -> None:
        self.messages_total += 1
        channel = str(message.channel)
        self.by_channel[channel] += 1
        if message.status is MessageStatus.SKIPPED or account is None or message.language is None:
            self.skipped[str(message.skip_reason)] += 1
            return
        self.by_language[message.language] += 1
        self.by_channel_language.setdefault(channel, Counter())[message.language] += 1
        if message.language.lower() != account.language.lower():
            self.fallbacks[f"{account.language}->{message.language}"] += 1
        try:
            rendered = render_message(
                communication, message.channel, message.language, account.render_context()
            )
        except RenderError:
            self.render_errors += 1
            return
        if isinstance(rendered, SmsContent):
            self.sms_segments += sms_shape(rendered.body).segments

    def to_api(self) -> dict[str, Any]:
        return {
            "messages_total": self.messages_total,
            "accounts": self.accounts,
            "by_channel": dict(self.by_channel),
            "by_language": dict(self.by_language),
            "by_channel_language": {ch: dict(langs) for ch, langs in self.by_channel_language.items()},
            "fallbacks": sum(self.fallbacks.values()),
            "fallbacks_by_language": dict(self.fallbacks),
            "skipped": dict(self.skipped),
            "render_errors": self.render_errors,
            "sms_segments": self.sms_segments,
        }


@dataclass
class ReviewService:
    communications: CommunicationStore
    audiences: AudienceStore
    directory: AccountDirectory
    sender: Sender
    email_sender: Callable[[], EmailSender]
    sms_sender: Callable[[], SmsSender]

    def _get(self, comm_id: str) -> Communication:
        communication = self.communications.get(comm_id)
        if communication is None:
            raise NotFound(f"communication {comm_id} not found")
        return communication

    # -- preview -------------------------------------------------------------------------------

    def preview(self, comm_id: str, account_id: str, channel: Channel | None) -> dict[str, Any]:
        """Exactly what `account_id` would receive now, or why a message would be skipped."""
        communication = self._get(comm_id)
        if channel is not None and channel not in communication.channels:
            raise ValidationError(
                f"this communication is not sent by {channel}", [{"field": "channel", "error": "not used"}]
            )
        account = self.directory.get(account_id)
        if account is None:
            raise NotFound(f"account {account_id} not found")
        outlined = self.sender.outline(communication, [account_id], {account_id: account})
        messages = [
            self._previewed(communication, message, account)
            for message in outlined
            if channel is None or message.channel is channel
        ]
        return {"account_id": account_id, "messages": messages}

    def _previewed(self, communication: Communication, message: Message, account: Account) -> dict[str, Any]:
        body: dict[str, Any] = {
            "channel": str(message.channel),
            "status": "SKIPPED" if message.status is MessageStatus.SKIPPED else "WOULD_SEND",
            "address": message.address,
        }
        if message.status is MessageStatus.SKIPPED or message.language is None:
            body.update(skip_reason=str(message.skip_reason), error=message.error)
            return body
        choice = choose_language(communication, message.channel, account)
        body.update(
            language=message.language, fell_back=choice.fell_back, requested_language=account.language
        )
        rendered = _render_or_422(communication, message.channel, message.language, account.render_context())
        if isinstance(rendered, SmsContent):
            body.update(body=rendered.body, sms=sms_shape(rendered.body).to_api())
            body["sms_by_language"] = self._sms_by_language(communication, account)
        else:
            body.update(subject=rendered.subject, html=rendered.html, text=rendered.text)
        return body

    def _sms_by_language(self, communication: Communication, account: Account) -> dict[str, Any]:
        shapes: dict[str, Any] = {}
        for language in communication.content.languages(Channel.SMS):
            try:
                rendered = render_message(communication, Channel.SMS, language, account.render_context())
            except RenderError as error:
                shapes[language] = {"error": str(error)}
                continue
            assert isinstance(rendered, SmsContent)
            shapes[language] = sms_shape(rendered.body).to_api()
        return shapes

    # -- dry run -------------------------------------------------------------------------------

    def dry_run(self, comm_id: str, progress: Progress | None = None) -> dict[str, Any]:
        """Count, over the whole audience, the messages a send would produce, without sending."""
        communication = self._get(comm_id)
        if communication.audience.state not in ("ready", "empty"):
            raise Conflict(f"the audience is {communication.audience.state}; wait until it is ready")
        tally = DryRunTally()
        chunks = communication.audience.chunks if communication.audience.state == "ready" else 0
        for number in range(chunks):
            account_ids = self.audiences.chunk(comm_id, number) or []
            for start in range(0, len(account_ids), READ_BATCH):
                batch = account_ids[start : start + READ_BATCH]
                accounts = self.directory.get_many(batch)
                tally.accounts += len(batch)
                for message in self.sender.outline(communication, batch, accounts):
                    tally.add(communication, message, accounts.get(message.account_id))
            if progress:
                progress(number + 1, chunks)
        return tally.to_api()

    # -- test send -----------------------------------------------------------------------------

    def test_send(
        self,
        comm_id: str,
        by: Admin,
        account_id: str | None,
        email: str | None,
        phone: str | None,
    ) -> dict[str, Any]:
        """Send the rendered message(s) to one recipient; nothing is recorded and no counter moves.

        With `account_id` alone, that account's messages go to its own addresses. With an email
        and/or phone, the messages go there, rendered with `account_id`'s data when given, else
        with a sample account named after the caller.
        """
        communication = self._get(comm_id)
        account = self._test_account(communication, by, account_id, email, phone)
        outlined = self.sender.outline(communication, [account.account_id], {account.account_id: account})
        report: dict[str, list[dict[str, Any]]] = {"sent": [], "skipped": [], "failed": []}
        for message in outlined:
            if message.status is MessageStatus.SKIPPED or message.language is None or message.address is None:
                report["skipped"].append(
                    {
                        "channel": str(message.channel),
                        "skip_reason": str(message.skip_reason),
                        "error": message.error,
                    }
                )
                continue
            rendered = _render_or_422(
                communication, message.channel, message.language, account.render_context()
            )
            entry: dict[str, Any] = {
                "channel": str(message.channel),
                "address": message.address,
                "language": message.language,
            }
            try:
                result = self._deliver(communication, message.address, rendered)
            except SendFailure as failure:
                report["failed"].append({**entry, "error": failure.reason})
                continue
            report["sent"].append(
                {**entry, "provider": result.provider, "provider_message_id": result.provider_message_id}
            )
        return report

    def _test_account(
        self,
        communication: Communication,
        by: Admin,
        account_id: str | None,
        email: str | None,
        phone: str | None,
    ) -> Account:
        problems = []
        if email and email_problem(email):
            problems.append({"field": "email", "error": email_problem(email)})
        if phone and phone_problem(phone):
            problems.append({"field": "phone", "error": phone_problem(phone)})
        if problems:
            raise ValidationError("the test recipient is not valid", problems)
        if account_id:
            account = self.directory.get(account_id)
            if account is None:
                raise NotFound(f"account {account_id} not found")
        else:
            account = Account(
                account_id=SAMPLE_ACCOUNT_ID,
                first_name=by.first_name or "Test",
                last_name=by.last_name or "Recipient",
                language=communication.default_language,
                channels=list(communication.channels),
            )
        if email or phone:
            account.email, account.phone = email, phone
            account.channels = [c for c in communication.channels if (email if c is Channel.EMAIL else phone)]
            account.status = "active"
        return account

    def _deliver(
        self, communication: Communication, address: str, rendered: EmailContent | SmsContent
    ) -> Any:
        tags = {"comm_id": communication.comm_id, "message_id": "test-send"}
        # The operator's sender identity, as the real send will use it.
        identity = self.sender.identity() if self.sender.identity else None
        if isinstance(rendered, EmailContent):
            return self.email_sender().send(
                OutgoingEmail(address, rendered.subject, rendered.html, rendered.text, tags, sender=identity)
            )
        sender_id = identity.sms_sender if identity else None
        return self.sms_sender().send(OutgoingSms(address, rendered.body, tags, sender_id=sender_id))


def _render_or_422(
    communication: Communication, channel: Channel, language: str, context: dict[str, Any]
) -> EmailContent | SmsContent:
    try:
        return render_message(communication, channel, language, context)
    except RenderError as error:
        field_name = "subject" if str(error).startswith("subject") else str(error).split(":")[0]
        section = "email" if channel is Channel.EMAIL else "sms"
        raise ValidationError(
            "the content does not render for this account",
            [
                {
                    "field": f"content.{section}.{language}.{field_name}",
                    "line": error.line,
                    "error": str(error),
                }
            ],
        ) from error
