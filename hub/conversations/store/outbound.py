"""Outbound message status for the delivery worker (workers/delivery.py): claiming a
queued reply, recording an attempt's outcome, and the lost-delivery sweep's selections.
One statement each; the worker keeps its decisions and its retries."""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection


async def update_message_status(conn: Conn, message_id: int, status: str, error: str,
                                only_from: str | None) -> Any:
    """Move an outbound message to ``status`` unless it already got further (sent,
    delivered, read) or, with ``only_from``, is no longer in that state. Returns
    (conversation_id, inbox) or None."""
    return await conn.fetchrow(
        "UPDATE messages m SET status = $2, status_error = $3, status_at = now()"
        " FROM conversations c WHERE m.id = $1 AND c.id = m.conversation_id"
        " AND m.status NOT IN ('sent', 'delivered', 'read')"
        " AND ($4::text IS NULL OR m.status = $4)"
        " RETURNING m.conversation_id, c.inbox",
        message_id, status, error, only_from,
    )


async def claim_queued_message(conn: Conn, message_id: int) -> Any:
    """queued -> sending, at most once; the row to send, or None if not queued."""
    return await conn.fetchrow(
        "UPDATE messages m SET status = 'sending', status_at = now()"
        " FROM conversations c WHERE m.id = $1 AND m.status = 'queued' AND m.direction = 'out'"
        " AND c.id = m.conversation_id"
        # The channel and account the reply was stored for (in a joined conversation, the
        # customer's channel, not necessarily the conversation's own).
        " RETURNING m.id, m.conversation_id, m.channel_account AS inbox, m.channel, m.text,"
        " m.html, m.provider_id,"
        " m.author_name, m.created_at, c.contact_identity", message_id)


async def queued_without_job(pool: Conn) -> list[int]:
    """Outbound messages queued for over 30 s (their job never reached Redis)."""
    return [r["id"] for r in await pool.fetch(
        "SELECT id FROM messages WHERE status = 'queued' AND direction = 'out'"
        " AND created_at < now() - interval '30 seconds' LIMIT 500")]


async def stuck_sending(pool: Conn, after_s: float) -> list[int]:
    """Messages left 'sending' for longer than ``after_s`` (their worker died)."""
    return [r["id"] for r in await pool.fetch(
        "SELECT id FROM messages WHERE status = 'sending'"
        " AND status_at < now() - make_interval(secs => $1) LIMIT 500", after_s)]
