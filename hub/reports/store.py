"""The wallboard's "today" reads: one query per metric group, each served by an index
(migration 017). Read-only; the board shows every queue, so nothing is scoped here
(who may open the board is hub.access's question)."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from hub.reports.rules import STAFFED, backlog_by_queue, bucket_bounds

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


async def presence_today(pool: asyncpg.Pool, since: float, now: float
                         ) -> dict[int, dict[str, object]]:
    """Per agent from the presence log: ``staffed_s`` (time online or busy between
    ``since`` and ``now``; the state at ``since`` is the last change before it), and the
    last logged ``presence`` with the time it began (``since_at``, possibly before today)."""
    rows = await pool.fetch(
        "WITH changes AS ("
        " SELECT agent_id, presence, at FROM agent_presence_log WHERE at >= $1 AND at <= $2"
        " UNION ALL"
        " SELECT a.id, p.presence, p.at FROM agents a CROSS JOIN LATERAL ("
        "  SELECT presence, at FROM agent_presence_log WHERE agent_id = a.id AND at < $1"
        "  ORDER BY at DESC LIMIT 1) p),"
        " spans AS (SELECT agent_id, presence, at, greatest(at, $1) AS from_at,"
        "  coalesce(lead(at) OVER (PARTITION BY agent_id ORDER BY at), $2) AS to_at"
        "  FROM changes)"
        " SELECT agent_id, coalesce(sum(extract(epoch FROM to_at - from_at))"
        "  FILTER (WHERE presence = ANY($3::text[])), 0)::float8 AS staffed_s,"
        "  (array_agg(presence ORDER BY at DESC))[1] AS presence, max(at) AS since_at"
        " FROM spans GROUP BY agent_id", _ts(since), _ts(now), list(STAFFED))
    return {r["agent_id"]: {"staffed_s": r["staffed_s"], "presence": r["presence"],
                            "since_at": r["since_at"].timestamp()} for r in rows}


async def busy_today(pool: asyncpg.Pool, since: float, now: float) -> dict[int, float]:
    """Per agent: seconds between ``since`` and ``now`` holding at least one work item
    (overlapping items count once), from assignment to completion (or now if held)."""
    rows = await pool.fetch(
        "SELECT agent_id, coalesce((SELECT sum(extract(epoch FROM upper(r) - lower(r)))"
        "  FROM unnest(held) AS r), 0)::float8 AS busy_s FROM ("
        " SELECT agent_id, range_agg(tstzrange(greatest(assigned_at, $1), ended)) AS held"
        " FROM (SELECT agent_id, assigned_at, CASE WHEN status IN ('completed', 'cancelled')"
        "   THEN least(updated_at, $2) ELSE $2 END AS ended FROM work_items"
        "   WHERE agent_id IS NOT NULL AND assigned_at IS NOT NULL AND assigned_at < $2"
        "   AND (status IN ('assigned', 'wrapup')"
        "        OR (status IN ('completed', 'cancelled') AND updated_at >= $1))) w"
        " WHERE ended > greatest(assigned_at, $1) GROUP BY agent_id) per_agent",
        _ts(since), _ts(now))
    return {r["agent_id"]: r["busy_s"] for r in rows}
