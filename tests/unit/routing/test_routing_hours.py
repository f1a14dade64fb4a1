"""Business hours: period boundaries, DST in Europe/Berlin, holidays, special days, and
what routing does after hours (keep queued, auto-reply once, overflow)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

from hub.routing import RouterState, next_wakeup
from hub.routing.config import BusinessHours
from hub.routing.decisions import AutoReply, TransferItem
from hub.routing.hours import is_open, next_change, next_open, parse_period
from tests.fixtures.routing_state import add_item, make_config, offered_to, online, step

BERLIN = ZoneInfo("Europe/Berlin")
ALL_WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


def berlin(*args: int) -> float:
    return datetime(*args, tzinfo=BERLIN).timestamp()  # type: ignore[misc]


def hours(**kw: Any) -> BusinessHours:
    return msgspec.convert({"tz": "Europe/Berlin", **kw}, BusinessHours)


def test_parse_period() -> None:
    assert parse_period("09:00-17:30") == (540, 1050)
    assert parse_period("00:00-24:00") == (0, 1440)
    for bad in ("17:00-09:00", "09:00-09:00", "25:00-26:00", "9:00-17:00", "09:60-10:00"):
        with pytest.raises(ValueError):
            parse_period(bad)


def test_no_hours_means_always_open() -> None:
    assert is_open(None, 0.0)
    assert next_change(None, 0.0) is None


def test_period_boundaries_are_start_inclusive_end_exclusive() -> None:
    h = hours(weekly={"mon": ["09:00-12:00", "13:00-17:00"]})
    # 2025-03-03 is a Monday (CET, UTC+1).
    assert not is_open(h, berlin(2025, 3, 3, 8, 59, 59))
    assert is_open(h, berlin(2025, 3, 3, 9, 0, 0))
    assert is_open(h, berlin(2025, 3, 3, 11, 59, 59))
    assert not is_open(h, berlin(2025, 3, 3, 12, 0, 0))
    assert not is_open(h, berlin(2025, 3, 3, 12, 59, 59))
    assert is_open(h, berlin(2025, 3, 3, 13, 0, 0))
    assert not is_open(h, berlin(2025, 3, 3, 17, 0, 0))
    assert not is_open(h, berlin(2025, 3, 4, 10, 0, 0))  # Tuesday: not listed, closed
    assert next_change(h, berlin(2025, 3, 3, 10, 0)) == berlin(2025, 3, 3, 12, 0)
    assert next_change(h, berlin(2025, 3, 3, 12, 0)) == berlin(2025, 3, 3, 13, 0)
    # After Monday's last period: next Monday 09:00.
    assert next_change(h, berlin(2025, 3, 3, 17, 0)) == berlin(2025, 3, 10, 9, 0)


def test_adjacent_periods_and_midnight() -> None:
    h = hours(weekly={"mon": ["09:00-12:00", "12:00-24:00"], "tue": ["00:00-02:00"]})
    assert next_change(h, berlin(2025, 3, 3, 10, 0)) == berlin(2025, 3, 4, 2, 0)
    assert is_open(h, berlin(2025, 3, 3, 23, 59, 59))
    assert is_open(h, berlin(2025, 3, 4, 0, 0, 0))
    assert not is_open(h, berlin(2025, 3, 4, 2, 0, 0))


def test_dst_spring_forward_berlin() -> None:
    h = hours(weekly={d: ["09:00-17:00"] for d in ALL_WEEK})
    # Saturday 2025-03-29, CET: 09:00 local is 08:00 UTC.
    assert not is_open(h, utc(2025, 3, 29, 7, 59, 59))
    assert is_open(h, utc(2025, 3, 29, 8, 0))
    assert not is_open(h, utc(2025, 3, 29, 16, 0))
    # Monday 2025-03-31, CEST: 09:00 local is 07:00 UTC; closes 15:00 UTC.
    assert not is_open(h, utc(2025, 3, 31, 6, 59, 59))
    assert is_open(h, utc(2025, 3, 31, 7, 0))
    assert is_open(h, utc(2025, 3, 31, 14, 59, 59))
    assert not is_open(h, utc(2025, 3, 31, 15, 0))
    # Closing on the Saturday -> next opening on the Sunday, across the change.
    assert next_change(h, utc(2025, 3, 29, 16, 0)) == utc(2025, 3, 30, 7, 0)


def test_dst_period_through_the_missing_hour_is_shorter() -> None:
    h = hours(weekly={"sun": ["01:00-04:00"]})
    # 2025-03-30: 01:00 CET = 00:00 UTC; 04:00 CEST = 02:00 UTC: two real hours.
    assert is_open(h, utc(2025, 3, 30, 0, 0))
    assert is_open(h, utc(2025, 3, 30, 1, 59, 59))
    assert not is_open(h, utc(2025, 3, 30, 2, 0))
    assert next_change(h, utc(2025, 3, 30, 0, 30)) == utc(2025, 3, 30, 2, 0)


def test_a_period_starting_in_the_missing_hour_opens_at_the_jump() -> None:
    h = hours(weekly={"sun": ["02:30-05:00"]})
    # 2025-03-30 the clocks go 02:00 CET -> 03:00 CEST at 01:00 UTC: 02:30 never shows,
    # so the queue opens at the jump, and the router must wake then, not half an hour on.
    assert not is_open(h, utc(2025, 3, 30, 0, 59, 59))
    assert is_open(h, utc(2025, 3, 30, 1, 0))
    assert next_change(h, utc(2025, 3, 30, 0, 30)) == utc(2025, 3, 30, 1, 0)
    assert next_open(h, utc(2025, 3, 30, 0, 30)) == utc(2025, 3, 30, 1, 0)


def test_dst_fall_back_period_through_the_repeated_hour_is_longer() -> None:
    h = hours(weekly={"sun": ["01:00-04:00"]})
    # 2025-10-26: 01:00 CEST = 23:00 UTC the day before; 04:00 CET = 03:00 UTC.
    assert not is_open(h, utc(2025, 10, 25, 22, 59, 59))
    assert is_open(h, utc(2025, 10, 25, 23, 0))
    assert is_open(h, utc(2025, 10, 26, 2, 59, 59))
    assert not is_open(h, utc(2025, 10, 26, 3, 0))
    assert next_change(h, utc(2025, 10, 25, 23, 30)) == utc(2025, 10, 26, 3, 0)


def test_holiday_and_special_day() -> None:
    h = hours(weekly={d: ["09:00-17:00"] for d in ALL_WEEK},
              holidays=["2025-12-25", "2025-12-26"], special={"2025-12-24": ["09:00-12:00"]})
    assert is_open(h, berlin(2025, 12, 23, 15, 0))
    assert is_open(h, berlin(2025, 12, 24, 11, 59))
    assert not is_open(h, berlin(2025, 12, 24, 12, 0))
    assert not is_open(h, berlin(2025, 12, 25, 10, 0))
    assert not is_open(h, berlin(2025, 12, 26, 10, 0))
    assert next_open(h, berlin(2025, 12, 24, 13, 0)) == berlin(2025, 12, 27, 9, 0)
    assert next_open(h, berlin(2025, 12, 23, 10, 0)) == berlin(2025, 12, 23, 10, 0)


def test_never_open_has_no_next_change() -> None:
    assert next_change(hours(weekly={}), berlin(2025, 1, 1)) is None


# ---- after-hours behaviour in decide --------------------------------------------------

MON_9 = berlin(2025, 3, 3, 9, 0)
SUN_10 = berlin(2025, 3, 2, 10, 0)  # closed: the day queue is Mon-Fri


def day_queue(after_hours: dict[str, Any]) -> dict[str, Any]:
    return {"id": "day", "hours": {"tz": "Europe/Berlin",
                                   "weekly": {d: ["09:00-17:00"] for d in ALL_WEEK[:5]},
                                   "after_hours": after_hours}}


def test_after_hours_keep_queued_until_open() -> None:
    cfg = make_config([day_queue({"action": "queue"})], [{"id": 1, "queues": ["day"]}])
    state = add_item(cfg, RouterState(agents=online(1, at=SUN_10)), 1, SUN_10)
    state, decisions = step(cfg, state, SUN_10)
    assert decisions == []
    # Besides the agents' heartbeat deadlines, routing next has work at the opening.
    assert next_wakeup(cfg, msgspec.structs.replace(state, agents={}), SUN_10) == MON_9
    state, decisions = step(cfg, state, MON_9)
    assert offered_to(decisions) == {1: [1]}


def test_after_hours_auto_reply_once_then_keep() -> None:
    cfg = make_config([day_queue({"action": "auto_reply", "message": "closed"})],
                      [{"id": 1, "queues": ["day"]}])
    state = add_item(cfg, RouterState(agents=online(1, at=SUN_10)), 1, SUN_10)
    state, decisions = step(cfg, state, SUN_10)
    assert decisions == [AutoReply(item_id=1, queue="day", message="closed")]
    state, decisions = step(cfg, state, SUN_10 + 60)
    assert decisions == []
    state, decisions = step(cfg, state, MON_9)
    assert offered_to(decisions) == {1: [1]}


def test_after_hours_overflow_to_another_queue() -> None:
    cfg = make_config([day_queue({"action": "overflow", "queue": "night"}), {"id": "night"}],
                      [{"id": 1, "queues": ["day"]}, {"id": 2, "queues": ["night"]}])
    state = add_item(cfg, RouterState(agents=online(1, 2, at=SUN_10)), 1, SUN_10)
    state, decisions = step(cfg, state, SUN_10)
    assert decisions[0] == TransferItem(item_id=1, to_queue="night", reason="after_hours")
    assert offered_to(decisions) == {1: [2]}
    assert state.items[1].queue == "night"
    # Open hours: the day queue's own agent.
    state = add_item(cfg, state, 2, MON_9)
    state, decisions = step(cfg, state, MON_9)
    assert offered_to(decisions) == {2: [1]}


def test_closed_queue_in_an_escalation_step_adds_no_agents() -> None:
    cfg = make_config(
        [{"id": "main", "escalation": [{"queues": ["main"], "timeout_s": 10},
                                       {"queues": ["main", "day"]}]},
         day_queue({"action": "queue"})],
        [{"id": 2, "queues": ["day"]}])
    state = add_item(cfg, RouterState(agents=online(2, at=SUN_10)), 1, SUN_10)
    state, decisions = step(cfg, state, SUN_10 + 20)
    assert offered_to(decisions) == {}
    state, decisions = step(cfg, state, MON_9)
    assert offered_to(decisions) == {1: [2]}
