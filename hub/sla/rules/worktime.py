"""Working-time arithmetic on the routing calendars (``hub/routing/hours.py``).

Working time is exactly the set of instants at which ``hours.is_open`` is true: a local
wall-clock period ``[start, end)`` on a local date, in the calendar's zone, so DST,
holidays and special days count as routing counts them. ``None`` hours: always open
(plain elapsed seconds). Instants are epoch seconds (float), pure functions only.

A due time is the end of the N-th working second, so it lies inside a working period or
exactly on its closing edge (Friday 16:30 + 1 working hour with Mon-Fri 09:00-17:00 is
Monday 09:30; Friday 16:00 + 1 hour is Friday 17:00), never in closed time in between.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hub.errors import ConfigError
from hub.routing.config import BusinessHours
from hub.routing.hours import SCAN_DAYS, periods_on, zone

DAY = 86400
_EPOCH = date(1970, 1, 1)


class NeverOpen(ConfigError):
    """A calendar has no working time within ``SCAN_DAYS`` of an instant."""


def _offset(tz: ZoneInfo, t: float) -> int:
    off = datetime.fromtimestamp(t, tz).utcoffset()
    return int(off.total_seconds()) if off is not None else 0


def _next_offset_change(tz: ZoneInfo, lo: float, hi: float) -> float:
    """The first whole second in ``(lo, hi]`` with another UTC offset, or ``hi`` when the
    offset at ``hi`` equals the one at ``lo`` (zones change at most once a day)."""
    base = _offset(tz, lo)
    if _offset(tz, hi) == base:
        return hi
    a, b = math.floor(lo), math.ceil(hi)  # offset(a) == base, offset(b) != base
    while b - a > 1:
        mid = (a + b) // 2
        if _offset(tz, mid) == base:
            a = mid
        else:
            b = mid
    return float(b)


def _segment(hours: BusinessHours, lo: float, hi: float, off: int) -> Iterator[tuple[float, float]]:
    """Open intervals within ``[lo, hi)``, where the UTC offset is ``off`` throughout:
    wall-clock = instant + off, so each local period maps to one UTC interval."""
    first, last = math.floor(lo + off) // DAY, math.floor(hi + off) // DAY  # local days
    for n in range(first, last + 1):
        day = date.fromordinal(_EPOCH.toordinal() + n)
        midnight = n * DAY - off  # local 00:00 of ``day`` as an instant
        for start, end in periods_on(hours, day):
            a, b = max(lo, midnight + start * 60.0), min(hi, midnight + end * 60.0)
            if a < b:
                yield a, b


def open_intervals(hours: BusinessHours | None, since: float,
                   horizon_days: int = SCAN_DAYS) -> Iterator[tuple[float, float]]:
    """Maximal open intervals ``[a, b)`` from ``since`` on, in order, touching ones merged.
    Stops after ``horizon_days`` without any working time (endless when always open)."""
    if hours is None:
        yield since, math.inf
        return
    tz = zone(hours.tz)
    cursor, quiet_until = since, since + horizon_days * DAY
    pending: tuple[float, float] | None = None
    while cursor < quiet_until:
        chunk_end = _next_offset_change(tz, cursor, cursor + DAY)
        for a, b in _segment(hours, cursor, chunk_end, _offset(tz, cursor)):
            if pending is not None and a <= pending[1]:
                pending = (pending[0], max(pending[1], b))
                continue
            if pending is not None:
                yield pending
            pending = (a, b)
            quiet_until = b + horizon_days * DAY
        if pending is not None and pending[1] < chunk_end:
            yield pending  # nothing later can touch it
            pending = None
        cursor = chunk_end
    if pending is not None:
        yield pending


def add_working(hours: BusinessHours | None, start: float, seconds: float) -> float:
    """The instant at which ``seconds`` of working time after ``start`` have elapsed.
    Zero seconds: ``start`` if open, else the next opening. Raises :class:`NeverOpen`."""
    if seconds < 0:
        raise ValueError("working seconds must be >= 0")
    left = seconds
    for a, b in open_intervals(hours, start):
        if left == 0 or left <= b - a:
            return a + left
        left -= b - a
    raise NeverOpen(f"no working time within {SCAN_DAYS} days of {_iso(start)}")


def working_between(hours: BusinessHours | None, start: float, end: float) -> float:
    """Working seconds in ``[start, end)``; 0 when ``end <= start``."""
    if end <= start:
        return 0.0
    if hours is None:
        return end - start
    total = 0.0
    for a, b in open_intervals(hours, start, horizon_days=_days(end - start) + 1):
        if a >= end:
            break
        total += min(b, end) - a
    return total


def next_working_instant(hours: BusinessHours | None, t: float) -> float:
    """``t`` if it is working time, else the next opening (raises :class:`NeverOpen`)."""
    return add_working(hours, t, 0)


def add_working_days(hours: BusinessHours | None, start: float, days: int) -> float:
    """The same local wall-clock time ``days`` working days (local dates with an open
    period) after ``start``'s date, moved to the next working instant if closed then.
    No hours: ``days`` times 24 hours."""
    if hours is None:
        return start + days * DAY
    tz = zone(hours.tz)
    local = datetime.fromtimestamp(start, tz)
    day, counted, idle = local.date(), 0, 0
    while counted < days:
        day += timedelta(days=1)
        is_working = bool(periods_on(hours, day))
        counted += is_working
        idle = 0 if is_working else idle + 1
        if idle > SCAN_DAYS:
            raise NeverOpen(f"no working day within {SCAN_DAYS} days after {day}")
    # A wall time inside a DST gap (fold 0) lands after the gap, as routing reads it.
    wall = datetime.combine(day, local.time().replace(fold=0), tz)
    return next_working_instant(hours, wall.astimezone(UTC).timestamp())


def _days(seconds: float) -> int:
    return int(seconds // DAY) + 1


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()
