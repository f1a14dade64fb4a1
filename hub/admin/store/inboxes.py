"""Inbox and queue lookups the web edge caches or checks (the inbox cache behind every
widget and API request, the widget's default queue, the admin form's queue list). One
statement each; the caller keeps its caching and its checks. hub/admin/store.py holds
admin's audited writes."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection


async def inbox_row(conn: Conn, slug: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT slug, name, channel, greeting, allowed_origins, api_token_hash,"
        " identity_secret FROM inboxes WHERE slug = $1", slug)


async def inbox_default_queue(conn: Conn, inbox: str) -> str | None:
    value: str | None = await conn.fetchval(
        "SELECT default_queue FROM inboxes WHERE slug = $1", inbox)
    return value


async def queue_slugs(conn: Conn) -> list[str]:
    return [r[0] for r in await conn.fetch("SELECT slug FROM queues ORDER BY slug")]
