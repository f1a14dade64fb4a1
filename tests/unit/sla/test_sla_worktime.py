"""Working-time arithmetic on the routing calendars (hub/sla/rules/worktime.py):
examples (the weekend, lunch breaks, DST in Berlin and New York, holidays, special days)
and hypothesis properties: working time is exactly where routing's ``is_open`` holds,
a due time never falls in closed time, and adding then measuring round-trips."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.routing.config import WEEKDAYS, BusinessHours
from hub.routing.hours import is_open
from hub.sla.rules.worktime import (
    NeverOpen,
    add_working,
    add_working_days,
    next_working_instant,
    open_intervals,
    working_between,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = 3600
WEEKDAYS_ONLY = ("mon", "tue", "wed", "thu", "fri")


def at(tz: ZoneInfo, *args: int) -> float:
    return datetime(*args, tzinfo=tz).timestamp()  # type: ignore[misc]


def cal(tz: str = "Europe/Berlin", **kw: Any) -> BusinessHours:
    return msgspec.convert({"tz": tz, **kw}, BusinessHours)


def office(tz: str = "Europe/Berlin", periods: tuple[str, ...] = ("09:00-17:00",),
           **kw: Any) -> BusinessHours:
    return cal(tz, weekly={d: list(periods) for d in WEEKDAYS_ONLY}, **kw)


OFFICE = office()


# ---- examples --------------------------------------------------------------------------


def test_friday_1630_plus_one_working_hour_is_monday_0930() -> None:
    # 2025-03-07 is a Friday.
    assert add_working(OFFICE, at(BERLIN, 2025, 3, 7, 16, 30), HOUR) == \
        at(BERLIN, 2025, 3, 10, 9, 30)
    assert working_between(OFFICE, at(BERLIN, 2025, 3, 7, 16, 30),
                           at(BERLIN, 2025, 3, 10, 9, 30)) == HOUR


def test_a_due_ending_with_the_day_is_the_closing_edge_not_the_next_morning() -> None:
    assert add_working(OFFICE, at(BERLIN, 2025, 3, 7, 16, 0), HOUR) == \
        at(BERLIN, 2025, 3, 7, 17, 0)


def test_starting_in_closed_time_counts_from_the_next_opening() -> None:
    saturday = at(BERLIN, 2025, 3, 8, 11, 0)
    assert add_working(OFFICE, saturday, 30 * 60) == at(BERLIN, 2025, 3, 10, 9, 30)
    assert next_working_instant(OFFICE, saturday) == at(BERLIN, 2025, 3, 10, 9, 0)
    assert add_working(OFFICE, saturday, 0) == at(BERLIN, 2025, 3, 10, 9, 0)
    assert working_between(OFFICE, saturday, at(BERLIN, 2025, 3, 9, 23, 0)) == 0


def test_several_periods_a_day_skip_the_lunch_break() -> None:
    split = office(periods=("09:00-12:00", "13:00-17:00"))
    assert add_working(split, at(BERLIN, 2025, 3, 3, 11, 30), HOUR) == \
        at(BERLIN, 2025, 3, 3, 13, 30)
    assert working_between(split, at(BERLIN, 2025, 3, 3, 0), at(BERLIN, 2025, 3, 4, 0)) == \
        7 * HOUR


def test_no_calendar_counts_every_second() -> None:
    assert add_working(None, 1000.0, 86400) == 87400.0
    assert working_between(None, 1000.0, 87400.0) == 86400.0
    assert working_between(None, 5.0, 1.0) == 0.0
    with pytest.raises(ValueError):
        add_working(None, 0.0, -1)


def test_dst_spring_forward_in_berlin_keeps_wall_clock_hours() -> None:
    # 2025-03-30 (Sunday): 02:00 CET -> 03:00 CEST. Fri 16:00 + 2 h: Fri 17:00 CET and
    # Mon 10:00 CEST; the UTC distance includes the weekend minus the lost hour.
    start, due = at(BERLIN, 2025, 3, 28, 16, 0), at(BERLIN, 2025, 3, 31, 10, 0)
    assert add_working(OFFICE, start, 2 * HOUR) == due
    assert due - start == (2 * 24 + 18) * HOUR - HOUR


def test_dst_period_through_the_missing_hour_is_an_hour_shorter() -> None:
    nights = cal(weekly={"sun": ["01:00-05:00"]})
    sunday = at(BERLIN, 2025, 3, 30, 0, 0)
    assert working_between(nights, sunday, sunday + 86400) == 3 * HOUR
    assert add_working(nights, sunday, 3 * HOUR) == at(BERLIN, 2025, 3, 30, 5, 0)


def test_dst_fall_back_period_through_the_repeated_hour_is_an_hour_longer() -> None:
    nights = cal(weekly={"sun": ["01:00-05:00"]})
    sunday = at(BERLIN, 2025, 10, 26, 0, 0)
    assert working_between(nights, sunday, sunday + 86400) == 5 * HOUR
    assert add_working(nights, sunday, 5 * HOUR) == at(BERLIN, 2025, 10, 26, 5, 0)


def test_a_period_starting_inside_the_dst_gap_opens_when_the_wall_clock_passes_it() -> None:
    # 02:30 does not exist on 2025-03-30 in Berlin; at 03:00 CEST (01:00 UTC) the wall
    # clock is past 02:30, and routing's is_open says open: working time agrees.
    h = cal(weekly={"sun": ["02:30-05:00"]})
    opening = datetime(2025, 3, 30, 1, 0, tzinfo=UTC).timestamp()
    assert is_open(h, opening) and not is_open(h, opening - 1)
    assert next_working_instant(h, at(BERLIN, 2025, 3, 29, 12, 0)) == opening
    assert working_between(h, opening - HOUR, opening + 86400) == 2 * HOUR


def test_dst_in_new_york_moves_the_opening_in_utc() -> None:
    ny = office("America/New_York")
    # Fri 2025-03-07 16:30 EST + 1 h = Mon 2025-03-10 09:30 EDT (DST began on the Sunday).
    due = add_working(ny, at(NEW_YORK, 2025, 3, 7, 16, 30), HOUR)
    assert due == at(NEW_YORK, 2025, 3, 10, 9, 30)
    assert datetime.fromtimestamp(due, UTC).hour == 13  # 09:30 EDT is 13:30 UTC


def test_holidays_are_skipped_and_special_days_count() -> None:
    # Thu 2025-12-25 and Fri 26 are holidays; Sat 27 is a special half day.
    h = office(holidays=["2025-12-25", "2025-12-26"], special={"2025-12-27": ["10:00-12:00"]})
    start = at(BERLIN, 2025, 12, 24, 16, 0)
    assert add_working(h, start, 2 * HOUR) == at(BERLIN, 2025, 12, 27, 11, 0)
    assert add_working(h, start, 4 * HOUR) == at(BERLIN, 2025, 12, 29, 10, 0)
    assert working_between(h, start, at(BERLIN, 2025, 12, 29, 10, 0)) == 4 * HOUR


def test_periods_touching_at_midnight_are_one_interval() -> None:
    h = cal(weekly={"mon": ["18:00-24:00"], "tue": ["00:00-02:00"]})
    first = next(open_intervals(h, at(BERLIN, 2025, 3, 3, 0, 0)))
    assert first == (at(BERLIN, 2025, 3, 3, 18, 0), at(BERLIN, 2025, 3, 4, 2, 0))


def test_a_calendar_never_open_raises_instead_of_looping() -> None:
    with pytest.raises(NeverOpen):
        add_working(cal(weekly={}), 0.0, 60)
    with pytest.raises(NeverOpen):
        add_working_days(cal(weekly={}), 0.0, 1)
    assert working_between(cal(weekly={}), 0.0, 10 * 86400.0) == 0


def test_working_days_keep_the_wall_clock_time_and_skip_closed_days() -> None:
    friday = at(BERLIN, 2025, 3, 7, 16, 30)
    assert add_working_days(OFFICE, friday, 1) == at(BERLIN, 2025, 3, 10, 16, 30)
    assert add_working_days(OFFICE, friday, 3) == at(BERLIN, 2025, 3, 12, 16, 30)
    # Pending on Saturday at 11:00: one working day later is Monday 11:00.
    assert add_working_days(OFFICE, at(BERLIN, 2025, 3, 8, 11), 1) == \
        at(BERLIN, 2025, 3, 10, 11)
    # Pending at 20:00: the same time on the next working day is closed -> next opening.
    assert add_working_days(OFFICE, at(BERLIN, 2025, 3, 5, 20), 1) == \
        at(BERLIN, 2025, 3, 7, 9)
    assert add_working_days(None, 100.0, 2) == 100.0 + 2 * 86400


# ---- properties -----------------------------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "America/Santiago", "Asia/Kolkata",
         "Australia/Lord_Howe", "Pacific/Chatham", "Europe/London"]
LO = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
HI = int(datetime(2027, 1, 1, tzinfo=UTC).timestamp())
PROPS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def day_periods(draw: st.DrawFn) -> list[str]:
    """0-3 non-overlapping periods on 15-minute steps (end may be 24:00)."""
    cuts = sorted(draw(st.sets(st.integers(0, 96), max_size=6)))
    if len(cuts) % 2:
        cuts = cuts[:-1]
    return [f"{a // 4:02d}:{a % 4 * 15:02d}-{b // 4:02d}:{b % 4 * 15:02d}"
            for a, b in zip(cuts[::2], cuts[1::2], strict=True)]


@st.composite
def calendars(draw: st.DrawFn) -> BusinessHours:
    weekly = {d: draw(day_periods()) for d in WEEKDAYS if draw(st.booleans())}
    if not any(weekly.values()):
        weekly["wed"] = ["10:00-11:00"]
    base = date(2024, 1, 1)
    days = st.integers(0, 3 * 366).map(lambda n: base + timedelta(days=n))
    holidays = sorted(draw(st.sets(days, max_size=20)))
    special = {d: draw(day_periods()) for d in draw(st.sets(days, max_size=5))}
    return cal(draw(st.sampled_from(ZONES)), weekly=weekly,
               holidays=[d.isoformat() for d in holidays],
               special={d.isoformat(): p for d, p in special.items()})


maybe_calendar = st.one_of(st.none(), calendars())
instants = st.integers(LO, HI).map(float)
spans = st.integers(0, 40 * HOUR)


def _working_edge(h: BusinessHours | None, t: float) -> bool:
    """Inside working time, or the closing edge of a period (a second earlier is open)."""
    return is_open(h, t) or is_open(h, t - 1)


@PROPS
@given(calendars(), instants, st.integers(0, 10 * 86400))
def test_working_time_is_exactly_where_routing_is_open(h: BusinessHours, start: float,
                                                       probe: int) -> None:
    t = start + probe
    inside = False
    for a, b in open_intervals(h, start):
        if a > t:
            break
        inside = inside or a <= t < b
    assert inside == is_open(h, t)


def _transitions(year: int = 2025) -> list[tuple[str, float]]:
    """(zone, instant) of every UTC-offset change in ``year`` (hourly scan, then exact)."""
    found = []
    for name in ZONES:
        tz = ZoneInfo(name)
        t = datetime(year, 1, 1, tzinfo=UTC).timestamp()
        while t < datetime(year + 1, 1, 1, tzinfo=UTC).timestamp():
            if datetime.fromtimestamp(t, tz).utcoffset() != \
                    datetime.fromtimestamp(t + HOUR, tz).utcoffset():
                lo, hi = t, t + HOUR
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    same = datetime.fromtimestamp(mid, tz).utcoffset() == \
                        datetime.fromtimestamp(lo, tz).utcoffset()
                    lo, hi = (mid, hi) if same else (lo, mid)
                found.append((name, hi))
            t += HOUR
    return found


TRANSITIONS = _transitions()


@PROPS
@given(st.data(), st.sampled_from(TRANSITIONS), st.integers(-8 * HOUR, 8 * HOUR))
def test_around_dst_changes_working_time_is_where_routing_is_open(
        data: st.DataObject, change: tuple[str, float], probe: int) -> None:
    name, instant = change
    night = st.lists(st.sampled_from(["00:00-01:30", "01:45-02:15", "02:30-03:30",
                                      "03:45-24:00"]), unique=True, min_size=1).map(sorted)
    h = cal(name, weekly={d: data.draw(night) for d in WEEKDAYS})
    t, start = instant + probe, instant - 10 * HOUR
    inside = any(a <= t < b for a, b in _until(h, start, t))
    assert inside == is_open(h, t)
    due = add_working(h, start, data.draw(spans))
    assert _working_edge(h, due) or due == start


def _until(h: BusinessHours, start: float, t: float) -> list[tuple[float, float]]:
    out = []
    for a, b in open_intervals(h, start, horizon_days=3):
        if a > t:
            break
        out.append((a, b))
    return out


@PROPS
@given(maybe_calendar, instants, spans)
def test_a_due_time_never_falls_outside_working_time(h: BusinessHours | None, start: float,
                                                     seconds: int) -> None:
    due = add_working(h, start, seconds)
    assert due >= start
    if seconds == 0:
        assert is_open(h, due)
    else:
        assert _working_edge(h, due)


@PROPS
@given(maybe_calendar, instants, spans)
def test_adding_then_measuring_round_trips(h: BusinessHours | None, start: float,
                                           seconds: int) -> None:
    due = add_working(h, start, seconds)
    assert working_between(h, start, due) == pytest.approx(seconds, abs=1e-6)


@PROPS
@given(maybe_calendar, instants, st.integers(0, 20 * 86400))
def test_measuring_then_adding_lands_on_the_last_working_instant(
        h: BusinessHours | None, start: float, gap: int) -> None:
    end = start + gap
    worked = working_between(h, start, end)
    if worked == 0:
        return  # nothing to land on: the next opening may well be after ``end``
    back = add_working(h, start, worked)
    assert back <= end + 1e-6
    # Nothing of [back, end) is working time.
    assert working_between(h, back, end) == pytest.approx(0, abs=1e-6)


@PROPS
@given(maybe_calendar, instants, spans, spans)
def test_adding_is_additive_and_monotonic(h: BusinessHours | None, start: float,
                                          a: int, b: int) -> None:
    once = add_working(h, start, a + b)
    twice = add_working(h, add_working(h, start, a), b)
    if b:  # (adding 0 snaps a closing edge forward to the next opening)
        assert once == pytest.approx(twice, abs=1e-6)
    assert add_working(h, start, min(a, b)) <= add_working(h, start, max(a, b))


@PROPS
@given(calendars(), instants, st.integers(1, 15))
def test_working_days_land_in_working_time_on_a_later_working_date(
        h: BusinessHours, start: float, days: int) -> None:
    due = add_working_days(h, start, days)
    assert is_open(h, due)
    tz = ZoneInfo(h.tz)
    assert datetime.fromtimestamp(due, tz).date() > datetime.fromtimestamp(start, tz).date()
