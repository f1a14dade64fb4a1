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
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hub.bots.store import accounts, holds
from hub.channels_table import is_live
from hub.conversations.actions import validate_reply
from hub.conversations.store.queries import message_from
from hub.errors import BadInput, Conflict, Forbidden, NotFound, Unauthorized
from hub.outbox import Publisher, write_outbox
from hub.schema import AnyEvent, Message, MessageCreated, WorkItem, WorkItemUpdated
from hub.unit_of_work import unit_of_work

if TYPE_CHECKING:
    import asyncpg

TOKEN_PREFIX = "ohb_"
MAX_REASON = 500
_QUEUE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


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
        if bot_id is not None and not await accounts.active_bot_exists(conn, bot_id):
            raise BadInput("bot_id: no active bot with that id")
        if not await accounts.set_queue_bot_id(conn, queue, bot_id):
            raise NotFound("no such queue")
        await accounts.write_audit(conn, actor_id, "queue.bot", f"queue:{queue}",
                                   {"bot_id": bot_id})


async def authenticate_bot(pool: asyncpg.Pool | asyncpg.Connection, token: str) -> Bot:
    """The active bot owning this token (its current one, or the previous one inside its
    rotation grace period); Unauthorized otherwise (constant-time compare of the hash
    after the indexed lookup). A disabled bot's valid token gets ``bot_disabled``."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise Unauthorized("invalid bot token")
    digest = hash_bot_token(token)
    row = await accounts.bot_of_token_hash(pool, digest)
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
    conv = await holds.lock_conversation(conn, conversation_id)
    item = None if conv is None else await holds.lock_live_item(conn, conversation_id)
    if item is None or item["status"] != "bot" or item["bot_id"] != bot_id:
        return None
    # A disabled bot writes nothing, even on a socket opened before it was disabled.
    if not await accounts.bot_is_active(conn, bot_id):
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
            conv = await holds.conversation_channel(conn, conversation_id)
            if conv is not None:
                existing = await holds.message_by_provider_id(
                    conn, conv["channel"], conv["inbox"], provider_id)
                if existing is not None:
                    return message_from(existing), False  # a retry of a stored reply
            conv = await _held_item(conn, bot, conversation_id)
            status = "sent" if is_live(conv["channel"]) else "queued"
            row = await holds.insert_bot_reply(conn, conv, provider_id, bot.id, bot.name,
                                               text, status)
            message = message_from(row)
            await holds.touch_last_message(conn, conv["id"], message.created_at)
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
            if not await holds.queue_exists(conn, queue):
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
    conv = await holds.lock_conversation(conn, conversation_id)
    if conv is None:
        return None
    item = await holds.lock_item_held_by(conn, bot_id, conversation_id)
    if item is None:
        return None
    released = await _release(conn, conv, Bot(id=bot_id, name=item["name"]), item["queue"],
                              reason, actor_id=actor_id, cause=cause)
    return None if released is None else released[1]


async def _release(conn: asyncpg.Connection, conv: asyncpg.Record, bot: Bot, queue: str,
                   reason: str, *, actor_id: int | None, cause: str = "bot"
                   ) -> tuple[WorkItem, list[tuple[int, bytes, AnyEvent]]] | None:
    item = await holds.requeue_held_item(conn, conv["id"], bot.id, queue, reason)
    if item is None:
        return None
    note = await holds.insert_handoff_note(
        conn, conv, f"system:{uuid.uuid4()}", bot.id, bot.name,
        f"{bot.name} handed off to {queue}: {reason}")
    work_item = WorkItem(**dict(item))
    events: list[AnyEvent] = [
        MessageCreated(inbox=conv["inbox"], message=message_from(note)),
        WorkItemUpdated(inbox=conv["inbox"], work_item=work_item),
    ]
    await accounts.write_audit(conn, actor_id, "bot.handoff", f"conversation:{conv['id']}",
                               {"bot_id": bot.id, "queue": queue, "reason": reason,
                                "work_item_id": item["id"], "by": cause})
    return work_item, await write_outbox(conn, events)


async def held_conversations(pool: asyncpg.Pool, bot: Bot, limit: int = 200
                             ) -> list[dict[str, Any]]:
    """What the bot holds now, each with its transcript (the socket's hello snapshot)."""
    rows = await holds.held_conversation_rows(pool, bot.id, limit)
    out = []
    for r in rows:
        msgs = await holds.recent_public_messages(pool, r["id"])
        out.append({**dict(r), "messages": [message_from(m) for m in reversed(msgs)]})
    return out
