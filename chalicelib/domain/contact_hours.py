"""Contact hours: whether a moment falls in an account's contact window, and when it next opens.

A window is judged on the wall clock of the account's time zone: it is open on a listed day from
`start` until `end` ("24:00" is the end of the day). A window whose end is not after its start
runs past midnight into the next day (it belongs to the day it starts on). Across daylight-saving
changes the wall clock decides: when the clocks spring forward over `start`, the window opens at
the first moment after the gap; when they fall back, a window opening in the repeated hour opens
at its first occurrence (and the repeated wall times count as what they read).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.domain.models import ContactHours

MINUTES_PER_DAY = 24 * 60
# The openings looked at: every listed day is in any two weeks (a window lost in a gap once a
# year still finds the next week's).
HORIZON_DAYS = 15


@dataclass(frozen=True)
class ContactDefaults:
    """The operator's default window and the zone of accounts that name none."""

    hours: ContactHours
    timezone: str


def minutes(clock_time: str) -> int:
    """Minutes since midnight of "HH:MM" ("24:00" is 1440)."""
    hours, _, mins = clock_time.partition(":")
    return int(hours) * 60 + int(mins)


@lru_cache(maxsize=512)
def zone_named(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    """The zone `name`, else `fallback` (a zone stored before it was checked, or none given)."""
    for candidate in (name, fallback, "UTC"):
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


def _open_on_wall_clock(hours: ContactHours, local: datetime) -> bool:
    start, end = minutes(hours.start), minutes(hours.end)
    now = local.hour * 60 + local.minute
    days = hours.weekdays
    today, yesterday = local.weekday(), (local.weekday() - 1) % 7
    if start < end:
        return today in days and start <= now < end
    # Runs past midnight: the evening of a listed day, or the small hours after one.
    return (today in days and now >= start) or (yesterday in days and now < end)


def is_open(hours: ContactHours, zone: ZoneInfo, instant: datetime) -> bool:
    """Whether `instant` (aware) falls in the window, on the wall clock of `zone`."""
    return _open_on_wall_clock(hours, instant.astimezone(zone))


def next_opening(hours: ContactHours, zone: ZoneInfo, instant: datetime) -> datetime:
    """The first moment at or after `instant` when the window is open (UTC); `instant` if open now.

    The window can only become open when the wall clock reaches `start` or when it jumps (a
    daylight-saving change), so those moments are the candidates; the earliest one at which the
    window is open is the answer.
    """
    instant = instant.astimezone(UTC)
    if is_open(hours, zone, instant):
        return instant
    first_day = instant.astimezone(zone).date() - timedelta(days=1)
    candidates = list(_zone_changes(zone, instant, HORIZON_DAYS + 1))
    start = minutes(hours.start)
    for offset in range(HORIZON_DAYS + 2):
        day = first_day + timedelta(days=offset)
        if day.weekday() in hours.weekdays:
            candidates.extend(_wall_time_instants(zone, day, start))
    opening = min(
        (c for c in candidates if c >= instant and is_open(hours, zone, c)),
        default=None,
    )
    if opening is None:
        raise ValueError(f"the contact window {hours.to_api()} never opens")
    return opening


def _wall_time_instants(zone: ZoneInfo, day: date, minute: int) -> list[datetime]:
    """The instants whose wall clock in `zone` reads `minute` on `day` (both of a repeated time;
    for a time skipped by the clocks, instants near the gap that is_open() then sorts out)."""
    if minute >= MINUTES_PER_DAY:
        day, minute = day + timedelta(days=1), minute - MINUTES_PER_DAY
    naive = datetime.combine(day, time(minute // 60, minute % 60))
    return [naive.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)]


def _zone_changes(zone: ZoneInfo, start: datetime, days: int) -> list[datetime]:
    """The instants in [start, start + days) at which `zone`'s offset from UTC changes."""
    changes = []
    step = timedelta(hours=12)
    lo = start
    for _ in range(days * 2):
        hi = lo + step
        if lo.astimezone(zone).utcoffset() != hi.astimezone(zone).utcoffset():
            changes.append(_change_between(zone, lo, hi))
        lo = hi
    return changes


def _change_between(zone: ZoneInfo, lo: datetime, hi: datetime) -> datetime:
    """The first second in (lo, hi] with hi's offset (one change between them)."""
    after = hi.astimezone(zone).utcoffset()
    while hi - lo > timedelta(seconds=1):
        middle = lo + (hi - lo) / 2
        middle = middle.replace(microsecond=0)
        if middle <= lo:
            break
        if middle.astimezone(zone).utcoffset() == after:
            hi = middle
        else:
            lo = middle
    return hi


@dataclass
class ContactWindows:
    """Judges many messages against their windows, remembering each closed window's next opening
    (until it passes), so a worker works out an opening once per zone and window, not per message."""

    # (window, zone) -> (when it was found closed, its next opening)
    _openings: dict[tuple[ContactHours, str], tuple[datetime, datetime]] = field(default_factory=dict)

    def opening(self, hours: ContactHours, zone: ZoneInfo, instant: datetime) -> datetime:
        """`instant` when the window is open then, else its next opening."""
        key = (hours, zone.key)
        known = self._openings.get(key)
        if known is not None and known[0] <= instant < known[1]:
            return known[1]
        opening = next_opening(hours, zone, instant)
        if opening > instant:
            self._openings[key] = (instant, opening)
        return opening
