"""Bot administration (docs/bots.md): webhook settings, disable/enable, token and
signing-secret rotation. Every change is one transaction with its audit row and a
``bot.changed`` event (through the outbox) that makes the bot's live sockets re-check
their token; disabling then hands the bot's held conversations to humans."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from hub.bots.actions.bots import hash_bot_token, new_bot_token, release_held
from hub.bots.store import accounts, deliveries, holds
from hub.errors import BadInput, NotFound
from hub.outbox import Publisher
from hub.schema import BotChanged
from hub.unit_of_work import UnitOfWork, unit_of_work

if TYPE_CHECKING:
    import asyncpg

SECRET_PREFIX = "ohs_"
MAX_GRACE_S = 3600
MAX_HANDOFF_AFTER_S = 86400
DISABLED_REASON = "bot disabled"


def new_webhook_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def validate_webhook_url(url: str | None) -> str | None:
    """An absolute http(s) URL with a host, or None (no webhook)."""
    if url is None or url == "":
        return None
    if len(url) > 2000 or any(c.isspace() or ord(c) < 32 for c in url):
        raise BadInput("webhook_url: at most 2000 characters, no spaces")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise BadInput("webhook_url: not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput("webhook_url: an http:// or https:// URL with a host")
    return url


def validate_grace(grace_s: int) -> int:
    if not 0 <= grace_s <= MAX_GRACE_S:
        raise BadInput(f"grace_s: 0-{MAX_GRACE_S} seconds")
    return grace_s


def validate_handoff_after(value: int) -> int:
    if not 0 <= value <= MAX_HANDOFF_AFTER_S:
        raise BadInput(f"handoff_after_s: 0 (never) to {MAX_HANDOFF_AFTER_S} seconds")
    return value


def bot_view(row: asyncpg.Record) -> dict[str, Any]:
    """What admins see of a bot: never its token hash or signing secret."""
    return {k: row[k] for k in ("id", "name", "active", "webhook_url", "handoff_after_s",
                                "created_at", "updated_at", "prev_token_until",
                                "prev_webhook_secret_until")}


async def _audit(conn: asyncpg.Connection, actor_id: int, action: str, bot_id: int,
                 details: dict[str, Any]) -> None:
    await accounts.write_audit(conn, actor_id, action, f"bot:{bot_id}", details)


async def _changed(uow: UnitOfWork, row: asyncpg.Record, change: str, actor_id: int,
                   recheck_at: datetime | None = None) -> None:
    await uow.emit([BotChanged(
        bot_id=row["id"], active=row["active"], change=change,  # type: ignore[arg-type]
        recheck_at=recheck_at, by_agent_id=actor_id)])


async def create_bot(pool: asyncpg.Pool, actor_id: int, name: str, *,
                     webhook_url: str | None = None, handoff_after_s: int = 120
                     ) -> tuple[dict[str, Any], str, str]:
    """A new bot, its token and its webhook signing secret (both shown once; only the
    token's hash is stored)."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise BadInput("name: 1-100 characters")
    webhook_url = validate_webhook_url(webhook_url)
    validate_handoff_after(handoff_after_s)
    token, secret = new_bot_token(), new_webhook_secret()
    async with pool.acquire() as conn, conn.transaction():
        row = await accounts.insert_bot(
            conn, name=name, token_hash=hash_bot_token(token), created_by=actor_id,
            webhook_url=webhook_url, webhook_secret=secret, handoff_after_s=handoff_after_s)
        await _audit(conn, actor_id, "bot.create", row["id"],
                     {"name": name, "webhook_url": webhook_url,
                      "handoff_after_s": handoff_after_s})
    return bot_view(row), token, secret


async def update_bot(pool: asyncpg.Pool, publisher: Publisher, actor_id: int, bot_id: int,
                     changes: dict[str, Any]) -> dict[str, Any]:
    """Change name / webhook_url / handoff_after_s (only the keys given)."""
    if "name" in changes:
        name = str(changes["name"]).strip()
        if not 1 <= len(name) <= 100:
            raise BadInput("name: 1-100 characters")
        changes["name"] = name
    if "webhook_url" in changes:
        changes["webhook_url"] = validate_webhook_url(changes["webhook_url"])
    if "handoff_after_s" in changes:
        validate_handoff_after(changes["handoff_after_s"])
    if not any(column in changes for column in accounts.SETTINGS):
        raise BadInput("nothing to change: give name, webhook_url or handoff_after_s")
    async with unit_of_work(pool, publisher) as uow:
        async with uow.transaction() as conn:
            row = await accounts.update_bot_settings(conn, bot_id, changes)
            if row is None:
                raise NotFound("no such bot")
            await _audit(conn, actor_id, "bot.update", bot_id, changes)
            await _changed(uow, row, "updated", actor_id)
    return bot_view(row)


async def set_active(pool: asyncpg.Pool, publisher: Publisher, actor_id: int, bot_id: int,
                     active: bool) -> tuple[dict[str, Any], int]:
    """Disable (or enable) a bot. Disabling cancels its pending webhook deliveries, closes
    its sockets (``bot.changed``) and hands every conversation it holds to the humans of
    the item's queue with the reason "bot disabled". Returns (bot, items handed off).
    Enabling affects new items only. Repeating either is harmless (and a repeated
    disable hands off anything a racing pipeline batch gave the bot meanwhile)."""
    async with unit_of_work(pool, publisher) as uow:
        async with uow.transaction() as conn:
            before = await accounts.lock_bot_active(conn, bot_id)
            if before is None:
                raise NotFound("no such bot")
            row = await accounts.set_bot_active(conn, bot_id, active)
            if before != active:
                await _audit(conn, actor_id, "bot.enable" if active else "bot.disable",
                             bot_id, {})
                await _changed(uow, row, "enabled" if active else "disabled",
                                      actor_id)
            if not active:
                await deliveries.cancel_pending_deliveries(conn, bot_id, DISABLED_REASON)
    handed = 0 if active else await hand_off_all(pool, publisher, bot_id, DISABLED_REASON,
                                                 actor_id=actor_id, cause="disabled")
    return bot_view(row), handed


async def hand_off_all(pool: asyncpg.Pool, publisher: Publisher, bot_id: int, reason: str,
                       *, actor_id: int | None, cause: str) -> int:
    """Hand every conversation the bot holds to humans, one transaction each."""
    conversation_ids = await holds.held_conversation_ids(pool, bot_id)
    handed = 0
    for conversation_id in conversation_ids:
        async with unit_of_work(pool, publisher) as uow:
            async with uow.transaction() as conn:
                rows = await release_held(conn, bot_id, conversation_id, reason=reason,
                                          actor_id=actor_id, cause=cause)
                if rows is not None:
                    uow.adopt(rows)
        if rows is not None:
            handed += 1
    return handed


async def rotate_token(pool: asyncpg.Pool, publisher: Publisher, actor_id: int, bot_id: int,
                       grace_s: int) -> tuple[str, datetime | None]:
    """A new token (shown once). The old one works ``grace_s`` more seconds (0: none);
    a token from an earlier rotation stops at once. Returns (token, old valid until)."""
    validate_grace(grace_s)
    token = new_bot_token()
    async with unit_of_work(pool, publisher) as uow:
        async with uow.transaction() as conn:
            row = await accounts.rotate_token_hash(conn, bot_id, hash_bot_token(token),
                                                   grace_s)
            if row is None:
                raise NotFound("no such bot")
            until = row["prev_token_until"]
            await _audit(conn, actor_id, "bot.token_rotate", bot_id, {"grace_s": grace_s})
            await _changed(uow, row, "token_rotated", actor_id, until)
    return token, until


async def rotate_webhook_secret(pool: asyncpg.Pool, publisher: Publisher, actor_id: int,
                                bot_id: int, grace_s: int) -> tuple[str, datetime | None]:
    """A new signing secret (shown once). For ``grace_s`` seconds every POST carries a
    signature with the old secret as well, so the bot can switch without losing one."""
    validate_grace(grace_s)
    secret = new_webhook_secret()
    async with unit_of_work(pool, publisher) as uow:
        async with uow.transaction() as conn:
            row = await accounts.rotate_signing_secret(conn, bot_id, secret, grace_s)
            if row is None:
                raise NotFound("no such bot")
            await _audit(conn, actor_id, "bot.secret_rotate", bot_id, {"grace_s": grace_s})
            await _changed(uow, row, "secret_rotated", actor_id)
    return secret, row["prev_webhook_secret_until"]


async def list_bots(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await accounts.bots_with_queues(pool)
    return [{**bot_view(r), "queues": list(r["queues"])} for r in rows]


DELIVERY_STATUSES = ("pending", "sending", "delivered", "failed", "cancelled")


async def list_deliveries(pool: asyncpg.Pool, bot_id: int, *, status: str | None,
                          conversation_id: int | None, limit: int) -> list[dict[str, Any]]:
    if not await accounts.bot_exists(pool, bot_id):
        raise NotFound("no such bot")
    rows = await deliveries.deliveries_of(pool, bot_id, status=status,
                                          conversation_id=conversation_id, limit=limit)
    return [{**dict(r), "delivery_id": str(r["delivery_id"])} for r in rows]
