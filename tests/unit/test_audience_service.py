"""The audience's states around a write, with in-memory fakes: importing, then ready or failed."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from chalicelib.domain.audiences import AudienceService
from chalicelib.domain.errors import ValidationError
from chalicelib.domain.models import Admin, AudienceSummary, Channel, Communication, Content
from tests.unit.fakes import FakeAuditLog

pytestmark = pytest.mark.unit

ADMIN = Admin(id="admin-1", first_name="Grace", last_name="Hopper", can_write=True)


class Communications:
    def __init__(self, communication: Communication) -> None:
        self.communication = communication
        self.states: list[str] = []

    def get(self, comm_id: str) -> Communication:
        return self.communication

    def set_audience(self, comm_id: str, audience: AudienceSummary) -> None:
        self.states.append(audience.state)
        self.communication = replace(self.communication, audience=audience)


class Chunks:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.chunks: list[list[str]] = []

    def replace(self, comm_id, chunks, previous_chunks):
        for chunk in chunks:
            if self.fail:
                raise ConnectionError("DynamoDB is away")
            self.chunks.append(chunk)
        return len(self.chunks)


class Directory:
    def __init__(self, ids: list[str]) -> None:
        self.ids = ids

    def statuses(self, account_ids):
        return {a: "active" for a in account_ids if a in self.ids}


def service(chunks: Chunks, ids: list[str]) -> tuple[AudienceService, Communications]:
    communication = Communication(
        "c1", "Notice", [Channel.SMS], "en", Content(), audience=AudienceSummary(chunks=3)
    )
    communications = Communications(communication)
    audience = AudienceService(
        communications=communications,  # type: ignore[arg-type]
        audiences=chunks,  # type: ignore[arg-type]
        directory=Directory(ids),  # type: ignore[arg-type]
        files=lambda: None,  # type: ignore[arg-type,return-value]
        audit=FakeAuditLog(),
        chunk_size=2,
        max_upload_bytes=1000,
    )
    return audience, communications


def test_a_csv_audience_goes_importing_then_ready_in_chunks():
    ids = [str(uuid.uuid4()) for _ in range(5)]
    audience, communications = service(Chunks(), ids)
    result = audience.set_from_csv("c1", "account_id\n" + "\n".join(ids) + "\n", by=ADMIN)
    assert result["accepted"] == 5
    assert communications.states == ["importing", "ready"]
    assert communications.communication.audience.chunks == 3  # 2 + 2 + 1


def test_a_failed_write_leaves_the_audience_failed_so_it_cannot_be_sent():
    ids = [str(uuid.uuid4())]
    audience, communications = service(Chunks(fail=True), ids)
    with pytest.raises(ConnectionError):
        audience.set_from_csv("c1", f"{ids[0]}\n", by=ADMIN)
    assert communications.states == ["importing", "failed"]
    assert communications.communication.audience.error == "storing the audience failed"
    # The chunk count still covers what the previous audience had, so a new one cleans it up.
    assert communications.communication.audience.chunks == 3


def test_a_csv_naming_no_account_changes_nothing():
    audience, communications = service(Chunks(), [])
    with pytest.raises(ValidationError):
        audience.set_from_csv("c1", f"{uuid.uuid4()}\n", by=ADMIN)
    assert communications.states == []
