"""In-memory fakes of every port in chalicelib/domain/ports.py, behaving like the adapters.

Each fake mirrors what its DynamoDB/SQS adapter does where a service could tell the difference:
conditional writes (drafts only, IN_PROGRESS only) and fresh copies on every read, so a test
never sees a change that the store did not make. The send path itself (claims, leases, windows,
counters) is tested against its adapters on moto: tests/integration/rig.py.
"""

from __future__ import annotations

import copy
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.delivery import (
    ConcurrentDelivery,
    DeliveryChange,
    DeliveryEvent,
    Suppression,
    TrackedMessage,
    change_counts,
    event_reference,
    precise,
)
from chalicelib.domain.errors import Conflict
from chalicelib.domain.models import (
    Account,
    AudienceSummary,
    AuditEntry,
    Channel,
    Communication,
    CommunicationStatus,
    Contact,
    ContactHours,
    Content,
    Counts,
    EmailContent,
    Message,
    MessageStatus,
    Page,
    SmsContent,
    utc_now,
)
from chalicelib.domain.operator_settings import OperatorSettings, Providers, RateLimits
from chalicelib.domain.ports import AccountFilter, FleetRate, SendTask, UploadTicket

# --- builders -------------------------------------------------------------------------------


def new_uuid() -> str:
    return str(uuid.uuid4())


def make_account(**overrides: Any) -> Account:
    """An active English account preferring both channels, with a valid email and phone."""
    values: dict[str, Any] = {
        "account_id": new_uuid(),
        "first_name": "Ada",
        "last_name": "Lovelace",
        "language": "en",
        "channels": [Channel.EMAIL, Channel.SMS],
        "email": "ada@example.com",
        "phone": "+15145550100",
    }
    values.update(overrides)
    return Account(**values)


def make_operator_settings(**overrides: Any) -> OperatorSettings:
    """Operator settings as the environment defaults give them, with `overrides`."""
    values: dict[str, Any] = {
        "from_email": "notices@herald.example",
        "from_name": "Herald",
        "reply_to": None,
        "sms_sender": None,
        "default_language": "en",
        "default_timezone": "UTC",
        "contact_hours": ContactHours("08:00", "21:00", ("mon", "tue", "wed", "thu", "fri", "sat")),
        "providers": Providers(email="ses", sms="sns"),
        "rate_limits": RateLimits(email_per_s=14.0, sms_per_s=20.0),
        "approval_threshold": None,
        "retention_days": 180,
    }
    values.update(overrides)
    return OperatorSettings(**values)


def bilingual_content() -> Content:
    """English and French content on both channels, each naming the language it is in."""
    return Content(
        email={
            "en": EmailContent(
                subject="Outage for {{ account.first_name }}",
                html="<p>Hello {{ account.first_name }}</p>",
                text="Hello {{ account.first_name }}",
            ),
            "fr": EmailContent(
                subject="Panne pour {{ account.first_name }}",
                html="<p>Bonjour {{ account.first_name }}</p>",
                text="Bonjour {{ account.first_name }}",
            ),
        },
        sms={
            "en": SmsContent(body="EN: outage tonight, {{ account.first_name }}"),
            "fr": SmsContent(body="FR: panne ce soir, {{ account.first_name }}"),
        },
    )


def _page[T](items: list[T], cursor: str | None, limit: int) -> Page[T]:
    start = int(cursor) if cursor else 0
    end = start + limit
    return Page(items[start:end], str(end) if end < len(items) else None)


# --- storage --------------------------------------------------------------------------------


class FakeAccountDirectory:
    """Accounts by id; reads return copies, like items deserialized from DynamoDB."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}

    def add(self, **overrides: Any) -> Account:
        """Test helper: store `make_account(**overrides)` and return it."""
        account = make_account(**overrides)
        self.put(account)
        return account

    def put(self, account: Account) -> bool:
        created = account.account_id not in self.accounts
        self.accounts[account.account_id] = copy.deepcopy(account)
        return created

    def put_many(self, accounts: Sequence[Account]) -> None:
        for account in accounts:
            self.put(account)

    def get(self, account_id: str) -> Account | None:
        account = self.accounts.get(account_id)
        return copy.deepcopy(account) if account else None

    def get_many(self, account_ids: Sequence[str]) -> dict[str, Account]:
        return {
            account_id: copy.deepcopy(self.accounts[account_id])
            for account_id in dict.fromkeys(account_ids)
            if account_id in self.accounts
        }

    def contacts(self, account_ids: Sequence[str]) -> dict[str, Contact]:
        return {
            account_id: Contact(account_id, tuple(a.channels), a.status, a.email, a.phone)
            for account_id, a in self.get_many(account_ids).items()
        }

    def list(self, account_filter: AccountFilter, cursor: str | None, limit: int) -> Page[Account]:
        def matches(account: Account) -> bool:
            return all(
                getattr(account, key) in wanted
                for key in ("service_area", "network_provider", "segment")
                if (wanted := getattr(account_filter, key))
            )

        found = [copy.deepcopy(a) for a in self.accounts.values() if matches(a)]
        return _page(found, cursor, limit)

    def statuses(self, account_ids: Sequence[str]) -> dict[str, str]:
        return {a: self.accounts[a].status for a in dict.fromkeys(account_ids) if a in self.accounts}

    def ids_matching(self, account_filter: AccountFilter) -> Iterator[str]:
        return iter(sorted(a.account_id for a in self.iter_accounts(account_filter)))

    def iter_accounts(self, account_filter: AccountFilter) -> Iterator[Account]:
        page = self.list(account_filter, None, len(self.accounts) + 1)
        return iter(page.items)


class FakeCommunicationStore:
    """Communications by id, with the adapter's conditional writes."""

    def __init__(self) -> None:
        self.items: dict[str, Communication] = {}
        self.due_queries = 0

    def _fresh(self, stored: Communication) -> Communication:
        fresh = copy.deepcopy(stored)
        # DynamoDB gives every channel of the communication its counters, zero when never added.
        fresh.counts_by_channel = {
            channel: copy.deepcopy(stored.counts_by_channel.get(channel, Counts()))
            for channel in stored.channels
        }
        if fresh.sent_by is not None:
            fresh.sent_by = replace(fresh.sent_by, can_write=False)
        for role in ("created_by", "scheduled_by", "approved_by"):
            admin = getattr(fresh, role)
            if admin is not None:
                setattr(fresh, role, replace(admin, can_write=False))
        return fresh

    def _stored(self, comm_id: str) -> Communication:
        try:
            return self.items[comm_id]
        except KeyError:
            raise KeyError(f"no communication {comm_id}") from None

    def _draft(self, comm_id: str, doing: str) -> Communication:
        stored = self.items.get(comm_id)
        if stored is None or stored.status is not CommunicationStatus.DRAFT:
            raise Conflict(f"only drafts can be {doing}; this communication is no longer a draft")
        return stored

    def force_status(self, comm_id: str, status: CommunicationStatus) -> None:
        """Test helper: move a communication as a service not yet written would (cancel, pause)."""
        self._stored(comm_id).status = status

    def create(self, communication: Communication) -> None:
        if communication.comm_id in self.items:
            raise RuntimeError(f"communication {communication.comm_id} already exists")
        self.items[communication.comm_id] = copy.deepcopy(communication)

    def get(self, comm_id: str) -> Communication | None:
        stored = self.items.get(comm_id)
        return self._fresh(stored) if stored else None

    def list(self, status: CommunicationStatus | None, cursor: str | None, limit: int) -> Page[Communication]:
        newest_first = sorted(self.items.values(), key=lambda c: (c.created_at, c.comm_id), reverse=True)
        found = [self._fresh(c) for c in newest_first if status is None or c.status is status]
        return _page(found, cursor, limit)

    def save_draft(self, communication: Communication) -> None:
        stored = self._draft(communication.comm_id, "changed")
        # Only the draft's own fields are written, as the adapter's update expression does.
        stored.name = communication.name
        stored.channels = list(communication.channels)
        stored.default_language = communication.default_language
        stored.content = communication.content
        stored.wizard_step = communication.wizard_step
        stored.urgent = communication.urgent
        stored.expires_at = communication.expires_at
        stored.contact_hours = communication.contact_hours
        stored.updated_at = communication.updated_at

    def delete_draft(self, comm_id: str) -> None:
        self._draft(comm_id, "deleted")
        del self.items[comm_id]

    def set_audience(self, comm_id: str, audience: AudienceSummary) -> None:
        stored = self._draft(comm_id, "changed")
        stored.audience = copy.deepcopy(audience)
        stored.updated_at = utc_now()

    def start_sending(
        self, communication: Communication, expected: CommunicationStatus = CommunicationStatus.DRAFT
    ) -> bool:
        stored = self.items.get(communication.comm_id)
        # As the adapter's condition: an import still writing chunks (or a failed one) is never sent.
        if stored is not None and stored.audience.state in ("importing", "failed"):
            return False
        return self.move(communication, expected)

    def move(self, communication: Communication, expected: CommunicationStatus) -> bool:
        stored = self.items.get(communication.comm_id)
        if stored is None or stored.status is not expected:
            return False
        # The status and the fields that move with it, as the adapter's update writes them.
        for name in (
            "status",
            "sent_by",
            "started_at",
            "finished_at",
            "send_at",
            "scheduled_by",
            "approved_by",
            "approved_at",
        ):
            setattr(stored, name, copy.deepcopy(getattr(communication, name)))
        stored.updated_at = utc_now()
        return True

    def due(self, now: datetime, cursor: str | None, limit: int) -> Page[str]:
        """Like the sparse by_schedule index: only SCHEDULED ones, earliest send_at first.

        The cursor is the last key returned, as DynamoDB's LastEvaluatedKey is, so a page after
        communications left the index (they were started) still goes on where it stopped.
        """
        self.due_queries += 1
        keys = sorted(
            (c.send_at.isoformat(), c.comm_id)
            for c in self.items.values()
            if c.status is CommunicationStatus.SCHEDULED and c.send_at is not None and c.send_at <= now
        )
        after = tuple(cursor.split("|", 1)) if cursor else None
        remaining = [key for key in keys if after is None or key > after]
        page = remaining[:limit]
        next_cursor = "|".join(page[-1]) if len(remaining) > limit else None
        return Page([comm_id for _, comm_id in page], next_cursor)

    def mark_planning_done(self, comm_id: str) -> Communication:
        stored = self._stored(comm_id)
        stored.planning_done = True
        return self._fresh(stored)

    def finish(self, comm_id: str, status: CommunicationStatus) -> bool:
        stored = self.items.get(comm_id)
        if stored is None or stored.status is not CommunicationStatus.IN_PROGRESS:
            return False
        stored.status = status
        stored.finished_at = stored.updated_at = utc_now()
        return True


class FakeAudienceStore:
    """Numbered chunks of account ids per communication."""

    def __init__(self) -> None:
        self.chunks: dict[tuple[str, int], list[str]] = {}

    def replace(self, comm_id: str, chunks: Iterable[list[str]], previous_chunks: int) -> int:
        written = 0
        for account_ids in chunks:
            self.chunks[(comm_id, written)] = list(account_ids)
            written += 1
        for number in range(written, previous_chunks):
            self.chunks.pop((comm_id, number), None)
        return written

    def chunk(self, comm_id: str, number: int) -> list[str] | None:
        ids = self.chunks.get((comm_id, number))
        return list(ids) if ids is not None else None

    def account_ids(self, comm_id: str) -> list[str]:
        """Test helper: the whole audience in chunk order."""
        numbers = sorted(n for c, n in self.chunks if c == comm_id)
        return [account_id for n in numbers for account_id in self.chunks[(comm_id, n)]]


class FakeMessageStore:
    """Message records by (comm_id, message_id); a put replaces the record, like PutItem."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], Message] = {}

    def put_many(self, messages: Sequence[Message]) -> None:
        for message in messages:
            self.records[(message.comm_id, message.message_id)] = copy.deepcopy(message)

    def get(self, comm_id: str, message_id: str) -> Message | None:
        message = self.records.get((comm_id, message_id))
        return copy.deepcopy(message) if message else None

    def list(
        self,
        comm_id: str,
        channel: Channel | None,
        statuses: frozenset[MessageStatus] | None,
        account_id: str | None,
        cursor: str | None,
        limit: int,
    ) -> Page[Message]:
        found = [
            copy.deepcopy(message)
            for (c, _), message in sorted(self.records.items())
            if c == comm_id
            and (channel is None or message.channel is channel)
            and (not statuses or message.status in statuses)
            and (account_id is None or message.account_id == account_id)
        ]
        return _page(found, cursor, limit)


class FakeAuditLog:
    """Entries per subject in the order recorded (oldest first), like the time-sorted partition."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    def record(self, entry: AuditEntry) -> None:
        self.entries.append(copy.deepcopy(entry))

    def list(self, subject: str, cursor: str | None, limit: int) -> Page[AuditEntry]:
        return _page([copy.deepcopy(e) for e in self.entries if e.subject == subject], cursor, limit)

    def actions(self, subject: str) -> list[str]:
        """Test helper: the actions recorded for a subject, in order."""
        return [str(e.action) for e in self.entries if e.subject == subject]


class FakeSettingsStore:
    """The one settings record, with the adapter's version check."""

    def __init__(self) -> None:
        self.saved: OperatorSettings | None = None
        self.reads = 0

    def get(self) -> OperatorSettings | None:
        self.reads += 1
        return self.saved

    def put(self, settings: OperatorSettings, expected_version: int) -> bool:
        current = self.saved.version if self.saved else 0
        if current != expected_version:
            return False
        self.saved = settings
        return True


# --- queue ----------------------------------------------------------------------------------


class FakeWorkQueue:
    """Planning and send tasks in the order queued."""

    def __init__(self) -> None:
        self.planning: list[tuple[str, int]] = []
        self.send_tasks: list[SendTask] = []
        self.planning_enqueued = 0

    def enqueue_planning(self, comm_id: str, first_chunk: int) -> None:
        self.planning.append((comm_id, first_chunk))
        self.planning_enqueued += 1

    def enqueue_send_tasks(self, tasks: Sequence[SendTask]) -> None:
        self.send_tasks.extend(tasks)


# --- files ----------------------------------------------------------------------------------


class FakeFileStore:
    """Files by key, in memory; download URLs name the key."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def upload_ticket(self, key: str, max_bytes: int, expires_s: int) -> UploadTicket:
        expires_at = utc_now() + timedelta(seconds=expires_s)
        return UploadTicket(
            url="http://127.0.0.1/upload", fields={"key": key}, expires_at=expires_at, key=key
        )

    def read_chunks(self, key: str) -> Iterator[bytes]:
        if key not in self.files:
            raise FileNotFoundError(key)
        yield self.files[key]

    def write_lines(self, key: str, lines: Iterable[str], content_type: str) -> int:
        self.files[key] = "".join(lines).encode()
        return len(self.files[key])

    def download_url(self, key: str, expires_s: int, filename: str) -> str:
        return f"http://127.0.0.1/files/{key}"


# --- delivery tracking ----------------------------------------------------------------------


@dataclass
class FakeEventLog:
    recorded: dict[tuple[str, str], tuple[DeliveryEvent, str]] = field(default_factory=dict)

    def seen(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        return {k for k in keys if k in self.recorded}

    def record(self, events: Sequence[tuple[DeliveryEvent, str]]) -> None:
        for event, verdict in events:
            self.recorded[event.key] = (event, verdict)


@dataclass
class FakeDeliveryStore:
    log: FakeEventLog = field(default_factory=FakeEventLog)
    messages: dict[tuple[str, str], TrackedMessage] = field(default_factory=dict)
    communications: set[str] = field(default_factory=set)
    counts: dict[str, dict[Channel, Counts]] = field(default_factory=dict)
    reads: int = 0
    log_reads: int = 0
    counter_writes: int = 0
    crash_before_counting: bool = False

    def add(self, message: TrackedMessage) -> None:
        self.messages[(message.comm_id, message.message_id)] = message
        self.communications.add(message.comm_id)

    def tracked(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], TrackedMessage]:
        self.reads += 1
        return {k: self.messages[k] for k in keys if k in self.messages}

    def logged(self, event_keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        self.log_reads += 1
        return self.log.seen(event_keys)

    def existing_communications(self, comm_ids: Sequence[str]) -> set[str]:
        return set(comm_ids) & self.communications

    def apply(self, changes: Sequence[DeliveryChange]) -> None:
        """As DynamoDB does it: each change written if its message is as read, those counted once."""
        if self.crash_before_counting:
            self.crash_before_counting = False
            raise RuntimeError("the worker died before writing")
        written = []
        for change in changes:
            key = (change.message.comm_id, change.message.message_id)
            if self.messages[key] != change.message:
                continue
            self.messages[key] = replace(
                change.message,
                status=change.status,
                event_at=precise(change.event.occurred_at),
                last_event_id=event_reference(change.event),
            )
            written.append(change)
        self.counter_writes += 1
        for comm_id in {c.message.comm_id for c in written}:
            current = self.counts.setdefault(comm_id, {})
            for channel, delta in change_counts(c for c in written if c.message.comm_id == comm_id).items():
                current[channel] = current.get(channel, Counts()) + delta
        if len(written) < len(changes):
            raise ConcurrentDelivery("messages changed while their events applied")

    def settle_tally(self, comm_id: str, tally: str) -> bool:
        return False  # every write here is counted as it is written


@dataclass
class FakeSuppressionList:
    entries: dict[tuple[Channel, str], Suppression] = field(default_factory=dict)
    reads: int = 0

    def suppressed(self, addresses: Iterable[tuple[Channel, str]]) -> set[tuple[Channel, str]]:
        self.reads += 1
        return {a for a in addresses if a in self.entries}

    def add_many(self, suppressions: Sequence[Suppression]) -> None:
        for s in suppressions:
            self.entries[(s.channel, s.address)] = s

    def get(self, channel: Channel, address: str) -> Suppression | None:
        return self.entries.get((channel, address))

    def add_if_absent(self, suppression: Suppression) -> bool:
        key = (suppression.channel, suppression.address)
        if key in self.entries:
            return False
        self.entries[key] = suppression
        return True

    def delete_if_reason(self, channel: Channel, address: str, reason: str) -> bool:
        found = self.entries.get((channel, address))
        if found is None or found.reason != reason:
            return False
        del self.entries[(channel, address)]
        return True


@dataclass
class FakeEarlyQueue:
    handed_back: list[tuple[int, list[DeliveryEvent]]] = field(default_factory=list)

    def retry_later(self, events: Sequence[DeliveryEvent], attempt: int) -> None:
        self.handed_back.append((attempt, list(events)))


class InMemoryRateLimitStore:
    """The shared token bucket of RateLimitStore, in a dict (what DynamoDB holds for the fleet)."""

    def __init__(self) -> None:
        self.used: Counter[tuple[str, int]] = Counter()
        self.rates: dict[str, FleetRate] = {}
        self.takes = 0

    def take(self, provider: str, slot: int, wanted: int, capacity: int) -> int:
        self.takes += 1
        granted = max(0, min(wanted, capacity - self.used[(provider, slot)]))
        self.used[(provider, slot)] += granted
        return granted

    def fleet_rate(self, provider: str) -> FleetRate:
        return self.rates.get(provider, FleetRate(None, 0.0, 0.0))

    def lower_rate(self, provider: str, rate: float, now: float, cooldown_s: float) -> bool:
        current = self.fleet_rate(provider)
        if current.throttled_at and current.throttled_at >= now - cooldown_s:
            return False
        self.rates[provider] = FleetRate(rate, now, current.urgent_until)
        return True

    def raise_rate(self, provider: str, expected: float | None, rate: float | None) -> bool:
        current = self.fleet_rate(provider)
        if current.rate != expected:
            return False
        self.rates[provider] = FleetRate(rate, current.throttled_at, current.urgent_until)
        return True

    def mark_urgent(self, provider: str, until: float) -> None:
        current = self.fleet_rate(provider)
        self.rates[provider] = FleetRate(current.rate, current.throttled_at, max(until, current.urgent_until))
