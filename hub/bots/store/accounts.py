"""The ``bots`` rows: creating a bot, changing its settings, rotating its token and
signing secret, finding the bot of a token; the queue a bot serves; and the
``audit_log`` rows of these changes (written exactly as the actions describe them)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from hub.bots.store.deliveries import Conn

BOT_COLS = ("id, name, active, webhook_url, handoff_after_s, created_at, updated_at,"
            " prev_token_until, prev_webhook_secret_until")
# The settings an admin may change, in the order their SET clauses are written.
SETTINGS = ("name", "webhook_url", "handoff_after_s")


async def write_audit(conn: Conn, actor_id: int | None, action: str, subject: str,
                      details: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor_id, action, subject, details) VALUES ($1, $2, $3, $4)",
        actor_id, action, subject, json.dumps(details))


async def insert_bot(conn: Conn, *, name: str, token_hash: str, created_by: int,
                     webhook_url: str | None, webhook_secret: str, handoff_after_s: int
                     ) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        "INSERT INTO bots (name, token_hash, created_by, webhook_url, webhook_secret,"
        f" handoff_after_s) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {BOT_COLS}",
        name, token_hash, created_by, webhook_url, webhook_secret, handoff_after_s)
    return row


async def update_bot_settings(conn: Conn, bot_id: int, changes: dict[str, Any]
                              ) -> asyncpg.Record | None:
    """Set the ``SETTINGS`` keys present in ``changes`` (at least one); None: no bot."""
    sets, args = [], [bot_id]
    for column in SETTINGS:
        if column in changes:
            args.append(changes[column])
            sets.append(f"{column} = ${len(args)}")
    row: asyncpg.Record | None = await conn.fetchrow(
        f"UPDATE bots SET {', '.join(sets)}, updated_at = now() WHERE id = $1"
        f" RETURNING {BOT_COLS}", *args)
    return row


async def lock_bot_active(conn: Conn, bot_id: int) -> bool | None:
    """Whether the bot is active, locking its row; None: no such bot."""
    value: bool | None = await conn.fetchval(
        "SELECT active FROM bots WHERE id = $1 FOR UPDATE", bot_id)
    return value


async def set_bot_active(conn: Conn, bot_id: int, active: bool) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        f"UPDATE bots SET active = $2, updated_at = now() WHERE id = $1"
        f" RETURNING {BOT_COLS}", bot_id, active)
    return row


async def rotate_token_hash(conn: Conn, bot_id: int, token_hash: str, grace_s: int
                            ) -> asyncpg.Record | None:
    """The new token's hash; the old one stays valid ``grace_s`` seconds (0: none)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE bots SET prev_token_hash = CASE WHEN $3 > 0 THEN token_hash END,"
        " prev_token_until = CASE WHEN $3 > 0 THEN now() + make_interval(secs => $3)"
        " END, token_hash = $2, updated_at = now() WHERE id = $1"
        f" RETURNING {BOT_COLS}", bot_id, token_hash, grace_s)
    return row


async def rotate_signing_secret(conn: Conn, bot_id: int, secret: str, grace_s: int
                                ) -> asyncpg.Record | None:
    """The new webhook secret; the old one still signs for ``grace_s`` seconds."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE bots SET prev_webhook_secret = CASE WHEN $3 > 0 THEN webhook_secret"
        " END, prev_webhook_secret_until = CASE WHEN $3 > 0 THEN"
        " now() + make_interval(secs => $3) END, webhook_secret = $2,"
        f" updated_at = now() WHERE id = $1 RETURNING {BOT_COLS}",
        bot_id, secret, grace_s)
    return row


async def bots_with_queues(conn: Conn) -> list[asyncpg.Record]:
    """Every bot (``BOT_COLS``) with the slugs of the queues it serves, by id."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {', '.join('b.' + c.strip() for c in BOT_COLS.split(','))},"
        " coalesce(array_agg(q.slug ORDER BY q.slug) FILTER (WHERE q.slug IS NOT NULL), '{}')"
        " AS queues FROM bots b LEFT JOIN queues q ON q.bot_id = b.id"
        " GROUP BY b.id ORDER BY b.id")
    return rows


async def bot_exists(conn: Conn, bot_id: int) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM bots WHERE id = $1)",
                                    bot_id))


async def active_bot_exists(conn: Conn, bot_id: int) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM bots WHERE id = $1 AND active)", bot_id))


async def bot_is_active(conn: Conn, bot_id: int) -> bool:
    return bool(await conn.fetchval("SELECT active FROM bots WHERE id = $1", bot_id))


async def set_queue_bot_id(conn: Conn, queue: str, bot_id: int | None) -> bool:
    """Give the queue to the bot (None: to humans only); False when no such queue."""
    done = await conn.fetchval("UPDATE queues SET bot_id = $2 WHERE slug = $1 RETURNING 1",
                               queue, bot_id)
    return done is not None


async def bot_of_token_hash(conn: Conn, digest: str) -> asyncpg.Record | None:
    """(id, name, active, matched) of the bot whose current token, or previous one
    inside its grace period, has this hash; ``matched`` is the hash that matched."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT id, name, active, CASE WHEN token_hash = $1 THEN token_hash"
        " ELSE prev_token_hash END AS matched FROM bots WHERE token_hash = $1"
        " OR (prev_token_hash = $1 AND prev_token_until > now())", digest)
    return row
