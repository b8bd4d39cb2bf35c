"""The send pipeline: the planner turns an audience into send tasks; the sender works through a task."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from chalicelib.domain.delivery import SuppressionList
from chalicelib.domain.errors import PermanentFailure, SendFailure, Throttled
from chalicelib.domain.models import (
    SKIP_REASON_TEXT,
    Account,
    Channel,
    Communication,
    CommunicationStatus,
    Counts,
    EmailContent,
    Message,
    MessageStatus,
    OutgoingEmail,
    OutgoingSms,
    SenderIdentity,
    SendResult,
    utc_now,
)
from chalicelib.domain.optout import UnsubscribeLinks, list_unsubscribe_headers
from chalicelib.domain.planning import (
    PlannedMessage,
    address_for,
    apply_suppressions,
    choose_language,
    normalise_address,
    plan_channels,
)
from chalicelib.domain.ports import (
    AccountDirectory,
    AudienceStore,
    CommunicationStore,
    DiscardMetrics,
    EmailSender,
    MessageStore,
    MetricName,
    Metrics,
    PlannedAccount,
    SendLedger,
    SendTask,
    SmsSender,
    TaskOutcome,
    WorkQueue,
)
from chalicelib.domain.rendering import RenderError, render_message

logger = logging.getLogger(__name__)


def finish_if_done(store: CommunicationStore, communication: Communication) -> None:
    """End a communication once planning is over and no message is pending."""
    if communication.status is not CommunicationStatus.IN_PROGRESS or not communication.planning_done:
        return
    counts = communication.counts
    if counts.pending > 0:
        return
    final = CommunicationStatus.FAILED if counts.send_failed else CommunicationStatus.COMPLETED
    if store.finish(communication.comm_id, final):
        logger.info("communication finished", extra={"comm_id": communication.comm_id, "status": str(final)})


@dataclass
class Planner:
    """Expands a communication's audience, chunk by chunk, into send tasks on the queue."""

    communications: CommunicationStore
    audiences: AudienceStore
    directory: AccountDirectory
    ledger: SendLedger
    queue: WorkQueue
    task_size: int
    chunks_per_run: int

    def plan(self, comm_id: str, first_chunk: int) -> None:
        communication = self.communications.get(comm_id)
        if communication is None or communication.status is not CommunicationStatus.IN_PROGRESS:
            logger.info("nothing to plan", extra={"comm_id": comm_id})
            return
        last_chunk = min(first_chunk + self.chunks_per_run, communication.audience.chunks)
        for number in range(first_chunk, last_chunk):
            self._plan_chunk(communication, number)
        if last_chunk < communication.audience.chunks:
            self.queue.enqueue_planning(comm_id, last_chunk)
            return
        finish_if_done(self.communications, self.communications.mark_planning_done(comm_id))

    def _plan_chunk(self, communication: Communication, number: int) -> None:
        account_ids = self.audiences.chunk(communication.comm_id, number) or []
        accounts = self.directory.get_many(account_ids)
        planned = [
            PlannedAccount(
                account_id,
                tuple(m.channel for m in plan_channels(accounts.get(account_id), communication.channels)),
            )
            for account_id in account_ids
        ]
        totals = Counter(channel for account in planned for channel in account.channels)
        tasks = [
            SendTask(
                comm_id=communication.comm_id,
                task_id=f"{number:06d}-{index:04d}",
                accounts=tuple(planned[start : start + self.task_size]),
            )
            for index, start in enumerate(range(0, len(planned), self.task_size))
        ]
        # Counted before queued: a redelivered chunk re-queues its tasks (claims make that harmless)
        # but never counts them twice.
        self.ledger.mark_chunk_planned(communication.comm_id, number, dict(totals))
        self.queue.enqueue_send_tasks(tasks)


@dataclass
class RetryPolicy:
    attempts: int = 3
    first_delay_s: float = 0.2
    sleep: Callable[[float], None] = time.sleep


@dataclass
class _TaskTally:
    counts: dict[Channel, Counts] = field(default_factory=dict)

    def add(self, message: Message) -> None:
        counts = self.counts.setdefault(message.channel, Counts())
        counts.total += 1
        if message.status is MessageStatus.SENT:
            counts.sent += 1
        elif message.status is MessageStatus.SEND_FAILED:
            counts.send_failed += 1
        elif message.status is MessageStatus.SKIPPED:
            counts.skipped += 1
        elif message.status is MessageStatus.CANCELLED:
            counts.cancelled += 1

    def unplan(self, channels: Sequence[Channel]) -> None:
        """The planner already counted these messages in the totals."""
        for channel in channels:
            self.counts.setdefault(channel, Counts()).total -= 1


REPORTED_OUTCOMES = {
    MessageStatus.SENT: MetricName.MESSAGES_SENT,
    MessageStatus.SEND_FAILED: MetricName.MESSAGES_FAILED,
    MessageStatus.SKIPPED: MetricName.MESSAGES_SKIPPED,
}


@dataclass
class Sender:
    """Sends the messages of one task: fresh account data, language choice, rendering, provider, record."""

    communications: CommunicationStore
    directory: AccountDirectory
    messages: MessageStore
    ledger: SendLedger
    email_sender: Callable[[], EmailSender]
    sms_sender: Callable[[], SmsSender]
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    suppressions: SuppressionList | None = None
    # The operator's From / Reply-To / SMS sender, from a short-lived cache of the settings;
    # None leaves each provider adapter's configured sender.
    identity: Callable[[], SenderIdentity] | None = None
    metrics: Metrics = field(default_factory=DiscardMetrics)
    # Where unsubscribe links point and how they are signed; None: emails carry no unsubscribe link.
    unsubscribe_links: Callable[[], UnsubscribeLinks | None] = field(default=lambda: None)

    def send(self, task: SendTask) -> None:
        communication = self.communications.get(task.comm_id)
        if communication is None:
            logger.warning("task for a missing communication", extra={"comm_id": task.comm_id})
            return
        if not self.ledger.claim_task(task):
            logger.info("task already claimed", extra={"comm_id": task.comm_id, "task_id": task.task_id})
            return
        cancelled = communication.status is CommunicationStatus.CANCELLED
        accounts = self.directory.get_many([a.account_id for a in task.accounts])
        tally = _TaskTally()
        records: list[Message] = []
        for planned in task.accounts:
            tally.unplan(planned.channels)
        for outlined in self.outline(communication, [a.account_id for a in task.accounts], accounts):
            record = self._message(communication, outlined, accounts.get(outlined.account_id), cancelled)
            tally.add(record)
            records.append(record)
        self.messages.put_many(records)
        finish_if_done(self.communications, self.ledger.complete_task(task, TaskOutcome(tally.counts)))
        self._report(records)

    def _report(self, records: Sequence[Message]) -> None:
        """One count per (outcome, channel) per task, not one per message."""
        outcomes = Counter(
            (REPORTED_OUTCOMES[record.status], record.channel)
            for record in records
            if record.status in REPORTED_OUTCOMES
        )
        for (name, channel), value in sorted(outcomes.items()):
            self.metrics.count(name, value, {"channel": str(channel)})

    def outline(
        self, communication: Communication, account_ids: Sequence[str], accounts: dict[str, Account]
    ) -> list[Message]:
        """The messages these accounts get, as decided before any provider call.

        SKIPPED ones carry their reason; the others are QUEUED with address, language and the
        account fields they render with. Preview and dry run call this too, so they agree with a send.
        """
        messages: list[Message] = []
        suppressed = self._suppressed(communication, accounts)
        for account_id in account_ids:
            account = accounts.get(account_id)
            planned_messages = apply_suppressions(
                plan_channels(account, communication.channels), account, suppressed
            )
            for planned in planned_messages:
                messages.append(_outlined(communication, account_id, account, planned))
        return messages

    def _suppressed(
        self, communication: Communication, accounts: dict[str, Account]
    ) -> set[tuple[Channel, str]]:
        """The task's suppressed addresses, in one batched read."""
        if self.suppressions is None:
            return set()
        wanted = [
            (channel, normalise_address(channel, address))
            for account in accounts.values()
            for channel in communication.channels
            if (address := address_for(account, channel))
        ]
        return self.suppressions.suppressed(wanted) if wanted else set()

    def _message(
        self, communication: Communication, message: Message, account: Account | None, cancelled: bool
    ) -> Message:
        if message.status is MessageStatus.SKIPPED or account is None:
            return message
        if cancelled:
            message.status = MessageStatus.CANCELLED
            return message
        try:
            result = self._deliver(communication, message, account)
        except RenderError as error:
            message.status, message.error = MessageStatus.SEND_FAILED, f"template error: {error}"
        except SendFailure as failure:
            message.status, message.error = MessageStatus.SEND_FAILED, failure.reason
        else:
            message.status = MessageStatus.SENT
            message.provider, message.provider_message_id = result.provider, result.provider_message_id
            message.sent_at = utc_now()
        message.updated_at = utc_now()
        return message

    def _deliver(self, communication: Communication, message: Message, account: Account) -> SendResult:
        assert message.address is not None and message.language is not None
        tags = {"comm_id": communication.comm_id, "message_id": message.message_id}
        rendered = render_message(communication, message.channel, message.language, account.render_context())
        identity = self.identity() if self.identity else None
        if isinstance(rendered, EmailContent):
            headers = list_unsubscribe_headers(self.unsubscribe_links(), communication, message)
            outgoing_email = OutgoingEmail(
                message.address, rendered.subject, rendered.html, rendered.text, tags, identity, headers
            )
            return self._with_retries(lambda: self.email_sender().send(outgoing_email))
        sender_id = identity.sms_sender if identity else None
        outgoing_sms = OutgoingSms(message.address, rendered.body, tags, sender_id=sender_id)
        return self._with_retries(lambda: self.sms_sender().send(outgoing_sms))

    def _with_retries(self, attempt: Callable[[], SendResult]) -> SendResult:
        delay = self.retry.first_delay_s
        for remaining in range(self.retry.attempts - 1, -1, -1):
            try:
                return attempt()
            # Only a throttle proves the provider did not take the message; a timeout or 5xx
            # might have, so those are never resent blindly.
            except Throttled as failure:
                self.metrics.count(MetricName.PROVIDER_THROTTLES)
                if remaining == 0:
                    reason = f"{failure.reason} (gave up after {self.retry.attempts} attempts)"
                    raise PermanentFailure(reason) from failure
                self.retry.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")


def _outlined(
    communication: Communication, account_id: str, account: Account | None, planned: PlannedMessage
) -> Message:
    message = Message(
        comm_id=communication.comm_id,
        account_id=account_id,
        channel=planned.channel,
        status=MessageStatus.QUEUED,
    )
    message.address = address_for(account, planned.channel) if account else None
    if planned.skip_reason is not None or account is None:
        message.status = MessageStatus.SKIPPED
        message.skip_reason = planned.skip_reason
        message.error = SKIP_REASON_TEXT[planned.skip_reason] if planned.skip_reason else None
        return message
    message.language = choose_language(communication, planned.channel, account).language
    message.render_context = account.render_context()
    return message
