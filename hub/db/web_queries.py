"""The reads and writes the web edge used to write inline (issue 12: no SQL in web/):
inbox lookups for the HTTP caches, the widget's lookups, message blobs and attachment
states, agent uploads, CTI endpoints and callback dial targets, the health probe. Each
is one statement; the caller keeps its caching and its checks."""

from __future__ import annotations

import uuid
from typing import Any, TypeAlias

import asyncpg

Pool: TypeAlias = asyncpg.Pool | asyncpg.Connection
# What a failed round trip raises, for callers outside hub/store that retry or log it.
DB_ERRORS: tuple[type[Exception], ...] = (asyncpg.PostgresError, asyncpg.InterfaceError)


async def ping(pool: Pool) -> None:
    """The health probe's round trip to Postgres."""
    await pool.fetchval("SELECT 1")


# ---- inboxes, queues, identities -------------------------------------------------------

async def inbox_row(pool: Pool, slug: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT slug, name, channel, greeting, allowed_origins, api_token_hash,"
        " identity_secret FROM inboxes WHERE slug = $1", slug)


async def inbox_default_queue(pool: Pool, inbox: str) -> str | None:
    value: str | None = await pool.fetchval(
        "SELECT default_queue FROM inboxes WHERE slug = $1", inbox)
    return value


async def queue_slugs(pool: Pool) -> list[str]:
    return [r[0] for r in await pool.fetch("SELECT slug FROM queues ORDER BY slug")]


async def identity_exists(pool: Pool, kind: str, value: str) -> bool:
    return bool(await pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM identities WHERE kind = $1 AND value = $2)",
        kind, value))


async def open_conversation_of(pool: Pool, inbox: str, kind: str, value: str) -> int:
    """The identity's unresolved conversation in the inbox, or 0."""
    cid = await pool.fetchval(
        "SELECT c.id FROM conversations c JOIN identities i ON i.contact_id = c.contact_id"
        " WHERE i.kind = $1 AND i.value = $2 AND c.inbox = $3 AND c.status <> 'resolved'",
        kind, value, inbox,
    )
    return int(cid or 0)


# ---- messages, attachments, uploads ----------------------------------------------------

async def message_blobs(pool: Pool, message_id: int) -> asyncpg.Record | None:
    """A message's raw MIME ref, attachment list and conversation inbox."""
    return await pool.fetchrow(
        "SELECT m.raw_ref, m.attachments, c.inbox FROM messages m"
        " JOIN conversations c ON c.id = m.conversation_id WHERE m.id = $1", message_id)


async def mark_attachment_state(pool: Pool, message_id: int, index: int, value: str) -> None:
    await pool.execute(
        "UPDATE messages SET attachments = jsonb_set(attachments,"
        " ARRAY[$2::text, 'state'], to_jsonb($3::text))"
        " WHERE id = $1 AND jsonb_array_length(attachments) > $2", message_id, index, value)


async def message_channel_account(pool: Pool, message_id: int) -> str | None:
    value: str | None = await pool.fetchval(
        "SELECT channel_account FROM messages WHERE id = $1", message_id)
    return value


async def insert_upload(pool: Pool, upload_id: uuid.UUID, agent_id: int,
                        conversation_id: int, ref: str, filename: str, content_type: str,
                        size: int) -> None:
    await pool.execute(
        "INSERT INTO uploads (id, agent_id, conversation_id, ref, filename, content_type, size)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)", upload_id, agent_id, conversation_id, ref,
        filename, content_type, size)


# ---- voice edge ------------------------------------------------------------------------

async def cti_endpoint_by_hash(pool: Pool, token_hash: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT id, inbox, token_hash, region, blocked_callers, caller_id_rules,"
        " default_caller_id FROM cti_endpoints WHERE token_hash = $1", token_hash)


async def callback_dial_target(pool: Pool, callback_id: int, inbox: str
                               ) -> asyncpg.Record | None:
    """A callback's customer phone and its agent's first extension (Twilio's TwiML)."""
    return await pool.fetchrow(
        "SELECT cb.phone, (SELECT extension FROM agent_extensions e"
        "  WHERE e.agent_id = cb.agent_id ORDER BY extension LIMIT 1) AS extension"
        " FROM callbacks cb WHERE cb.id = $1 AND cb.inbox = $2", callback_id, inbox)


# ---- messaging provider accounts -------------------------------------------------------

ACCOUNT_COLS = ("a.inbox, i.channel, a.provider, a.external_id, a.account_sid, a.auth_token,"
                " a.access_token, a.app_secret, a.verify_token, a.secret_token, a.templates")


async def account_row(pool: Pool, inbox: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        f"SELECT {ACCOUNT_COLS} FROM channel_accounts a JOIN inboxes i ON i.slug = a.inbox"
        " WHERE a.inbox = $1", inbox)


async def account_rows(pool: Pool) -> list[asyncpg.Record]:
    return list(await pool.fetch(
        f"SELECT {ACCOUNT_COLS} FROM channel_accounts a JOIN inboxes i ON i.slug = a.inbox"))


# ---- sessions --------------------------------------------------------------------------

async def login_row(pool: Pool, email: str) -> asyncpg.Record | None:
    """An active agent's id and password hash by email."""
    return await pool.fetchrow(
        "SELECT id, password_hash FROM agents WHERE email = $1 AND active", email)


async def insert_session(pool: Pool, token_hash: str, agent_id: int, expires_at: Any) -> None:
    await pool.execute(
        "INSERT INTO sessions (token_hash, agent_id, expires_at) VALUES ($1, $2, $3)",
        token_hash, agent_id, expires_at)


async def delete_session(pool: Pool, token_hash: str) -> None:
    await pool.execute("DELETE FROM sessions WHERE token_hash = $1", token_hash)


async def session_agent_id(pool: Pool, token_hash: str) -> int | None:
    value: int | None = await pool.fetchval(
        "SELECT agent_id FROM sessions WHERE token_hash = $1 AND expires_at > now()",
        token_hash)
    return value


# ---- reply options, routing board ------------------------------------------------------

async def db_now(pool: Pool) -> Any:
    """Postgres's clock (reply windows are measured against stored timestamps)."""
    return await pool.fetchval("SELECT now()")


async def reply_inboxes(pool: Pool, slugs: list[str]) -> dict[str, asyncpg.Record]:
    """slug -> (slug, name, external_id of its provider account or None)."""
    return {r["slug"]: r for r in await pool.fetch(
        "SELECT i.slug, i.name, a.external_id FROM inboxes i"
        " LEFT JOIN channel_accounts a ON a.inbox = i.slug WHERE i.slug = ANY($1::text[])",
        slugs)}


async def contact_identity_keys(pool: Pool, contact_id: int) -> list[str]:
    """The contact's identities as ``kind:value``, oldest first."""
    return list(await pool.fetchval(
        "SELECT coalesce(array_agg(kind || ':' || value ORDER BY created_at), '{}')"
        " FROM identities WHERE contact_id = $1", contact_id))


async def work_item_labels(pool: Pool, item_ids: list[int]) -> list[asyncpg.Record]:
    """(work item id, conversation id, inbox, contact name, subject) per work item."""
    return list(await pool.fetch(
        "SELECT wi.id, wi.conversation_id, c.inbox, ct.name, c.subject FROM work_items wi"
        " JOIN conversations c ON c.id = wi.conversation_id"
        " JOIN contacts ct ON ct.id = c.contact_id WHERE wi.id = ANY($1::bigint[])",
        item_ids))


async def agent_names(pool: Pool, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {r[0]: r[1] for r in await pool.fetch(
        "SELECT id, name FROM agents WHERE id = ANY($1::bigint[])", ids)}


async def agent_exists(pool: Pool, agent_id: int) -> bool:
    return bool(await pool.fetchval("SELECT EXISTS (SELECT 1 FROM agents WHERE id = $1)",
                                    agent_id))
