"""The wallboard's pure metric definitions (hub/reports/rules.py, docs/board.md)."""

from __future__ import annotations

from datetime import UTC, datetime

from hub import access
from hub.reports.rules import (
    BACKLOG_BUCKETS,
    backlog_by_queue,
    bucket_bounds,
    day_start,
    occupancy,
)
from hub.schema import Agent


def test_day_starts_at_midnight_utc() -> None:
    now = datetime(2026, 3, 29, 1, 30, 5, tzinfo=UTC).timestamp()  # a DST night in Europe
    assert day_start(now) == datetime(2026, 3, 29, tzinfo=UTC).timestamp()
    assert day_start(day_start(now)) == day_start(now)


def test_backlog_rows_fill_every_bucket_and_bounds_match_the_labels() -> None:
    assert bucket_bounds() == [3600.0, 14400.0, 86400.0]
    assert len(bucket_bounds()) == len(BACKLOG_BUCKETS) - 1  # width_bucket: 0..n-1
    got = backlog_by_queue([("support", 0, 2), ("support", 3, 1), ("sales", 1, 4)])
    assert got == {"support": {"lt_1h": 2, "1h_4h": 0, "4h_24h": 0, "gt_24h": 1},
                   "sales": {"lt_1h": 0, "1h_4h": 4, "4h_24h": 0, "gt_24h": 0}}


def _who(role: str) -> Agent:
    return Agent(id=1, email="a@x", name="A", role=role, inboxes=["web"])  # type: ignore[arg-type]


def test_board_is_for_supervisors_unless_the_setting_lets_agents_in() -> None:
    assert not access.may_see_board(_who("agent"), False).allowed
    assert access.may_see_board(_who("agent"), True).allowed
    assert access.may_see_board(_who("supervisor"), False).allowed
    assert access.may_see_board(_who("admin"), False).allowed
    assert access.may_see_board(_who("agent"), False).status == 403


def test_occupancy_is_busy_over_staffed_capped_and_unknown_without_staffed_time() -> None:
    assert occupancy(1800, 3600) == 0.5
    assert occupancy(7200, 3600) == 1.0  # work held while away does not pass 100 %
    assert occupancy(0, 3600) == 0.0
    assert occupancy(600, 0) is None
