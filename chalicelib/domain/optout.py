"""Recipients opting out: RFC 8058 one-click unsubscribe links for email, STOP / START replies by SMS.

An unsubscribe link carries a signed, expiring token (HMAC-SHA256 with the operator's unsubscribe
key) naming the account, the channel, a hash of the address, the communication and the expiry. The
token proves itself: no sign-in is needed, and nothing in it can be changed without the key. The
address itself never travels in the link; it is found again from the message record (or the account)
and must match the hash.

Communications are transactional by default (an outage notice, a maintenance window): those carry no
unsubscribe header. A communication marked `transactional: false` gets `List-Unsubscribe` and
`List-Unsubscribe-Post` on every email.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol
from urllib.parse import quote

from chalicelib.domain.addresses import E164_SHAPE
from chalicelib.domain.delivery import Suppression
from chalicelib.domain.errors import BadRequest, Forbidden, NotFound
from chalicelib.domain.models import (
    Account,
    Admin,
    AuditAction,
    AuditEntry,
    Channel,
    Communication,
    Message,
    message_id_for,
    utc_now,
)
from chalicelib.domain.planning import normalise_address
from chalicelib.domain.ports import AccountDirectory, AuditLog, MessageStore

logger = logging.getLogger(__name__)

TOKEN_VERSION = "v1"
# Binds the MAC to its purpose, so a key shared by mistake with another signer cannot mint tokens.
MAC_CONTEXT = b"herald-unsubscribe-v1."
UNSUBSCRIBE_PATH = "/unsubscribe"
ONE_CLICK = "List-Unsubscribe=One-Click"

UNSUBSCRIBED = "unsubscribed"  # suppression reason of a one-click unsubscribe
STOPPED = "stop"  # suppression reason of an SMS STOP reply
SUPPRESSIONS_AUDIT_SUBJECT = "suppressions"

# English carriers' keywords, and the French ones Canadian carriers honour.
STOP_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "ARRET", "ARRÊT"})
START_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})

# Who the audit trail names when a recipient acts.
UNSUBSCRIBE_LINK = Admin("herald:unsubscribe", "Recipient", "(unsubscribe link)", can_write=False)
SMS_REPLY = Admin("herald:sms-reply", "Recipient", "(SMS reply)", can_write=False)


def address_hash(channel: Channel, address: str) -> str:
    """A short digest of the normalised address: enough to recognise it, not to reveal it in a link."""
    digest = hashlib.sha256(f"{channel}:{normalise_address(channel, address)}".encode()).digest()
    return _b64(digest[:16])


def mask_address(channel: Channel, address: str) -> str:
    """What the audit trail and the confirmation page show: m•••@example.com, +1•••••••0100."""
    if channel is Channel.EMAIL:
        local, _, domain = address.rpartition("@")
        return f"{local[:1]}•••@{domain}" if local else "•••"
    return f"{address[:2]}{'•' * max(len(address) - 6, 0)}{address[-4:]}"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class UnsubscribeClaims:
    """What an unsubscribe token says: whose address, on which channel, from which communication."""

    account_id: str
    channel: Channel
    address_hash: str
    comm_id: str
    expires_at: int  # epoch seconds

    def to_payload(self) -> dict[str, str | int]:
        return {
            "a": self.account_id,
            "c": str(self.channel),
            "h": self.address_hash,
            "m": self.comm_id,
            "e": self.expires_at,
        }

    @classmethod
    def from_payload(cls, payload: object) -> UnsubscribeClaims:
        if not isinstance(payload, dict):
            raise ValueError("not an object")
        return cls(
            account_id=str(payload["a"]),
            channel=Channel(payload["c"]),
            address_hash=str(payload["h"]),
            comm_id=str(payload["m"]),
            expires_at=int(payload["e"]),
        )


@dataclass(frozen=True)
class UnsubscribeSigner:
    """Signs and verifies unsubscribe tokens with one HMAC-SHA256 key."""

    key: bytes
    ttl: timedelta = timedelta(days=90)
    clock: Callable[[], datetime] = utc_now

    def sign(self, account_id: str, channel: Channel, address: str, comm_id: str) -> str:
        expires_at = int((self.clock() + self.ttl).timestamp())
        claims = UnsubscribeClaims(account_id, channel, address_hash(channel, address), comm_id, expires_at)
        payload = _b64(json.dumps(claims.to_payload(), separators=(",", ":")).encode())
        return f"{TOKEN_VERSION}.{payload}.{_b64(self._mac(payload))}"

    def verify(self, token: str | None) -> UnsubscribeClaims:
        """The token's claims; BadRequest when there is none, Forbidden when it is forged or expired."""
        if not token:
            raise BadRequest("the unsubscribe link has no token", [{"field": "token", "error": "missing"}])
        version, _, rest = token.partition(".")
        payload, _, mac = rest.partition(".")
        if version != TOKEN_VERSION or not payload or not mac:
            raise Forbidden("this unsubscribe link is not valid")
        try:
            expected, given = self._mac(payload), _unb64(mac)
        except (binascii.Error, ValueError) as error:
            raise Forbidden("this unsubscribe link is not valid") from error
        if not hmac.compare_digest(expected, given):
            raise Forbidden("this unsubscribe link is not valid")
        try:
            claims = UnsubscribeClaims.from_payload(json.loads(_unb64(payload)))
        except (binascii.Error, ValueError, KeyError, TypeError) as error:
            raise Forbidden("this unsubscribe link is not valid") from error
        if claims.expires_at <= self.clock().timestamp():
            raise Forbidden("this unsubscribe link has expired; use the link in a more recent message")
        return claims

    def _mac(self, payload: str) -> bytes:
        return hmac.new(self.key, MAC_CONTEXT + payload.encode("ascii"), hashlib.sha256).digest()


@dataclass(frozen=True)
class UnsubscribeLinks:
    """Where unsubscribe links point (the API's public URL) and how they are signed."""

    signer: UnsubscribeSigner
    public_url: str
    mailto: str | None = None  # an address that takes unsubscribe requests by email, if the operator has one

    def url(self, token: str) -> str:
        return f"{self.public_url.rstrip('/')}{UNSUBSCRIBE_PATH}?token={quote(token, safe='')}"


def list_unsubscribe_headers(
    links: UnsubscribeLinks | None, communication: Communication, message: Message
) -> dict[str, str]:
    """The headers an email of `communication` carries: none for a transactional one (or without links),
    else RFC 2369 List-Unsubscribe (an HTTPS link, plus a mailto when there is one) and RFC 8058's
    List-Unsubscribe-Post, which tells mail clients a POST to the link unsubscribes in one click."""
    if links is None or communication.transactional or message.channel is not Channel.EMAIL:
        return {}
    if not message.address:
        return {}
    token = links.signer.sign(message.account_id, message.channel, message.address, communication.comm_id)
    targets = [f"<{links.url(token)}>"]
    if links.mailto:
        targets.append(f"<mailto:{links.mailto}?subject=unsubscribe>")
    return {"List-Unsubscribe": ", ".join(targets), "List-Unsubscribe-Post": ONE_CLICK}


class SmsKeyword(StrEnum):
    STOP = "stop"
    START = "start"


def parse_sms_keyword(text: str | None) -> SmsKeyword | None:
    """STOP / START when the whole reply is one of their keywords (any case, trimmed), else None."""
    word = (text or "").strip().rstrip(".!").strip().upper()
    if word in STOP_KEYWORDS:
        return SmsKeyword.STOP
    if word in START_KEYWORDS:
        return SmsKeyword.START
    return None


@dataclass(frozen=True)
class InboundSms:
    """A text a recipient sent to one of the operator's numbers."""

    provider: str
    sender: str  # the recipient's number
    body: str
    provider_message_id: str | None = None


class SuppressionRegistry(Protocol):
    """The suppression list as opting out changes it: atomic, so repeats and races act once."""

    def get(self, channel: Channel, address: str) -> Suppression | None: ...

    def add_if_absent(self, suppression: Suppression) -> bool:
        """Add the suppression unless the address is already suppressed (for any reason); True if added."""
        ...

    def delete_if_reason(self, channel: Channel, address: str, reason: str) -> bool:
        """Lift the address's suppression only if it has this reason; True if one was lifted."""
        ...


@dataclass(frozen=True)
class UnsubscribeRequest:
    """A verified link, with the address it stands for (masked for display)."""

    claims: UnsubscribeClaims
    address: str

    @property
    def masked_address(self) -> str:
        return mask_address(self.claims.channel, self.address)


@dataclass(frozen=True)
class OptOutResult:
    changed: bool  # False when there was nothing to do (already suppressed, nothing to lift, not a keyword)
    action: str | None = None
    channel: Channel | None = None
    masked_address: str | None = None


@dataclass
class OptOutService:
    """Applies recipients' opt-outs to the suppression list, and audits every change."""

    signer: Callable[[], UnsubscribeSigner]
    suppressions: SuppressionRegistry
    messages: MessageStore
    directory: AccountDirectory
    audit: AuditLog
    clock: Callable[[], datetime] = field(default=utc_now)

    def check(self, token: str | None) -> UnsubscribeRequest:
        """Verify a link and find its address; changes nothing (the GET confirmation page)."""
        claims = self.signer().verify(token)
        return UnsubscribeRequest(claims, self._address(claims))

    def unsubscribe(self, token: str | None) -> OptOutResult:
        """One-click unsubscribe: suppress the link's address (reason `unsubscribed`), once."""
        request = self.check(token)
        claims = request.claims
        suppression = Suppression(
            channel=claims.channel,
            address=normalise_address(claims.channel, request.address),
            reason=UNSUBSCRIBED,
            source="unsubscribe link",
            comm_id=claims.comm_id,
            message_id=message_id_for(claims.comm_id, claims.account_id, claims.channel),
            created_at=self.clock(),
        )
        result = OptOutResult(False, AuditAction.UNSUBSCRIBE, claims.channel, request.masked_address)
        if not self.suppressions.add_if_absent(suppression):
            return result
        self._record(
            UNSUBSCRIBE_LINK,
            AuditAction.UNSUBSCRIBE,
            channel=str(claims.channel),
            address=request.masked_address,
            account_id=claims.account_id,
            comm_id=claims.comm_id,
        )
        return replace(result, changed=True)

    def inbound_sms(self, sms: InboundSms) -> OptOutResult:
        """STOP keywords suppress the sender's number (reason `stop`); START keywords lift only such a
        suppression (never a hard bounce's); any other text is ignored."""
        keyword = parse_sms_keyword(sms.body)
        number = normalise_address(Channel.SMS, sms.sender)
        if keyword is None or not E164_SHAPE.match(number):
            return OptOutResult(changed=False)
        if keyword is SmsKeyword.STOP:
            changed = self.suppressions.add_if_absent(
                Suppression(
                    channel=Channel.SMS,
                    address=number,
                    reason=STOPPED,
                    source=f"{sms.provider} sms reply",
                    created_at=self.clock(),
                )
            )
            action = AuditAction.SMS_STOP
        else:
            changed = self.suppressions.delete_if_reason(Channel.SMS, number, STOPPED)
            action = AuditAction.SMS_START
        if changed:
            self._record(
                SMS_REPLY,
                action,
                channel=str(Channel.SMS),
                address=mask_address(Channel.SMS, number),
                provider=sms.provider,
                provider_message_id=sms.provider_message_id,
            )
        logger.info("sms keyword", extra={"keyword": str(keyword), "changed": changed})
        return OptOutResult(changed=changed, action=action)

    def _address(self, claims: UnsubscribeClaims) -> str:
        """The address the link was sent to: from its message record, else the account's current one."""
        message = self.messages.get(
            claims.comm_id, message_id_for(claims.comm_id, claims.account_id, claims.channel)
        )
        account: Account | None = None
        candidates = [message.address if message else None]
        if not _matches(claims, candidates[0]):
            account = self.directory.get(claims.account_id)
            candidates.append(account.email if account and claims.channel is Channel.EMAIL else None)
        for candidate in candidates:
            if candidate and _matches(claims, candidate):
                return candidate
        raise NotFound("the address this link was sent to is no longer on file")

    def _record(self, actor: Admin, action: AuditAction, **details: object) -> None:
        entry = AuditEntry(SUPPRESSIONS_AUDIT_SUBJECT, actor, action, dict(details), at=self.clock())
        self.audit.record(entry)


def _matches(claims: UnsubscribeClaims, address: str | None) -> bool:
    return bool(address) and hmac.compare_digest(
        address_hash(claims.channel, address or ""), claims.address_hash
    )
