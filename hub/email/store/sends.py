"""The reads and writes of the email reply sender (workers/email_send.py): the inbox's
sending address, the recipient, stored reply recipients and attachments, the thread's
Message-IDs. The worker keeps its rules (who to copy, which parent to thread under)."""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool


async def inbox_sender(conn: Conn, inbox: str) -> Any:
    """(email_address, email_display_name) of an inbox, or None."""
    return await conn.fetchrow(
        "SELECT email_address, email_display_name FROM inboxes WHERE slug = $1", inbox)


async def conversation_recipient(conn: Conn, conversation_id: int) -> Any:
    """(contact_identity, subject, email, name) of a conversation and its contact."""
    return await conn.fetchrow(
        "SELECT c.contact_identity, c.subject, ct.email, ct.name FROM conversations c"
        " JOIN contacts ct ON ct.id = c.contact_id WHERE c.id = $1", conversation_id)


async def latest_inbound_mail_attributes(conn: Conn, conversation_id: int) -> str | None:
    value: str | None = await conn.fetchval(
        "SELECT attributes::text FROM messages WHERE conversation_id = $1 AND direction = 'in'"
        " AND channel = 'email' ORDER BY id DESC LIMIT 1", conversation_id)
    return value


async def our_mail_addresses(conn: Conn) -> list[str]:
    return [r[0] for r in await conn.fetch(
        "SELECT email_address FROM inboxes WHERE email_address <> ''")]


async def stored_recipients(conn: Conn, message_row: int) -> Any:
    """(to_, cc) kept on a reply by an earlier attempt, or None."""
    return await conn.fetchrow(
        "SELECT attributes->>'email.to' AS to_, attributes->>'email.cc' AS cc"
        " FROM messages WHERE id = $1", message_row)


async def keep_recipients(conn: Conn, message_row: int, attributes_json: str) -> None:
    await conn.execute(
        "UPDATE messages SET attributes = attributes || $2::jsonb WHERE id = $1",
        message_row, attributes_json)


async def message_attachments(conn: Conn, message_row: int) -> Any:
    """The raw attachments JSON of a message (None if none)."""
    return await conn.fetchval("SELECT attachments FROM messages WHERE id = $1", message_row)


async def thread_message_ids(conn: Conn, conversation_id: int, exclude: str
                             ) -> list[asyncpg.Record]:
    """(message_id, direction) of the conversation's mails, oldest first."""
    return list(await conn.fetch(
        "SELECT message_id, direction FROM email_message_ids WHERE conversation_id = $1"
        " AND message_id <> $2 ORDER BY created_at, message_row NULLS FIRST", conversation_id,
        exclude))


async def outbound_message_id(conn: Conn, message_row: int) -> str | None:
    value = await conn.fetchval(
        "SELECT message_id FROM email_message_ids WHERE message_row = $1 AND direction = 'out'",
        message_row)
    return str(value) if value else None


async def store_outbound_message_id(conn: Conn, *, inbox: str, message_id: str,
                                    conversation_id: int, message_row: int) -> None:
    await conn.execute(
        "INSERT INTO email_message_ids (inbox, message_id, conversation_id, message_row,"
        " direction) VALUES ($1, $2, $3, $4, 'out')",
        inbox, message_id, conversation_id, message_row)
