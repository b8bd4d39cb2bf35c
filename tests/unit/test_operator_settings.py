"""Operator settings: defaults, changes with their audit, the send path's cache, sender identity."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.domain.errors import Conflict
from chalicelib.domain.models import SETTINGS_AUDIT_SUBJECT, Admin, ContactHours
from chalicelib.domain.operator_settings import OperatorSettings, SettingsService
from tests.unit.conftest import FakeClock
from tests.unit.fakes import (
    FakeAuditLog,
    FakeSettingsStore,
    make_operator_settings,
)

pytestmark = pytest.mark.unit


def test_until_saved_the_settings_are_the_defaults(operator_settings: SettingsService) -> None:
    assert operator_settings.get() == make_operator_settings()
    body = operator_settings.get().to_api()
    assert body["contact_hours"] == {
        "start": "08:00",
        "end": "21:00",
        "days": ["mon", "tue", "wed", "thu", "fri", "sat"],
    }
    assert body["providers"] == {"email": "ses", "sms": "sns"}
    assert body["updated_by"] is None


def test_a_change_keeps_the_other_fields_and_is_audited_with_before_and_after(
    operator_settings: SettingsService, audit: FakeAuditLog, admin: Admin
) -> None:
    # WHEN an admin changes the reply-to address and the contact hours
    hours = ContactHours("09:00", "17:00", ("mon", "tue", "wed", "thu", "fri"))
    updated = operator_settings.update({"reply_to": "help@example.com", "contact_hours": hours}, by=admin)
    # THEN those change, the rest keeps its value, and the stored record says who and when
    assert updated.reply_to == "help@example.com" and updated.contact_hours == hours
    assert updated.from_email == "notices@herald.example"
    stored = operator_settings.get()
    assert stored == updated and stored.version == 1
    assert stored.updated_by == admin and stored.updated_at is not None
    # and the audit records the change from and to
    (entry,) = audit.list(SETTINGS_AUDIT_SUBJECT, None, 50).items
    assert (str(entry.action), entry.actor.id) == ("settings_change", admin.id)
    assert entry.details["changed"]["reply_to"] == {"from": None, "to": "help@example.com"}
    assert entry.details["changed"]["contact_hours"]["to"] == hours.to_api()
    assert set(entry.details["changed"]) == {"reply_to", "contact_hours"}


def test_saving_the_same_values_writes_and_records_nothing(
    operator_settings: SettingsService, audit: FakeAuditLog, settings_store: FakeSettingsStore, admin: Admin
) -> None:
    operator_settings.update({"from_name": "Herald"}, by=admin)
    assert settings_store.saved is None
    assert audit.entries == []


def test_two_admins_saving_at_once_both_keep_their_change(
    operator_settings: SettingsService, settings_store: FakeSettingsStore, admin: Admin
) -> None:
    # GIVEN another admin's save landing between our read and our write
    original_put = settings_store.put
    raced = False

    def other_saves_first(settings: OperatorSettings, expected_version: int) -> bool:
        nonlocal raced
        if not raced:
            raced = True
            current = settings_store.get() or make_operator_settings()
            assert original_put(replace(current, from_name="Utility Co", version=current.version + 1), 0)
        return original_put(settings, expected_version)

    settings_store.put = other_saves_first  # type: ignore[method-assign]
    # WHEN we save the retention
    operator_settings.update({"retention_days": 30}, by=admin)
    # THEN both changes are there: ours was re-applied on top of theirs
    stored = operator_settings.get()
    assert (stored.from_name, stored.retention_days, stored.version) == ("Utility Co", 30, 2)


def test_a_save_that_keeps_losing_the_race_is_a_conflict(
    operator_settings: SettingsService, settings_store: FakeSettingsStore, admin: Admin
) -> None:
    settings_store.put = lambda settings, expected_version: False  # type: ignore[method-assign]
    with pytest.raises(Conflict):
        operator_settings.update({"retention_days": 30}, by=admin)


def test_the_send_path_reads_the_settings_at_most_once_per_cache_period(
    operator_settings: SettingsService, settings_store: FakeSettingsStore, clock: FakeClock
) -> None:
    # GIVEN a container that read the settings once
    operator_settings.current()
    reads = settings_store.reads
    # WHEN it reads them again within the cache period
    for _ in range(100):
        operator_settings.current()
    # THEN the store is not read again, until the period is over
    assert settings_store.reads == reads
    clock.now += 31
    operator_settings.current()
    assert settings_store.reads == reads + 1


def test_a_change_saved_in_another_container_shows_once_the_cache_expires(
    operator_settings: SettingsService,
    settings_store: FakeSettingsStore,
    audit: FakeAuditLog,
    clock: FakeClock,
    admin: Admin,
) -> None:
    assert operator_settings.current().from_name == "Herald"
    elsewhere = SettingsService(store=settings_store, defaults=make_operator_settings, audit=audit)
    elsewhere.update({"from_name": "Utility Co"}, by=admin)
    assert operator_settings.current().from_name == "Herald"
    clock.now += 30
    assert operator_settings.current().from_name == "Utility Co"
