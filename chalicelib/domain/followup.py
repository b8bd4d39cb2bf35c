"""Fixing what failed: the send-failures tab (by account) and cloning a communication for a resend."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.domain.audience import chunked
from chalicelib.domain.communications import CommunicationService, DraftFields
from chalicelib.domain.errors import Conflict, ValidationError
from chalicelib.domain.models import (
    Admin,
    AudienceSummary,
    Channel,
    Communication,
    CommunicationStatus,
    Message,
    MessageStatus,
    Page,
    message_id_for,
)
from chalicelib.domain.ports import AudienceStore, CommunicationStore

PAGE_SIZE = 200
NAME_MAX = 200
HANDED_OVER = frozenset({MessageStatus.SENT, MessageStatus.DELIVERED})
CLONE_AUDIENCES: dict[str, tuple[MessageStatus, str]] = {
    "send_failures": (MessageStatus.SEND_FAILED, "resend to send failures"),
    "delivery_failures": (MessageStatus.FAILED, "resend to delivery failures"),
}


class MessageReader(Protocol):
    def list(
        self,
        comm_id: str,
        channel: Channel | None,
        statuses: frozenset[MessageStatus] | None,
        account_id: str | None,
        cursor: str | None,
        limit: int,
    ) -> Page[Message]: ...

    def get_many(self, comm_id: str, message_ids: Sequence[str]) -> dict[str, Message]: ...


@dataclass
class FollowUpService:
    communications: CommunicationService
    store: CommunicationStore
    audiences: AudienceStore
    messages: MessageReader
    audience_chunk_size: int

    def send_failures(self, comm_id: str, cursor: str | None, limit: int) -> Page[dict[str, Any]]:
        """SEND_FAILED messages grouped by account, each account once, with what else it got."""
        communication = self.communications.get(comm_id)
        page = self.messages.list(comm_id, None, frozenset({MessageStatus.SEND_FAILED}), None, cursor, limit)
        accounts = list(dict.fromkeys(m.account_id for m in page.items))
        siblings = self.messages.get_many(
            comm_id,
            [message_id_for(comm_id, a, c) for a in accounts for c in communication.channels],
        )
        by_account: dict[str, list[Message]] = {}
        for message in siblings.values():
            by_account.setdefault(message.account_id, []).append(message)
        groups = []
        for message in page.items:
            own = sorted(by_account.get(message.account_id, [message]), key=lambda m: m.message_id)
            failed = [m for m in own if m.status is MessageStatus.SEND_FAILED] or [message]
            # An account whose two messages both failed may span two pages: it is listed with its first.
            if failed[0].message_id != message.message_id:
                continue
            groups.append(_failure_group(message.account_id, failed, own))
        return Page(groups, page.next_cursor)

    def send_failure_account_ids(self, comm_id: str) -> Iterator[str]:
        """Every account with a SEND_FAILED message, once, page by page."""
        self.communications.get(comm_id)
        yield from self._accounts_with(comm_id, MessageStatus.SEND_FAILED)

    def clone(self, comm_id: str, only: str | None, by: Admin) -> Communication:
        """A new draft with the same content; with `only`, exactly the accounts that failed that way."""
        original = self.communications.get(comm_id)
        if only is not None and only not in CLONE_AUDIENCES:
            raise ValidationError(
                "only must be null, send_failures or delivery_failures",
                [{"field": "only", "error": "unknown"}],
            )
        account_ids: list[str] = []
        suffix = "copy"
        if only is not None:
            if original.status is CommunicationStatus.DRAFT:
                raise Conflict("a draft has not been sent, so it has no failures to resend")
            status, suffix = CLONE_AUDIENCES[only]
            account_ids = list(self._accounts_with(comm_id, status))
            if not account_ids:
                raise ValidationError(
                    f"no account has a {status} message in this communication; nothing to resend",
                    [{"field": "only", "error": "no such accounts"}],
                )
        fields = DraftFields(
            name=_clone_name(original.name, suffix),
            channels=list(original.channels),
            default_language=original.default_language,
            content=original.content,
            transactional=original.transactional,
        )
        clone = self.communications.create(fields, by=by)
        if account_ids:
            chunks = self.audiences.replace(
                clone.comm_id, chunked(account_ids, self.audience_chunk_size), previous_chunks=0
            )
            clone.audience = AudienceSummary(
                source="clone", state="ready", accepted=len(account_ids), chunks=chunks
            )
            self.store.set_audience(clone.comm_id, clone.audience)
        return clone

    def _accounts_with(self, comm_id: str, status: MessageStatus) -> Iterator[str]:
        seen: set[str] = set()
        cursor: str | None = None
        while True:
            page = self.messages.list(comm_id, None, frozenset({status}), None, cursor, PAGE_SIZE)
            for message in page.items:
                if message.account_id not in seen:
                    seen.add(message.account_id)
                    yield message.account_id
            if not page.next_cursor:
                return
            cursor = page.next_cursor


def _failure_group(account_id: str, failed: list[Message], own: list[Message]) -> dict[str, Any]:
    failed_ids = {m.message_id for m in failed}
    others = [m for m in own if m.message_id not in failed_ids]
    return {
        "account_id": account_id,
        "failures": [
            {"message_id": m.message_id, "channel": str(m.channel), "address": m.address, "error": m.error}
            for m in failed
        ],
        "got_other_message": any(m.status in HANDED_OVER for m in others),
        "other_messages": [
            {"message_id": m.message_id, "channel": str(m.channel), "status": str(m.status)} for m in others
        ],
    }


def _clone_name(name: str, suffix: str) -> str:
    tail = f" ({suffix})"
    return name[: NAME_MAX - len(tail)] + tail
