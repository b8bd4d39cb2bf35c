"""Unit fixtures: the domain services wired to in-memory fakes of every port."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from chalicelib.domain.communications import CommunicationService, DraftFields
from chalicelib.domain.models import Admin, Channel, Communication, Content
from chalicelib.domain.operator_settings import SettingsService
from chalicelib.domain.scheduling import Scheduler
from chalicelib.domain.sending import Planner, RetryPolicy, Sender
from tests.unit.fakes import (
    FakeAccountDirectory,
    FakeAudienceStore,
    FakeAuditLog,
    FakeCommunicationStore,
    FakeEmailSender,
    FakeMessageStore,
    FakeSendLedger,
    FakeSettingsStore,
    FakeSmsSender,
    FakeWorkQueue,
    bilingual_content,
    make_operator_settings,
    run_until_idle,
)

# Small sizes so a handful of accounts already spans several chunks, tasks and planning runs.
AUDIENCE_CHUNK_SIZE = 3
SEND_TASK_SIZE = 2
PLANNER_CHUNKS_PER_RUN = 2


@pytest.fixture
def directory() -> FakeAccountDirectory:
    return FakeAccountDirectory()


@pytest.fixture
def store() -> FakeCommunicationStore:
    return FakeCommunicationStore()


@pytest.fixture
def audiences() -> FakeAudienceStore:
    return FakeAudienceStore()


@pytest.fixture
def ledger(store: FakeCommunicationStore, audiences: FakeAudienceStore) -> FakeSendLedger:
    return FakeSendLedger(store, audiences)


@pytest.fixture
def messages() -> FakeMessageStore:
    return FakeMessageStore()


@pytest.fixture
def queue() -> FakeWorkQueue:
    return FakeWorkQueue()


@pytest.fixture
def audit() -> FakeAuditLog:
    return FakeAuditLog()


@pytest.fixture
def settings_store() -> FakeSettingsStore:
    return FakeSettingsStore()


class FakeClock:
    """A monotonic clock a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def operator_settings(
    settings_store: FakeSettingsStore, audit: FakeAuditLog, clock: FakeClock
) -> SettingsService:
    defaults = make_operator_settings()
    return SettingsService(
        store=settings_store, defaults=lambda: defaults, audit=audit, cache_ttl_s=30, clock=clock
    )


@pytest.fixture
def email_sender() -> FakeEmailSender:
    return FakeEmailSender()


@pytest.fixture
def sms_sender() -> FakeSmsSender:
    return FakeSmsSender()


@pytest.fixture
def sleeps() -> list[float]:
    """The back-off delays the sender asked for (nothing really sleeps)."""
    return []


@pytest.fixture
def admin() -> Admin:
    return Admin(id="admin-1", first_name="Grace", last_name="Hopper", can_write=True)


@pytest.fixture
def service(
    store: FakeCommunicationStore,
    audiences: FakeAudienceStore,
    directory: FakeAccountDirectory,
    messages: FakeMessageStore,
    queue: FakeWorkQueue,
    audit: FakeAuditLog,
    operator_settings: SettingsService,
) -> CommunicationService:
    return CommunicationService(
        communications=store,
        audiences=audiences,
        directory=directory,
        messages=messages,
        queue=queue,
        audience_chunk_size=AUDIENCE_CHUNK_SIZE,
        audit=audit,
        operator_settings=operator_settings.get,
    )


@pytest.fixture
def scheduler(store: FakeCommunicationStore, service: CommunicationService) -> Scheduler:
    return Scheduler(communications=store, service=service, page_size=2)


@pytest.fixture
def planner(
    store: FakeCommunicationStore,
    audiences: FakeAudienceStore,
    directory: FakeAccountDirectory,
    ledger: FakeSendLedger,
    queue: FakeWorkQueue,
) -> Planner:
    return Planner(
        communications=store,
        audiences=audiences,
        directory=directory,
        ledger=ledger,
        queue=queue,
        task_size=SEND_TASK_SIZE,
        chunks_per_run=PLANNER_CHUNKS_PER_RUN,
    )


@pytest.fixture
def sender(
    store: FakeCommunicationStore,
    directory: FakeAccountDirectory,
    messages: FakeMessageStore,
    ledger: FakeSendLedger,
    email_sender: FakeEmailSender,
    sms_sender: FakeSmsSender,
    sleeps: list[float],
    operator_settings: SettingsService,
) -> Sender:
    return Sender(
        communications=store,
        directory=directory,
        messages=messages,
        ledger=ledger,
        email_sender=lambda: email_sender,
        sms_sender=lambda: sms_sender,
        retry=RetryPolicy(attempts=3, first_delay_s=0.2, sleep=sleeps.append),
        identity=lambda: operator_settings.current().identity,
    )


@dataclass
class Pipeline:
    """The send pipeline as a test drives it: the queue drained through the planner and sender."""

    planner: Planner
    sender: Sender
    queue: FakeWorkQueue

    def run(self, **options: bool) -> int:
        """Drain the queues; options are those of `run_until_idle` (redeliver_sends, sends_first…)."""
        return run_until_idle(self.planner, self.sender, self.queue, **options)

    def plan_only(self) -> None:
        """Run the queued planning (and the planning it queues), leaving the send tasks queued."""
        while self.queue.planning:
            self.planner.plan(*self.queue.planning.pop(0))

    def send_one(self) -> None:
        self.sender.send(self.queue.send_tasks.pop(0))


@pytest.fixture
def pipeline(planner: Planner, sender: Sender, queue: FakeWorkQueue) -> Pipeline:
    return Pipeline(planner, sender, queue)


DraftMaker = Callable[..., Communication]


@pytest.fixture
def make_draft(service: CommunicationService, admin: Admin) -> DraftMaker:
    """Create a draft through the service: both channels, English by default, bilingual content."""

    def make(
        name: str = "Planned outage",
        channels: list[Channel] | None = None,
        default_language: str = "en",
        content: Content | None = None,
    ) -> Communication:
        fields = DraftFields(
            name=name,
            channels=channels if channels is not None else [Channel.EMAIL, Channel.SMS],
            default_language=default_language,
            content=content if content is not None else bilingual_content(),
        )
        return service.create(fields, by=admin)

    return make
