"""The ``email_acks`` rows of the automatic acknowledgement job (workers/email_ack.py):
claim, suppress, end, retry and the sweep's selections, plus the system message that
shows the ack in the conversation. The worker keeps the rules and the sending."""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool

_MSG_COLS = ("id, conversation_id, direction, author_kind, author_name, agent_id, text, html,"
             " private, channel, provider_id, status, status_error, attachments, created_at")


async def claim_pending_ack(conn: Conn, conversation_id: int) -> Any:
    """pending -> sending, at most once; the ack row, or None."""
    return await conn.fetchrow(
        "UPDATE email_acks SET status = 'sending', status_at = now()"
        " WHERE conversation_id = $1 AND status = 'pending'"
        " RETURNING inbox, to_address, locale, parent_message_id, message_id, created_at",
        conversation_id)


async def ack_conversation(conn: Conn, conversation_id: int) -> Any:
    """(subject, contact name) of the conversation, or None."""
    return await conn.fetchrow(
        "SELECT c.subject, ct.name FROM conversations c JOIN contacts ct"
        " ON ct.id = c.contact_id WHERE c.id = $1", conversation_id)


async def agent_replied(conn: Conn, conversation_id: int) -> bool:
    """An agent already answered the conversation (not a private note)."""
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM messages WHERE conversation_id = $1"
        " AND direction = 'out' AND author_kind = 'agent' AND NOT private)",
        conversation_id))


async def store_ack_message_id(conn: Conn, inbox: str, conversation_id: int,
                               message_id: str) -> None:
    await conn.execute("UPDATE email_acks SET message_id = $2 WHERE conversation_id = $1",
                       conversation_id, message_id)
    await conn.execute(
        "INSERT INTO email_message_ids (inbox, message_id, conversation_id, direction)"
        " VALUES ($1, $2, $3, 'out') ON CONFLICT DO NOTHING",
        inbox, message_id, conversation_id)


async def inbox_ack_settings(conn: Conn, inbox: str) -> tuple[Any, list[asyncpg.Record]]:
    """(email_ack_enabled, [(language, body)]) of an inbox."""
    enabled = await conn.fetchval("SELECT email_ack_enabled FROM inboxes WHERE slug = $1", inbox)
    rows = await conn.fetch("SELECT language, body FROM email_ack_templates WHERE inbox = $1"
                            " ORDER BY language", inbox)
    return enabled, list(rows)


async def end_ack(conn: Conn, conversation_id: int, status: str, reason: str) -> None:
    await conn.execute(
        "UPDATE email_acks SET status = $2, reason = $3, status_at = now()"
        " WHERE conversation_id = $1", conversation_id, status, reason)


async def end_ack_from(conn: Conn, conversation_id: int, status: str, reason: str,
                       only_from: list[str]) -> Any:
    """End the ack if it is still in one of ``only_from``; (inbox, message_id) or None."""
    return await conn.fetchrow(
        "UPDATE email_acks SET status = $2, reason = $3, status_at = now()"
        " WHERE conversation_id = $1 AND status = ANY($4::text[])"
        " RETURNING inbox, message_id", conversation_id, status, reason, only_from)


async def upsert_ack_message(conn: Conn, conversation_id: int, inbox: str, author: str,
                             text: str, status: str, error: str) -> Any:
    """The system message showing the ack (one per conversation); its row."""
    return await conn.fetchrow(
        "INSERT INTO messages (conversation_id, channel, channel_account, provider_id,"
        " direction, author_kind, author_name, text, status, status_error)"
        " VALUES ($1, 'email', $2, $3, 'out', 'system', $4, $5, $6, $7)"
        " ON CONFLICT (channel, channel_account, provider_id) DO UPDATE"
        " SET status = EXCLUDED.status, status_error = EXCLUDED.status_error"
        f" RETURNING {_MSG_COLS}",
        conversation_id, inbox, f"email-ack:{conversation_id}", author, text, status, error)


async def link_message_row(conn: Conn, inbox: str, message_id: str, row_id: int) -> None:
    await conn.execute(
        "UPDATE email_message_ids SET message_row = $3 WHERE inbox = $1"
        " AND message_id = $2", inbox, message_id, row_id)


async def requeue_ack(conn: Conn, conversation_id: int, reason: str) -> None:
    await conn.execute(
        "UPDATE email_acks SET status = 'pending', reason = $2, status_at = now()"
        " WHERE conversation_id = $1 AND status = 'sending'", conversation_id, reason)


async def pending_acks(conn: Conn, older_than_s: float) -> list[int]:
    return [r["conversation_id"] for r in await conn.fetch(
        "SELECT conversation_id FROM email_acks WHERE status = 'pending'"
        " AND status_at < now() - make_interval(secs => $1) ORDER BY created_at LIMIT 500",
        older_than_s)]


async def stuck_acks(conn: Conn, older_than_s: float) -> list[asyncpg.Record]:
    """(conversation_id, to_address) of acks left 'sending' by a dead worker."""
    return list(await conn.fetch(
        "SELECT conversation_id, to_address FROM email_acks WHERE status = 'sending'"
        " AND status_at < now() - make_interval(secs => $1) LIMIT 500", older_than_s))
