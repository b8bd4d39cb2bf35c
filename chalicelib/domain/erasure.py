"""Erasing an account's personal data: its name, email and phone, wherever Herald keeps them.

That is the account record, every message record of the account (the address it went to and the
account fields it was rendered with), and the raw provider events of those messages. Statuses,
counters and the audit trail stay: what was sent, and how it went, is not personal data once no
record says to whom. The suppression list keeps its addresses, so an opt-out or a bounce is still
honoured if the same address comes back.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from chalicelib.domain.errors import NotFound
from chalicelib.domain.models import Admin, AuditAction, AuditEntry, iso, utc_now
from chalicelib.domain.ports import AccountDirectory, AuditLog

ERASED = "[erased]"


def account_audit_subject(account_id: str) -> str:
    return f"account#{account_id}"


class PersonalRecords(Protocol):
    """Where message records and raw provider events keep personal data, found by key or index."""

    def message_keys(self, account_id: str) -> Iterator[tuple[str, str]]:
        """(comm_id, message_id) of every message record of the account."""
        ...

    def erase_messages(self, keys: Sequence[tuple[str, str]]) -> int:
        """Remove the address and the rendering fields of these messages (and the address from their
        error text); returns how many records were changed."""
        ...

    def erase_events(self, message_ids: Sequence[str]) -> int:
        """Remove the raw payload (recipient included) of every provider event of these messages;
        returns how many event records were changed."""
        ...


@dataclass(frozen=True)
class ErasureResult:
    account_id: str
    messages: int
    events: int

    def to_api(self) -> dict[str, object]:
        return {
            "account_id": self.account_id,
            "erased": {"account": 1, "messages": self.messages, "provider_events": self.events},
        }


@dataclass
class ErasureService:
    directory: AccountDirectory
    records: PersonalRecords
    audit: AuditLog

    def erase(self, account_id: str, by: Admin) -> ErasureResult:
        """Erase the account's name, email and phone everywhere; repeating it is harmless."""
        account = self.directory.get(account_id)
        if account is None:
            raise NotFound(f"account {account_id} not found")
        keys = list(self.records.message_keys(account_id))
        messages = self.records.erase_messages(keys)
        events = self.records.erase_events([message_id for _, message_id in keys])
        # The account last: if anything above fails, asking again finds the account and finishes.
        self.directory.put(
            replace(account, first_name="", last_name="", email=None, phone=None, updated_at=iso(utc_now()))
        )
        result = ErasureResult(account_id, messages, events)
        self.audit.record(
            AuditEntry(
                account_audit_subject(account_id),
                by,
                AuditAction.ERASE,
                {"messages": messages, "provider_events": events},
                at=utc_now(),
            )
        )
        return result


def scrub(text: str | None, addresses: Sequence[str]) -> str | None:
    """`text` with every occurrence of the addresses (any case) replaced by [erased]."""
    if not text:
        return text
    for address in addresses:
        if address:
            text = re.sub(re.escape(address), ERASED, text, flags=re.IGNORECASE)
    return text
