"""Round trips that read no table: the health probe and Postgres's clock."""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection


async def ping(conn: Conn) -> None:
    """The health probe's round trip to Postgres."""
    await conn.fetchval("SELECT 1")


async def db_now(conn: Conn) -> Any:
    """Postgres's clock (reply windows are measured against stored timestamps)."""
    return await conn.fetchval("SELECT now()")
