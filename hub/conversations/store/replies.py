"""SQL of an agent's reply (hub/conversations/actions.py:post_agent_reply): the stored
reply a retry finds, the new message row and the uploads it carries."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import msgspec

from hub.conversations.rules import ReplyRoute
from hub.conversations.store.queries import message_from
from hub.schema import AttachmentRef, Message

_MSG_COLS = ("id, conversation_id, direction, author_kind, author_name, agent_id, text, html,"
             " private, channel, provider_id, status, attachments, created_at, attributes")


async def find_stored_reply(conn: asyncpg.Connection, conversation_id: int, provider_id: str,
                            routes: Sequence[ReplyRoute]) -> Message | None:
    """The reply already stored under ``provider_id`` on any of ``routes`` (a retry)."""
    row = await conn.fetchrow(
        f"SELECT {_MSG_COLS} FROM messages m"
        " JOIN unnest($1::text[], $2::text[]) AS k(ch, acc)"
        "   ON m.channel = k.ch AND m.channel_account = k.acc"
        " WHERE m.provider_id = $3 AND m.conversation_id = $4",
        [r.channel for r in routes], [r.account for r in routes], provider_id,
        conversation_id,
    )
    return None if row is None else message_from(row)


async def insert_agent_reply(conn: asyncpg.Connection, *, conversation_id: int, channel: str,
                             account: str, provider_id: str, agent_id: int, agent_name: str,
                             text: str, private: bool, status: str,
                             attributes_json: str) -> Message:
    row = await conn.fetchrow(
        "INSERT INTO messages (conversation_id, channel, channel_account, provider_id,"
        " direction, author_kind, author_name, agent_id, text, private, status,"
        " attributes)"
        " VALUES ($1, $2, $3, $4, 'out', 'agent', $5, $6, $7, $8, $9, $10::jsonb)"
        f" RETURNING {_MSG_COLS}",
        conversation_id, channel, account, provider_id, agent_name, agent_id, text,
        private, status, attributes_json,
    )
    return message_from(row)


async def set_reply_attachments(conn: asyncpg.Connection, message_id: int,
                                refs: Sequence[AttachmentRef]) -> Message:
    row = await conn.fetchrow(
        f"UPDATE messages SET attachments = $2::jsonb WHERE id = $1"
        f" RETURNING {_MSG_COLS}", message_id, msgspec.json.encode(refs).decode())
    return message_from(row)
