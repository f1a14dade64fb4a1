"""The ``bot_deliveries`` rows of the bot webhook worker (workers/bot_webhooks.py)
and of bot administration (cancelling on disable, the delivery log):
which bots an event goes to, recording a delivery once, claiming it in conversation
order, recording the outcome and the sweep's selections. The worker keeps the HTTP,
the signatures and the retry rules."""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool

CLAIM_DELIVERY = """
UPDATE bot_deliveries d SET status = 'sending', attempts = d.attempts + 1,
    updated_at = now()
FROM bots b
WHERE d.id = $1 AND b.id = d.bot_id AND d.status = 'pending'
  AND d.next_attempt_at <= now() + interval '0.5 seconds'
  AND NOT EXISTS (SELECT 1 FROM bot_deliveries p WHERE p.bot_id = d.bot_id
      AND p.conversation_id = d.conversation_id AND p.status IN ('pending', 'sending')
      AND p.stream_pos < d.stream_pos)
RETURNING d.id, d.delivery_id, d.bot_id, d.conversation_id, d.event_type, d.body,
    d.attempts, b.active, b.webhook_url, b.webhook_secret,
    CASE WHEN b.prev_webhook_secret_until > now() THEN b.prev_webhook_secret END AS prev_secret
"""


async def bot_has_webhook(conn: Conn, bot_id: int) -> bool:
    return bool(await conn.fetchval("SELECT webhook_url IS NOT NULL FROM bots WHERE id = $1"
                                    " AND active", bot_id))


async def last_delivery_held(conn: Conn, bot_id: int, conversation_id: int) -> bool:
    """Whether the bot's newest delivery for the conversation told it it held it."""
    return bool(await conn.fetchval(
        "SELECT held FROM bot_deliveries WHERE bot_id = $1 AND conversation_id = $2"
        " ORDER BY stream_pos DESC LIMIT 1", bot_id, conversation_id))


async def webhook_bot_holding(conn: Conn, conversation_id: int) -> int | None:
    """The active webhook bot holding the conversation, if any."""
    value: int | None = await conn.fetchval(
        "SELECT w.bot_id FROM work_items w JOIN bots b ON b.id = w.bot_id"
        " WHERE w.conversation_id = $1 AND w.status = 'bot' AND b.active"
        " AND b.webhook_url IS NOT NULL", conversation_id)
    return value


async def insert_delivery(conn: Conn, delivery_id: Any, bot_id: int, conversation_id: int,
                          stream_id: str, stream_pos: int, event_type: str, held: bool,
                          body: str) -> int | None:
    """The new row's id, or None when this (bot, stream id) was recorded before."""
    value: int | None = await conn.fetchval(
        "INSERT INTO bot_deliveries (delivery_id, bot_id, conversation_id, stream_id,"
        " stream_pos, event_type, held, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (bot_id, stream_id) DO NOTHING RETURNING id",
        delivery_id, bot_id, conversation_id, stream_id, stream_pos, event_type, held, body)
    return value


async def any_webhook_bot(conn: Conn) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM bots WHERE active AND webhook_url IS NOT NULL)"))


async def claim_delivery(conn: Conn, pk: int) -> Any:
    return await conn.fetchrow(CLAIM_DELIVERY, pk)


async def finish_delivery(conn: Conn, pk: int, status: str, http_status: int | None,
                          error: str, next_at_s: float) -> None:
    await conn.execute(
        "UPDATE bot_deliveries SET status = $2, http_status = $3, last_error = $4,"
        " next_attempt_at = now() + make_interval(secs => $5), updated_at = now()"
        " WHERE id = $1 AND status = 'sending'", pk, status, http_status, error, next_at_s)


async def next_pending_delivery(conn: Conn, bot_id: int, conversation_id: int) -> int | None:
    value: int | None = await conn.fetchval(
        "SELECT id FROM bot_deliveries WHERE bot_id = $1 AND conversation_id = $2"
        " AND status = 'pending' ORDER BY stream_pos LIMIT 1", bot_id, conversation_id)
    return value


async def reset_stuck_sending(conn: Conn, stuck_s: float) -> None:
    await conn.execute(
        "UPDATE bot_deliveries SET status = 'pending', updated_at = now(),"
        " last_error = 'worker stopped mid-send; sending again (same delivery id)'"
        " WHERE status = 'sending' AND updated_at < now() - make_interval(secs => $1)",
        stuck_s)


async def due_line_heads(conn: Conn) -> list[int]:
    """The head of each open (bot, conversation) line that is due and not just enqueued."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (bot_id, conversation_id) id, status FROM bot_deliveries"
        " WHERE status IN ('pending', 'sending') ORDER BY bot_id, conversation_id, stream_pos"
        " LIMIT 1000")
    due = await conn.fetch(
        "SELECT id FROM bot_deliveries WHERE id = ANY($1::bigint[]) AND status = 'pending'"
        " AND next_attempt_at < now() - interval '5 seconds'",
        [r["id"] for r in rows])
    return [r["id"] for r in due]


async def cancel_pending_deliveries(conn: Conn, bot_id: int, reason: str) -> None:
    """A disabled bot's queued deliveries are not sent (``reason`` is their last error)."""
    await conn.execute(
        "UPDATE bot_deliveries SET status = 'cancelled', last_error = $2,"
        " updated_at = now() WHERE bot_id = $1 AND status = 'pending'",
        bot_id, reason)


async def deliveries_of(conn: Conn, bot_id: int, *, status: str | None,
                        conversation_id: int | None, limit: int) -> list[asyncpg.Record]:
    """The bot's deliveries, newest first, optionally of one status / conversation."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT delivery_id, conversation_id, stream_id, event_type, status, attempts,"
        " http_status, last_error, next_attempt_at, created_at, updated_at"
        " FROM bot_deliveries WHERE bot_id = $1 AND ($2::text IS NULL OR status = $2)"
        " AND ($3::bigint IS NULL OR conversation_id = $3) ORDER BY id DESC LIMIT $4",
        bot_id, status, conversation_id, limit)
    return rows
