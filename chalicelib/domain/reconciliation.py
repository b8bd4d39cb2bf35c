"""Messages whose outcome is in doubt, and counters checked against the records.

A message is UNKNOWN when the provider may have taken it but nobody recorded that: its worker
died mid-window (a takeover marks the window), or the provider's answer was lost (a read
timeout). It is never resent. A provider event carrying Herald's tags proves it was sent
(`reconcile_from_event`); without proof, once the reconciliation window ends, the sweep records
it SEND_FAILED with `outcome_unknown`, so an admin can decide whether to send it again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from chalicelib.domain.models import (
    OUTCOME_UNKNOWN_TEXT,
    Channel,
    Counts,
    FailureCode,
    Message,
    MessageStatus,
    utc_now,
)
from chalicelib.domain.ports import CommunicationStore, MessageStore, SendLedger
from chalicelib.domain.progress import finish_if_done

logger = logging.getLogger(__name__)

ATTEMPTS = 3


def is_in_doubt(message: Message) -> bool:
    """UNKNOWN, or given up on as outcome_unknown: a provider's proof may still turn it SENT."""
    return message.status is MessageStatus.UNKNOWN or (
        message.status is MessageStatus.SEND_FAILED and message.error_code == FailureCode.OUTCOME_UNKNOWN
    )


@dataclass
class Reconciler:
    ledger: SendLedger
    messages: MessageStore
    communications: CommunicationStore

    def reconcile_from_event(
        self,
        comm_id: str,
        message_id: str,
        provider_message_id: str,
        *,
        provider: str | None = None,
        account_id: str | None = None,
        channel: Channel | str | None = None,
    ) -> bool:
        """A provider event with Herald's tags proves this message was sent.

        Call it for any event that carries `herald_comm_id` and `herald_message_id` (pass
        `herald_account_id` and `herald_channel` too when the event has them), before applying
        the event itself. An UNKNOWN message, or one given up on as outcome_unknown, becomes
        SENT with the counters moved; a message its worker has not recorded yet keeps the proof
        (counted when its window is). Returns True when this changed what Herald knows;
        calling it again for the same event changes nothing.
        """
        for _ in range(ATTEMPTS):
            record = self.messages.get_many(comm_id, [message_id]).get(message_id)
            if record is None:
                proof = self._proof(comm_id, message_id, provider_message_id, provider, account_id, channel)
                if proof is None:
                    return False
                if self.ledger.record_proof(proof):
                    logger.info("proof of sending kept", extra={"comm_id": comm_id, "message_id": message_id})
                    return True
                continue
            if not is_in_doubt(record):
                return False
            if self.ledger.confirm_sent(record, provider, provider_message_id):
                logger.info(
                    "message in doubt proven sent",
                    extra={"comm_id": comm_id, "message_id": message_id, "was": str(record.status)},
                )
                finish_if_done(self.communications, self.ledger.communication(comm_id))
                return True
        return False

    def _proof(
        self,
        comm_id: str,
        message_id: str,
        provider_message_id: str,
        provider: str | None,
        account_id: str | None,
        channel: Channel | str | None,
    ) -> Message | None:
        if account_id is None or channel is None:
            logger.warning(
                "event for an unrecorded message without its account and channel",
                extra={"comm_id": comm_id, "message_id": message_id},
            )
            return None
        proof = Message(
            comm_id=comm_id,
            account_id=account_id,
            channel=Channel(channel),
            status=MessageStatus.SENT,
            provider=provider,
            provider_message_id=provider_message_id,
            sent_at=utc_now(),
        )
        if proof.message_id != message_id:
            logger.warning("event tags do not match", extra={"comm_id": comm_id, "message_id": message_id})
            return None
        return proof

    def settle_window(self, comm_id: str, key: str) -> int:
        """The reconciliation window of `key` is over: its messages still UNKNOWN become
        SEND_FAILED (outcome_unknown). Returns how many."""
        for _ in range(ATTEMPTS):
            message_ids = self.ledger.unknown_window(comm_id, key)
            if message_ids is None:
                return 0
            records = self.messages.get_many(comm_id, message_ids)
            failed = [_given_up(r) for r in records.values() if r.status is MessageStatus.UNKNOWN]
            if self.ledger.settle_unknown(comm_id, key, failed):
                if failed:
                    logger.warning(
                        "messages in doubt given up on", extra={"comm_id": comm_id, "count": len(failed)}
                    )
                finish_if_done(self.communications, self.ledger.communication(comm_id))
                return len(failed)
        return 0


def _given_up(message: Message) -> Message:
    message.status = MessageStatus.SEND_FAILED
    message.error_code = str(FailureCode.OUTCOME_UNKNOWN)
    message.error = OUTCOME_UNKNOWN_TEXT
    message.updated_at = utc_now()
    return message


def tally_records(records: Iterable[Message], planned: dict[Channel, int]) -> dict[Channel, Counts]:
    """The counters the records and the planned totals say a communication should have."""
    counts = {channel: Counts(total=total) for channel, total in planned.items()}
    for record in records:
        counts.setdefault(record.channel, Counts()).record(record.status)
    return counts


@dataclass(frozen=True)
class CountsCheck:
    stored: dict[Channel, Counts]
    from_records: dict[Channel, Counts]

    @property
    def matches(self) -> bool:
        channels = set(self.stored) | set(self.from_records)
        return all(self.stored.get(c, Counts()) == self.from_records.get(c, Counts()) for c in channels)


def check_counts(
    ledger: SendLedger, messages: MessageStore, comm_id: str, repair: bool = False
) -> CountsCheck:
    """Compare a communication's counters with the tally of its records (and repair them).

    Meant for a communication that is not sending right now (finished, cancelled and settled,
    or paused): a window being sent has records its counters will only take at its commit.
    """
    communication = ledger.communication(comm_id)
    stored = dict(communication.counts_by_channel) if communication else {}
    from_records = tally_records(messages.all_of(comm_id), ledger.planned_totals(comm_id))
    check = CountsCheck(stored, from_records)
    if repair and not check.matches:
        ledger.set_counters(comm_id, from_records)
        logger.warning("counters rebuilt from the records", extra={"comm_id": comm_id})
    return check
