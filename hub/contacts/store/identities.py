"""Identity lookups the edges make: whether a pre-chat identity is known, a contact's
identities as ``kind:value`` (the reply options)."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection


async def identity_exists(conn: Conn, kind: str, value: str) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM identities WHERE kind = $1 AND value = $2)",
        kind, value))


async def contact_identity_keys(conn: Conn, contact_id: int) -> list[str]:
    """The contact's identities as ``kind:value``, oldest first."""
    return list(await conn.fetchval(
        "SELECT coalesce(array_agg(kind || ':' || value ORDER BY created_at), '{}')"
        " FROM identities WHERE contact_id = $1", contact_id))
