"""Contact windows on each account's wall clock: zones, excluded days, midnight, and both DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.contact_hours import ContactWindows, is_open, next_opening, zone_named
from chalicelib.domain.models import ContactHours

pytestmark = pytest.mark.unit

WORKING_WEEK = ContactHours("08:00", "21:00", ("mon", "tue", "wed", "thu", "fri", "sat"))
TORONTO = ZoneInfo("America/Toronto")
PARIS = ZoneInfo("Europe/Paris")
KOLKATA = ZoneInfo("Asia/Kolkata")
AUCKLAND = ZoneInfo("Pacific/Auckland")


def at(zone: ZoneInfo, text: str, fold: int = 0) -> datetime:
    """A wall-clock time in `zone`, as an aware UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=zone, fold=fold).astimezone(UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_window_is_judged_on_the_accounts_own_wall_clock():
    # 13:00 UTC on a Wednesday: 09:00 in Toronto, 15:00 in Paris, 18:30 in Kolkata, 02:00 in Auckland
    instant = utc("2026-06-10T13:00:00")
    assert is_open(WORKING_WEEK, TORONTO, instant)
    assert is_open(WORKING_WEEK, PARIS, instant)
    assert is_open(WORKING_WEEK, KOLKATA, instant)
    assert not is_open(WORKING_WEEK, AUCKLAND, instant)
    # open now: the next opening is now
    assert next_opening(WORKING_WEEK, PARIS, instant) == instant
    # Auckland opens at 08:00 the same (local) Thursday morning
    assert next_opening(WORKING_WEEK, AUCKLAND, instant) == at(AUCKLAND, "2026-06-11T08:00")


def test_a_half_hour_zone_opens_on_its_own_half_hour():
    # 02:00 UTC is 07:30 in Kolkata: it opens at 08:00 IST, 02:30 UTC
    assert next_opening(WORKING_WEEK, KOLKATA, utc("2026-06-10T02:00:00")) == utc("2026-06-10T02:30:00")


def test_start_is_in_the_window_and_end_is_not():
    assert is_open(WORKING_WEEK, PARIS, at(PARIS, "2026-06-10T08:00"))
    assert not is_open(WORKING_WEEK, PARIS, at(PARIS, "2026-06-10T07:59:59"))
    assert is_open(WORKING_WEEK, PARIS, at(PARIS, "2026-06-10T20:59:59"))
    assert not is_open(WORKING_WEEK, PARIS, at(PARIS, "2026-06-10T21:00"))
    # after the end, the next morning
    assert next_opening(WORKING_WEEK, PARIS, at(PARIS, "2026-06-10T21:00")) == at(PARIS, "2026-06-11T08:00")


def test_an_excluded_sunday_waits_for_monday_morning():
    # Saturday 22:00 in Toronto: Sunday is not a contact day
    saturday_night = at(TORONTO, "2026-06-13T22:00")
    assert next_opening(WORKING_WEEK, TORONTO, saturday_night) == at(TORONTO, "2026-06-15T08:00")
    # all of Sunday is closed
    assert not is_open(WORKING_WEEK, TORONTO, at(TORONTO, "2026-06-14T12:00"))


def test_a_weekend_across_the_fall_back_opens_at_monday_eight_in_the_new_offset():
    # Toronto falls back on Sunday 2026-11-01; Saturday night (EDT) waits for Monday 08:00 EST
    opening = next_opening(WORKING_WEEK, TORONTO, at(TORONTO, "2026-10-31T22:00"))
    assert opening == utc("2026-11-02T13:00:00")
    assert opening.astimezone(TORONTO).utcoffset() == timedelta(hours=-5)


def test_a_window_starting_in_the_spring_forward_gap_opens_when_the_gap_ends():
    # Toronto, Sunday 2026-03-08: 02:00 EST jumps to 03:00 EDT, so 02:30 never happens
    sundays_early = ContactHours("02:30", "05:00", ("sun",))
    opening = next_opening(sundays_early, TORONTO, at(TORONTO, "2026-03-08T00:00"))
    assert opening == utc("2026-03-08T07:00:00")  # 03:00 EDT, the first moment past 02:30
    assert opening.astimezone(TORONTO).strftime("%H:%M %Z") == "03:00 EDT"
    # the week before, the same window opens at 02:30 EST
    assert next_opening(sundays_early, TORONTO, at(TORONTO, "2026-03-01T00:00")) == utc("2026-03-01T07:30:00")


def test_spring_forward_in_the_southern_hemisphere():
    # Auckland, Sunday 2026-09-27: 02:00 NZST jumps to 03:00 NZDT
    sundays_early = ContactHours("02:15", "06:00", ("sun",))
    opening = next_opening(sundays_early, AUCKLAND, at(AUCKLAND, "2026-09-26T23:00"))
    assert opening.astimezone(AUCKLAND).strftime("%Y-%m-%d %H:%M %Z") == "2026-09-27 03:00 NZDT"
    assert opening == utc("2026-09-26T14:00:00")


def test_a_window_starting_in_the_repeated_fall_back_hour_opens_at_its_first_occurrence():
    # Toronto, Sunday 2026-11-01: 01:00-02:00 happens twice (EDT, then EST)
    sundays_early = ContactHours("01:30", "05:00", ("sun",))
    opening = next_opening(sundays_early, TORONTO, at(TORONTO, "2026-11-01T00:00"))
    assert opening == utc("2026-11-01T05:30:00")  # 01:30 EDT
    # Paris falls back on 2026-10-25 (03:00 CEST → 02:00 CET); 02:30 first comes in summer time
    paris_early = ContactHours("02:30", "06:00", ("sun",))
    assert next_opening(paris_early, PARIS, at(PARIS, "2026-10-25T00:00")) == utc("2026-10-25T00:30:00")


def test_the_repeated_hour_counts_as_what_the_wall_clock_reads():
    # 01:00-01:30 on the fall-back night: closed at 01:45 EDT, open again at 01:00 EST
    short = ContactHours("01:00", "01:30", ("sun",))
    assert not is_open(short, TORONTO, at(TORONTO, "2026-11-01T01:45", fold=0))
    opening = next_opening(short, TORONTO, at(TORONTO, "2026-11-01T01:45", fold=0))
    assert opening == utc("2026-11-01T06:00:00")  # 01:00 EST


def test_a_window_ending_in_the_spring_forward_gap_closes_with_it():
    # 01:00-02:30 on Toronto's spring-forward night: at 03:00 EDT (the wall clock says 03:00) it is shut
    night = ContactHours("01:00", "02:30", ("sun",))
    assert is_open(night, TORONTO, at(TORONTO, "2026-03-08T01:59"))
    assert not is_open(night, TORONTO, utc("2026-03-08T07:00:00"))
    assert next_opening(night, TORONTO, utc("2026-03-08T07:00:00")) == at(TORONTO, "2026-03-15T01:00")


def test_a_window_across_midnight_belongs_to_the_day_it_starts():
    night_shift = ContactHours("22:00", "06:00", ("fri",))
    assert is_open(night_shift, PARIS, at(PARIS, "2026-06-12T23:00"))  # Friday night
    assert is_open(night_shift, PARIS, at(PARIS, "2026-06-13T05:59"))  # small hours of Saturday
    assert not is_open(night_shift, PARIS, at(PARIS, "2026-06-13T06:00"))
    assert not is_open(night_shift, PARIS, at(PARIS, "2026-06-12T05:00"))  # Thursday night's hours
    assert next_opening(night_shift, PARIS, at(PARIS, "2026-06-13T07:00")) == at(PARIS, "2026-06-19T22:00")


def test_a_window_until_midnight_and_all_day_every_day():
    evenings = ContactHours("18:00", "24:00", ("mon",))
    assert is_open(evenings, PARIS, at(PARIS, "2026-06-15T23:59:59"))
    assert not is_open(evenings, PARIS, at(PARIS, "2026-06-16T00:00"))
    always = ContactHours("00:00", "24:00", ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
    moment = utc("2026-06-14T00:00:00")
    for hour in range(0, 24 * 7, 5):
        assert is_open(always, AUCKLAND, moment + timedelta(hours=hour, minutes=17))


def test_a_worker_works_out_each_windows_opening_once_until_it_passes():
    windows = ContactWindows()
    night = at(TORONTO, "2026-06-13T22:00")
    monday = at(TORONTO, "2026-06-15T08:00")
    assert windows.opening(WORKING_WEEK, TORONTO, night) == monday
    assert windows.opening(WORKING_WEEK, TORONTO, night + timedelta(hours=5)) == monday
    # once it passed, the window is open and judged again
    assert windows.opening(WORKING_WEEK, TORONTO, monday + timedelta(hours=1)) == monday + timedelta(hours=1)
    # another zone has its own opening
    assert windows.opening(WORKING_WEEK, PARIS, night) == at(PARIS, "2026-06-15T08:00")


def test_an_unknown_zone_falls_back_to_the_operators_default():
    assert zone_named("Mars/Olympus_Mons", "Europe/Paris").key == "Europe/Paris"
    assert zone_named(None, "America/Toronto").key == "America/Toronto"
    assert zone_named("Asia/Kolkata", "Europe/Paris").key == "Asia/Kolkata"
    assert zone_named(None, "nowhere").key == "UTC"
