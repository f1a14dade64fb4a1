"""Message blobs and attachment states the media routes read and mark, and the agent
upload rows (claimed into a reply by hub/messaging/store.py:claim_uploads). One
statement each."""

from __future__ import annotations

import uuid
from typing import TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection


async def message_blobs(conn: Conn, message_id: int) -> asyncpg.Record | None:
    """A message's raw MIME ref, attachment list and conversation inbox."""
    return await conn.fetchrow(
        "SELECT m.raw_ref, m.attachments, c.inbox FROM messages m"
        " JOIN conversations c ON c.id = m.conversation_id WHERE m.id = $1", message_id)


async def mark_attachment_state(conn: Conn, message_id: int, index: int, value: str) -> None:
    await conn.execute(
        "UPDATE messages SET attachments = jsonb_set(attachments,"
        " ARRAY[$2::text, 'state'], to_jsonb($3::text))"
        " WHERE id = $1 AND jsonb_array_length(attachments) > $2", message_id, index, value)


async def message_channel_account(conn: Conn, message_id: int) -> str | None:
    value: str | None = await conn.fetchval(
        "SELECT channel_account FROM messages WHERE id = $1", message_id)
    return value


async def insert_upload(conn: Conn, upload_id: uuid.UUID, agent_id: int,
                        conversation_id: int, ref: str, filename: str, content_type: str,
                        size: int) -> None:
    await conn.execute(
        "INSERT INTO uploads (id, agent_id, conversation_id, ref, filename, content_type, size)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)", upload_id, agent_id, conversation_id, ref,
        filename, content_type, size)
