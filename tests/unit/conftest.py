"""Unit fixtures: the domain services wired to in-memory fakes of every port."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chalicelib.domain.audiences import AudienceService
from chalicelib.domain.communications import CommunicationService, DraftFields
from chalicelib.domain.models import Admin, Channel, Communication, Content
from chalicelib.domain.operator_settings import SettingsService
from chalicelib.domain.scheduling import Scheduler
from tests.unit.fakes import (
    FakeAccountDirectory,
    FakeAudienceStore,
    FakeAuditLog,
    FakeCommunicationStore,
    FakeFileStore,
    FakeMessageStore,
    FakeSettingsStore,
    FakeWorkQueue,
    bilingual_content,
    make_operator_settings,
)

# Small chunks so a handful of accounts already spans several.
AUDIENCE_CHUNK_SIZE = 3


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
def files() -> FakeFileStore:
    return FakeFileStore()


@pytest.fixture
def audience(
    store: FakeCommunicationStore,
    audiences: FakeAudienceStore,
    directory: FakeAccountDirectory,
    files: FakeFileStore,
    audit: FakeAuditLog,
) -> AudienceService:
    """Setting audiences (CSV, filter, upload), on the same fakes as `service`."""
    return AudienceService(
        communications=store,
        audiences=audiences,
        directory=directory,
        files=lambda: files,
        audit=audit,
        chunk_size=AUDIENCE_CHUNK_SIZE,
        max_upload_bytes=1_000_000,
    )


@pytest.fixture
def scheduler(store: FakeCommunicationStore, service: CommunicationService) -> Scheduler:
    return Scheduler(communications=store, service=service, page_size=2)


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
