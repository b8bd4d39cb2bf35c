"""Provider webhooks: each request is verified by its provider's module, then its events are queued
for the events worker (chalicelib/adapters/events_queue.py), which applies them in batches.

Nothing is read from a body, let alone stored, before its signature checks out. A request is
answered 200 only once its events are on the queue; otherwise the provider sends it again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, Protocol

from chalicelib.adapters.email import mailgun, sendgrid
from chalicelib.adapters.sms import twilio
from chalicelib.adapters.sns_events import (
    Fetch,
    SnsMessageVerifier,
    confirm_subscription,
    events_from_envelope,
    inbound_sms_from_envelope,
    parse_envelope,
)
from chalicelib.domain.delivery import DeliveryEvent
from chalicelib.domain.errors import Forbidden
from chalicelib.domain.optout import InboundSms, OptOutResult


class ReplayGuard(Protocol):
    """Remembers webhook tokens (DynamoReplayGuard), so each one is accepted once."""

    def first_use(self, namespace: str, token: str, keep_until: datetime) -> bool: ...

    def forget(self, namespace: str, token: str) -> None: ...


class EventInbox(Protocol):
    """Where verified events wait for the events worker (SqsDeliveryEventQueue)."""

    def hand_over(self, events: Sequence[DeliveryEvent]) -> None: ...


@dataclass(frozen=True)
class Accepted:
    """What a webhook request came to: how many delivery events it queued."""

    events: int

    def to_api(self) -> dict[str, int]:
        return {"accepted": self.events}


@dataclass
class DeliveryWebhooks:
    inbox: EventInbox
    credential: Callable[[str], str]
    replay_guard: ReplayGuard
    sns_verifier: SnsMessageVerifier
    sns_confirm: Fetch
    public_url: str
    mailgun_max_age_s: int
    # Recipients' SMS replies (STOP / START), from Twilio or an SNS two-way channel.
    inbound_sms: Callable[[InboundSms], OptOutResult] | None = None

    def _secret(self, name: str, provider: str) -> str:
        value = self.credential(name)
        if not value:
            raise Forbidden(
                f"{provider} webhooks are not configured on this deployment (HERALD_{name.upper()})"
            )
        return value

    @cached_property
    def _sendgrid_key(self) -> Any:
        return sendgrid.load_public_key(self._secret("sendgrid_webhook_public_key", "SendGrid"))

    def _accept(self, events: Sequence[DeliveryEvent]) -> Accepted:
        if events:
            self.inbox.hand_over(events)
        return Accepted(len(events))

    def sendgrid(self, headers: Mapping[str, str], body: bytes) -> Accepted:
        return self._accept(sendgrid.events_from_webhook(headers, body, self._sendgrid_key))

    def mailgun(self, body: bytes) -> Accepted:
        key = self._secret("mailgun_signing_key", "Mailgun")
        used: list[str] = []

        def first_use(token: str, keep_until: datetime) -> bool:
            used.append(token)
            return self.replay_guard.first_use("mailgun", token, keep_until)

        events = mailgun.events_from_webhook(body, key, first_use, self.mailgun_max_age_s)
        try:
            return self._accept(events)
        except Exception:
            # Not queued: let Mailgun's retry of this very request through.
            for token in used:
                self.replay_guard.forget("mailgun", token)
            raise

    def twilio(self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str]) -> Accepted:
        token = self._secret("twilio_auth_token", "Twilio")
        return self._accept(twilio.events_from_webhook(headers, body, query, self.public_url, token))

    def sns(self, body: bytes) -> Accepted | None:
        """Queue a notification's events; None for a (confirmed) subscription message."""
        envelope = parse_envelope(body)
        self.sns_verifier.verify(envelope)
        if envelope["Type"] == "SubscriptionConfirmation":
            confirm_subscription(envelope, self.sns_confirm)
            return None
        if envelope["Type"] == "UnsubscribeConfirmation":
            return None
        inbound = inbound_sms_from_envelope(envelope)
        if inbound is not None and self.inbound_sms is not None:
            self.inbound_sms(inbound)
            return Accepted(0)
        return self._accept(events_from_envelope(envelope))

    def twilio_inbound(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str]
    ) -> OptOutResult:
        token = self._secret("twilio_auth_token", "Twilio")
        sms = twilio.inbound_from_webhook(headers, body, query, self.public_url, token)
        if self.inbound_sms is None:
            return OptOutResult(changed=False)
        return self.inbound_sms(sms)
