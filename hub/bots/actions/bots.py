"""Bots (docs/bots.md): accounts, what a bot holds, its replies and its hand-offs.

A work item with status 'bot' is held by ``work_items.bot_id`` and is not routed. The
bot may reply in that conversation (a message authored by the bot, delivered on the
conversation's channel like an agent reply) and hand it off to a human queue: the item
goes back to 'queued' in that queue, the router routes it, and agents see the transcript
plus a system note with the reason. Each action is one transaction; events go through
the outbox and are published after commit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from hub.channels_table import is_live
from hub.conversations.actions import validate_reply
from hub.conversations.store.queries import message_from
from hub.errors import BadInput, Conflict, Forbidden, NotFound, Unauthorized
from hub.outbox import Publisher, write_outbox
from hub.schema import AnyEvent, Message, MessageCreated, WorkItem, WorkItemUpdated
from hub.unit_of_work import unit_of_work

TOKEN_PREFIX = "ohb_"
MAX_REASON = 500
_QUEUE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_MSG_COLS = ("id, conversation_id, direction, author_kind, author_name, agent_id, text, html,"
             " private, channel, provider_id, status, attachments, created_at")
_ITEM_COLS = ("id, conversation_id, queue, channel, status, priority, agent_id, created_at,"
              " bot_id")


@dataclass(frozen=True, slots=True)
class Bot:
    id: int
    name: str


def hash_bot_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_bot_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


async def set_queue_bot(pool: asyncpg.Pool, actor_id: int, queue: str,
                        bot_id: int | None) -> None:
    async with pool.acquire() as conn, conn.transaction():
        if bot_id is not None and not await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM bots WHERE id = $1 AND active)", bot_id):
            raise BadInput("bot_id: no active bot with that id")
        done = await conn.fetchval("UPDATE queues SET bot_id = $2 WHERE slug = $1 RETURNING 1",
                                   queue, bot_id)
        if done is None:
            raise NotFound("no such queue")
        await conn.execute(
            "INSERT INTO audit_log (actor_id, action, subject, details)"
            " VALUES ($1, 'queue.bot', $2, $3)", actor_id, f"queue:{queue}",
            json.dumps({"bot_id": bot_id}))


async def authenticate_bot(pool: asyncpg.Pool | asyncpg.Connection, token: str) -> Bot:
    """The active bot owning this token (its current one, or the previous one inside its
    rotation grace period); Unauthorized otherwise (constant-time compare of the hash
    after the indexed lookup). A disabled bot's valid token gets ``bot_disabled``."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise Unauthorized("invalid bot token")
    digest = hash_bot_token(token)
    row = await pool.fetchrow(
        "SELECT id, name, active, CASE WHEN token_hash = $1 THEN token_hash"
        " ELSE prev_token_hash END AS matched FROM bots WHERE token_hash = $1"
        " OR (prev_token_hash = $1 AND prev_token_until > now())", digest)
    if row is None or not hmac.compare_digest(row["matched"], digest):
        raise Unauthorized("invalid bot token")
    if not row["active"]:
        raise Unauthorized("bot disabled", code="bot_disabled")
    return Bot(id=row["id"], name=row["name"])


async def _held_item(conn: asyncpg.Connection, bot: Bot, conversation_id: int
                     ) -> asyncpg.Record:
    """Lock the conversation and return it, if this (active) bot holds its live item."""
    conv = await _lock_held(conn, bot.id, conversation_id)
    if conv is None:
        # One answer for "no such conversation" and "not yours": reveal nothing.
        raise Forbidden("this conversation is not held by this bot", code="not_held")
    return conv


async def _lock_held(conn: asyncpg.Connection, bot_id: int, conversation_id: int
                     ) -> asyncpg.Record | None:
    conv = await conn.fetchrow(
        "SELECT id, inbox, channel, status FROM conversations WHERE id = $1 FOR UPDATE",
        conversation_id)
    item = None if conv is None else await conn.fetchrow(
        f"SELECT {_ITEM_COLS} FROM work_items WHERE conversation_id = $1"
        " AND status NOT IN ('completed', 'cancelled') FOR UPDATE", conversation_id)
    if item is None or item["status"] != "bot" or item["bot_id"] != bot_id:
        return None
    # A disabled bot writes nothing, even on a socket opened before it was disabled.
    if not await conn.fetchval("SELECT active FROM bots WHERE id = $1", bot_id):
        return None
    return conv


async def post_bot_reply(pool: asyncpg.Pool, publisher: Publisher, bot: Bot,
                         conversation_id: int, *, text: str, client_id: str
                         ) -> tuple[Message, bool]:
    """Store a bot reply (idempotent on client_id). Returns (message, created)."""
    text, client_id = validate_reply(text, client_id)
    provider_id = f"bot:{bot.id}:{client_id}"
    async with unit_of_work(pool, publisher) as uow:
        async with uow.transaction() as conn:
            conv = await conn.fetchrow(
                "SELECT channel, inbox FROM conversations WHERE id = $1", conversation_id)
            if conv is not None:
                existing = await conn.fetchrow(
                    f"SELECT {_MSG_COLS} FROM messages WHERE channel = $1"
                    " AND channel_account = $2 AND provider_id = $3",
                    conv["channel"], conv["inbox"], provider_id)
                if existing is not None:
                    return message_from(existing), False  # a retry of a stored reply
            conv = await _held_item(conn, bot, conversation_id)
            status = "sent" if is_live(conv["channel"]) else "queued"
            row = await conn.fetchrow(
                "INSERT INTO messages (conversation_id, channel, channel_account, provider_id,"
                " direction, author_kind, author_name, bot_id, text, status)"
                " VALUES ($1, $2, $3, $4, 'out', 'bot', $5, $6, $7, $8)"
                f" RETURNING {_MSG_COLS}",
                conv["id"], conv["channel"], conv["inbox"], provider_id, bot.name, bot.id,
                text, status)
            message = message_from(row)
            await conn.execute("UPDATE conversations SET last_message_at = $2 WHERE id = $1",
                               conv["id"], message.created_at)
            await uow.emit([MessageCreated(inbox=conv["inbox"],
                                                            message=message)])
    return message, True


async def hand_off(pool: asyncpg.Pool, publisher: Publisher, bot: Bot, conversation_id: int,
                   *, queue: str, reason: str) -> WorkItem:
    """Give the conversation to humans: the work item goes back to 'queued' in ``queue``
    (the router routes it from there) with a visible note carrying the reason."""
    reason = reason.strip()
    if not _QUEUE.match(queue):
        raise BadInput("queue: a queue slug")
    if not 1 <= len(reason) <= MAX_REASON:
        raise BadInput(f"reason: 1-{MAX_REASON} characters")
    async with unit_of_work(pool, publisher) as uow:
        async with uow.transaction() as conn:
            conv = await _held_item(conn, bot, conversation_id)
            if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM queues WHERE slug = $1)",
                                       queue):
                raise BadInput(f"queue: no queue {queue!r}")
            released = await _release(conn, conv, bot, queue, reason, actor_id=None)
            if released is None:
                raise Conflict("the work item changed; not handed off")
            work_item, rows = released
            uow.adopt(rows)
    return work_item


async def release_held(conn: asyncpg.Connection, bot_id: int, conversation_id: int, *,
                       reason: str, actor_id: int | None, cause: str
                       ) -> list[tuple[int, bytes, AnyEvent]] | None:
    """The hub takes a conversation from a bot (disabled, unresponsive, unreachable) and
    gives it to the humans of the item's own queue, inside the caller's transaction.
    None when the bot no longer holds it (a second sweeper, a concurrent hand-off):
    running it twice hands off once. Returns the outbox rows to publish after commit."""
    conv = await conn.fetchrow(
        "SELECT id, inbox, channel, status FROM conversations WHERE id = $1 FOR UPDATE",
        conversation_id)
    if conv is None:
        return None
    item = await conn.fetchrow(
        "SELECT w.queue, b.name FROM work_items w JOIN bots b ON b.id = w.bot_id"
        " WHERE w.conversation_id = $1 AND w.status = 'bot' AND w.bot_id = $2 FOR UPDATE OF w",
        conversation_id, bot_id)
    if item is None:
        return None
    released = await _release(conn, conv, Bot(id=bot_id, name=item["name"]), item["queue"],
                              reason, actor_id=actor_id, cause=cause)
    return None if released is None else released[1]


async def _release(conn: asyncpg.Connection, conv: asyncpg.Record, bot: Bot, queue: str,
                   reason: str, *, actor_id: int | None, cause: str = "bot"
                   ) -> tuple[WorkItem, list[tuple[int, bytes, AnyEvent]]] | None:
    # routed_at set: the router keeps the queue we name instead of re-filtering.
    item = await conn.fetchrow(
        "UPDATE work_items SET status = 'queued', queue = $2, agent_id = NULL,"
        " routed_at = coalesce(routed_at, now()), enqueued_at = now(),"
        " attributes = attributes || jsonb_build_object('handoff_reason', $3::text,"
        "   'handoff_bot', $4::bigint), updated_at = now()"
        " WHERE conversation_id = $1 AND status = 'bot' AND bot_id = $4"
        f" RETURNING {_ITEM_COLS}", conv["id"], queue, reason, bot.id)
    if item is None:
        return None
    note = await conn.fetchrow(
        "INSERT INTO messages (conversation_id, channel, channel_account, provider_id,"
        " direction, author_kind, author_name, bot_id, text, private, status)"
        " VALUES ($1, $2, $3, $4, 'out', 'system', $5, $6, $7, true, 'sent')"
        f" RETURNING {_MSG_COLS}",
        conv["id"], conv["channel"], conv["inbox"], f"system:{uuid.uuid4()}",
        bot.name, bot.id, f"{bot.name} handed off to {queue}: {reason}")
    work_item = WorkItem(**dict(item))
    events: list[AnyEvent] = [
        MessageCreated(inbox=conv["inbox"], message=message_from(note)),
        WorkItemUpdated(inbox=conv["inbox"], work_item=work_item),
    ]
    await conn.execute(
        "INSERT INTO audit_log (actor_id, action, subject, details)"
        " VALUES ($1, 'bot.handoff', $2, $3)", actor_id, f"conversation:{conv['id']}",
        json.dumps({"bot_id": bot.id, "queue": queue, "reason": reason,
                    "work_item_id": item["id"], "by": cause}))
    return work_item, await write_outbox(conn, events)


async def held_conversations(pool: asyncpg.Pool, bot: Bot, limit: int = 200
                             ) -> list[dict[str, Any]]:
    """What the bot holds now, each with its transcript (the socket's hello snapshot)."""
    rows = await pool.fetch(
        "SELECT c.id, c.inbox, c.channel, c.contact_id, ct.name AS contact_name,"
        " w.id AS work_item_id, w.queue FROM work_items w"
        " JOIN conversations c ON c.id = w.conversation_id"
        " JOIN contacts ct ON ct.id = c.contact_id"
        " WHERE w.status = 'bot' AND w.bot_id = $1 ORDER BY c.id LIMIT $2", bot.id, limit)
    out = []
    for r in rows:
        msgs = await pool.fetch(
            f"SELECT {_MSG_COLS} FROM messages WHERE conversation_id = $1 AND NOT private"
            " ORDER BY id DESC LIMIT 50", r["id"])
        out.append({**dict(r), "messages": [message_from(m) for m in reversed(msgs)]})
    return out
