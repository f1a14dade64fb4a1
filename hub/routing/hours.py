"""Business hours: wall-clock periods in a time zone, holidays and special days.

Everything is a pure function of an epoch-seconds ``now``. Periods are wall-clock
times in the queue's zone, so they follow DST: "09:00-17:00" opens at 09:00 local time
on both sides of a change (07:00 UTC in Berlin summer, 08:00 UTC in winter). On the
day clocks jump forward a period through the missing hour is an hour shorter; on the
day they fall back, one through the repeated hour is an hour longer.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.routing.config import WEEKDAYS, BusinessHours

_PERIOD = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
SCAN_DAYS = 370


@lru_cache(maxsize=1024)
def parse_period(text: str) -> tuple[int, int]:
    """``"HH:MM-HH:MM"`` -> (start, end) in minutes after midnight; end may be 24:00."""
    m = _PERIOD.match(text.strip())
    if m is None:
        raise ValueError(f"{text!r} is not HH:MM-HH:MM")
    sh, sm, eh, em = (int(g) for g in m.groups())
    if sh > 23 or sm > 59 or em > 59 or eh > 24 or (eh == 24 and em != 0):
        raise ValueError(f"{text!r} has an impossible time")
    start, end = sh * 60 + sm, eh * 60 + em
    if start >= end:
        raise ValueError(f"{text!r} ends before it starts (split overnight periods at 24:00)")
    return start, end


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The zone ``name``; raises ValueError when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def periods_on(hours: BusinessHours, day: date) -> list[tuple[int, int]]:
    """The open periods on a local date (special days, then holidays, then weekly)."""
    if day in hours.special:
        texts = hours.special[day]
    elif day in hours.holidays:
        return []
    else:
        texts = hours.weekly.get(WEEKDAYS[day.weekday()], ())
    return sorted(parse_period(t) for t in texts)


def is_open(hours: BusinessHours | None, now: float) -> bool:
    """Whether the queue is open at ``now`` (no hours: always open)."""
    if hours is None:
        return True
    local = datetime.fromtimestamp(now, zone(hours.tz))
    second = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    return any(s * 60 <= second < e * 60 for s, e in periods_on(hours, local.date()))


def _instant(day: date, minute: int, tz: ZoneInfo) -> float:
    """When the wall clock in ``tz`` first reads ``minute`` on ``day`` or later: a time the
    clocks skip (inside a DST gap) is reached at the jump itself, as :func:`is_open` sees it."""
    if minute >= 24 * 60:
        day, minute = day + timedelta(days=1), 0
    wall = datetime.combine(day, time(minute // 60, minute % 60), tz)
    late = wall.timestamp()
    if datetime.fromtimestamp(late, tz).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return late
    # In a gap: fold 0 reads it with the offset before the jump (later), fold 1 with the
    # one after (earlier); the jump lies between, found to the second.
    lo, hi = wall.replace(fold=1).timestamp(), late
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).replace(tzinfo=None) >= wall.replace(tzinfo=None):
            hi = mid
        else:
            lo = mid
    return hi


def next_change(hours: BusinessHours | None, now: float) -> float | None:
    """The first instant after ``now`` at which :func:`is_open` flips, or None."""
    if hours is None:
        return None
    tz = zone(hours.tz)
    state = is_open(hours, now)
    today = datetime.fromtimestamp(now, tz).date()
    for offset in range(-1, SCAN_DAYS):
        day = today + timedelta(days=offset)
        edges = sorted({_instant(day, m, tz) for p in periods_on(hours, day) for m in p})
        for t in edges:
            if t > now and is_open(hours, t) != state:
                return t
    return None


def next_open(hours: BusinessHours | None, now: float) -> float | None:
    """``now`` if open, else when the queue next opens (None: not within a year)."""
    if is_open(hours, now):
        return now
    return next_change(hours, now)
