"""What a bot holds: the conversation and its live work item (locked while a bot
replies or hands off), the bot's reply and hand-off note as messages, the item going
back to a human queue, and the socket's snapshot of held conversations."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from hub.bots.store.deliveries import Conn

MSG_COLS = ("id, conversation_id, direction, author_kind, author_name, agent_id, text, html,"
            " private, channel, provider_id, status, attachments, created_at")
ITEM_COLS = ("id, conversation_id, queue, channel, status, priority, agent_id, created_at,"
             " bot_id")


async def lock_conversation(conn: asyncpg.Connection, conversation_id: int
                            ) -> asyncpg.Record | None:
    """(id, inbox, channel, status) of the conversation, row locked."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT id, inbox, channel, status FROM conversations WHERE id = $1 FOR UPDATE",
        conversation_id)
    return row


async def lock_live_item(conn: asyncpg.Connection, conversation_id: int
                         ) -> asyncpg.Record | None:
    """The conversation's work item that is neither completed nor cancelled, locked."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {ITEM_COLS} FROM work_items WHERE conversation_id = $1"
        " AND status NOT IN ('completed', 'cancelled') FOR UPDATE", conversation_id)
    return row


async def lock_item_held_by(conn: asyncpg.Connection, bot_id: int, conversation_id: int
                            ) -> asyncpg.Record | None:
    """(queue, name: the bot's) of the item this bot holds in the conversation, locked."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT w.queue, b.name FROM work_items w JOIN bots b ON b.id = w.bot_id"
        " WHERE w.conversation_id = $1 AND w.status = 'bot' AND w.bot_id = $2 FOR UPDATE OF w",
        conversation_id, bot_id)
    return row


async def conversation_channel(conn: Conn, conversation_id: int) -> asyncpg.Record | None:
    """(channel, inbox) of the conversation."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT channel, inbox FROM conversations WHERE id = $1", conversation_id)
    return row


async def message_by_provider_id(conn: Conn, channel: str, inbox: str, provider_id: str
                                 ) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {MSG_COLS} FROM messages WHERE channel = $1"
        " AND channel_account = $2 AND provider_id = $3", channel, inbox, provider_id)
    return row


async def insert_bot_reply(conn: asyncpg.Connection, conv: asyncpg.Record, provider_id: str,
                           bot_id: int, bot_name: str, text: str, status: str
                           ) -> asyncpg.Record:
    """The bot's reply as an outgoing message of the conversation ``conv``."""
    row: asyncpg.Record = await conn.fetchrow(
        "INSERT INTO messages (conversation_id, channel, channel_account, provider_id,"
        " direction, author_kind, author_name, bot_id, text, status)"
        " VALUES ($1, $2, $3, $4, 'out', 'bot', $5, $6, $7, $8)"
        f" RETURNING {MSG_COLS}",
        conv["id"], conv["channel"], conv["inbox"], provider_id, bot_name, bot_id,
        text, status)
    return row


async def touch_last_message(conn: asyncpg.Connection, conversation_id: int,
                             at: datetime) -> None:
    await conn.execute("UPDATE conversations SET last_message_at = $2 WHERE id = $1",
                       conversation_id, at)


async def queue_exists(conn: Conn, slug: str) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM queues WHERE slug = $1)",
                                    slug))


async def requeue_held_item(conn: asyncpg.Connection, conversation_id: int, bot_id: int,
                            queue: str, reason: str) -> asyncpg.Record | None:
    """The item the bot holds goes back to 'queued' in ``queue``, with the hand-off
    reason in its attributes; None when the bot no longer holds it."""
    # routed_at set: the router keeps the queue we name instead of re-filtering.
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE work_items SET status = 'queued', queue = $2, agent_id = NULL,"
        " routed_at = coalesce(routed_at, now()), enqueued_at = now(),"
        " attributes = attributes || jsonb_build_object('handoff_reason', $3::text,"
        "   'handoff_bot', $4::bigint), updated_at = now()"
        " WHERE conversation_id = $1 AND status = 'bot' AND bot_id = $4"
        f" RETURNING {ITEM_COLS}", conversation_id, queue, reason, bot_id)
    return row


async def insert_handoff_note(conn: asyncpg.Connection, conv: asyncpg.Record,
                              provider_id: str, bot_id: int, bot_name: str, text: str
                              ) -> asyncpg.Record:
    """The private system note agents see on a hand-off."""
    row: asyncpg.Record = await conn.fetchrow(
        "INSERT INTO messages (conversation_id, channel, channel_account, provider_id,"
        " direction, author_kind, author_name, bot_id, text, private, status)"
        " VALUES ($1, $2, $3, $4, 'out', 'system', $5, $6, $7, true, 'sent')"
        f" RETURNING {MSG_COLS}",
        conv["id"], conv["channel"], conv["inbox"], provider_id, bot_name, bot_id, text)
    return row


async def held_conversation_ids(conn: Conn, bot_id: int) -> list[int]:
    """The conversations whose work item the bot holds, by item id."""
    rows = await conn.fetch("SELECT conversation_id FROM work_items WHERE status = 'bot'"
                            " AND bot_id = $1 ORDER BY id", bot_id)
    return [r["conversation_id"] for r in rows]


async def held_conversation_rows(conn: Conn, bot_id: int, limit: int
                                 ) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT c.id, c.inbox, c.channel, c.contact_id, ct.name AS contact_name,"
        " w.id AS work_item_id, w.queue FROM work_items w"
        " JOIN conversations c ON c.id = w.conversation_id"
        " JOIN contacts ct ON ct.id = c.contact_id"
        " WHERE w.status = 'bot' AND w.bot_id = $1 ORDER BY c.id LIMIT $2", bot_id, limit)
    return rows


async def recent_public_messages(conn: Conn, conversation_id: int) -> list[asyncpg.Record]:
    """The conversation's last 50 non-private messages, newest first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {MSG_COLS} FROM messages WHERE conversation_id = $1 AND NOT private"
        " ORDER BY id DESC LIMIT 50", conversation_id)
    return rows
