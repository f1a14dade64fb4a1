"""Wallboard metric definitions (pure): what "today" is, the backlog age buckets, and
how the rows of hub/reports/store.py become the figures of the board (docs/board.md)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

# Age buckets of the mailbox backlog: (label, upper bound in seconds; None = no bound).
BACKLOG_BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("lt_1h", 3600), ("1h_4h", 4 * 3600), ("4h_24h", 24 * 3600), ("gt_24h", None))


def day_start(now: float) -> float:
    """Start of "today" for the board's day counters: midnight UTC before ``now`` (the
    hub has no operator time zone yet; docs/board.md says so)."""
    d = datetime.fromtimestamp(now, UTC)
    return d.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def bucket_bounds() -> list[float]:
    """The bucket edges for SQL's ``width_bucket`` (bucket i = ``BACKLOG_BUCKETS[i]``)."""
    return [float(upper) for _, upper in BACKLOG_BUCKETS if upper is not None]


def bucket_label(index: int) -> str:
    return BACKLOG_BUCKETS[index][0]


def empty_backlog() -> dict[str, int]:
    return {label: 0 for label, _ in BACKLOG_BUCKETS}


def backlog_by_queue(rows: Iterable[tuple[str, int, int]]) -> dict[str, dict[str, int]]:
    """(queue, bucket index, count) rows → queue → every bucket (zeros included)."""
    out: dict[str, dict[str, int]] = {}
    for queue, index, n in rows:
        out.setdefault(queue, empty_backlog())[bucket_label(index)] = n
    return out



# Presences that count as staffed time (logged in, not away): the denominator of occupancy.
STAFFED = ("online", "busy")


def occupancy(busy_s: float, staffed_s: float) -> float | None:
    """Share of staffed time spent holding work today, at most 1 (work held while away
    or offline does not raise it past full); None when the agent was never staffed."""
    if staffed_s <= 0:
        return None
    return round(min(1.0, busy_s / staffed_s), 3)
