"""The wallboard's "today" reads: one query per metric group, each served by an index
(migration 017). Read-only; the board shows every queue, so nothing is scoped here
(who may open the board is hub.access's question)."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from hub.reports.rules import backlog_by_queue, bucket_bounds

# A work item still held or waiting (hub/routing/persist.py's live statuses, minus wrap-up).
_OPEN = ("queued", "offered", "assigned")


def _ts(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


async def queue_day_counts(pool: asyncpg.Pool, since: float) -> dict[str, dict[str, int]]:
    """Per queue since ``since``: ``handled`` (completed) and ``abandoned`` (cancelled
    before any agent held it: the customer left or the conversation closed while waiting)."""
    rows = await pool.fetch(
        "SELECT queue, count(*) FILTER (WHERE status = 'completed') AS handled,"
        " count(*) FILTER (WHERE status = 'cancelled' AND assigned_at IS NULL) AS abandoned"
        " FROM work_items WHERE status IN ('completed', 'cancelled') AND updated_at >= $1"
        " GROUP BY queue", _ts(since))
    return {r["queue"]: {"handled": r["handled"], "abandoned": r["abandoned"]} for r in rows}


async def agent_handled(pool: asyncpg.Pool, since: float) -> dict[int, int]:
    """Per agent: work items completed since ``since`` while the agent held them."""
    rows = await pool.fetch(
        "SELECT agent_id, count(*) AS n FROM work_items WHERE status = 'completed'"
        " AND updated_at >= $1 AND agent_id IS NOT NULL GROUP BY agent_id", _ts(since))
    return {r["agent_id"]: r["n"] for r in rows}


async def backlog(pool: asyncpg.Pool, channels: frozenset[str], now: float
                  ) -> dict[str, dict[str, int]]:
    """Per queue: open items on ``channels`` (the mailbox channels) by age bucket, the
    age counted from the item's creation (when the customer wrote)."""
    rows = await pool.fetch(
        "SELECT queue, width_bucket(extract(epoch FROM $2::timestamptz - created_at)::float8,"
        " $3::float8[]) AS bucket, count(*) AS n FROM work_items"
        " WHERE status = ANY($4::text[]) AND channel = ANY($1::text[])"
        " GROUP BY queue, bucket", sorted(channels), _ts(now), bucket_bounds(), list(_OPEN))
    return backlog_by_queue((r["queue"], r["bucket"], r["n"]) for r in rows)
