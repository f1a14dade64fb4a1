"""Provider account reads: the webhook routes' account cache, the reply options'
inbox list, everything a messaging send needs, an API inbox's webhook URL. One
statement each. Admin's writes to ``channel_accounts`` are hub/admin/store.py's."""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection

ACCOUNT_COLS = ("a.inbox, i.channel, a.provider, a.external_id, a.account_sid, a.auth_token,"
                " a.access_token, a.app_secret, a.verify_token, a.secret_token, a.templates")


async def account_row(conn: Conn, inbox: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {ACCOUNT_COLS} FROM channel_accounts a JOIN inboxes i ON i.slug = a.inbox"
        " WHERE a.inbox = $1", inbox)


async def account_rows(conn: Conn) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        f"SELECT {ACCOUNT_COLS} FROM channel_accounts a JOIN inboxes i ON i.slug = a.inbox"))


async def reply_inboxes(conn: Conn, slugs: list[str]) -> dict[str, asyncpg.Record]:
    """slug -> (slug, name, external_id of its provider account or None)."""
    return {r["slug"]: r for r in await conn.fetch(
        "SELECT i.slug, i.name, a.external_id FROM inboxes i"
        " LEFT JOIN channel_accounts a ON a.inbox = i.slug WHERE i.slug = ANY($1::text[])",
        slugs)}


async def inbox_webhook_url(conn: Conn, inbox: str) -> str | None:
    url = await conn.fetchval("SELECT webhook_url FROM inboxes WHERE slug = $1", inbox)
    return str(url) if url else None


async def messaging_send_row(conn: Conn, conversation_id: int, message_id: int,
                             inbox: str) -> Any:
    """The provider account, the contact's identities, a template and the message's
    attributes: everything a messaging send needs, in one read."""
    return await conn.fetchrow(
        "SELECT a.provider, a.external_id, a.account_sid, a.auth_token, a.access_token,"
        " (SELECT coalesce(array_agg(i.kind || ':' || i.value ORDER BY i.created_at), '{}')"
        "    FROM identities i WHERE i.contact_id = c.contact_id) AS identities,"
        " t.name AS template_name, t.language AS template_language,"
        " t.params AS template_params,"
        " (SELECT m.attributes FROM messages m WHERE m.id = $2) AS attributes"
        " FROM conversations c LEFT JOIN channel_accounts a ON a.inbox = $3"
        " LEFT JOIN outbound_templates t ON t.message_id = $2 WHERE c.id = $1",
        conversation_id, message_id, inbox,
    )
