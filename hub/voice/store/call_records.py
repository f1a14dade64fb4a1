"""Calls as agents see them after the pipeline stored them: reading call rows, the
configurable dispositions, and the wrap-up (disposition + notes, the call's work item
completed, its audit row)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeAlias

import asyncpg
import msgspec

from hub.voice.store.calls import _CALL_COLS, _ITEM_COLS

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool


async def call_row(conn: Conn, call_row_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {_CALL_COLS} FROM calls WHERE id = $1", call_row_id)
    return row


async def recent_calls(conn: Conn, *, conversation_id: int | None, contact_id: int | None,
                       limit: int) -> list[asyncpg.Record]:
    """Calls (not the placeholder rows), newest first, of a conversation / contact."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {_CALL_COLS} FROM calls WHERE state <> ''"
        " AND ($1::bigint IS NULL OR conversation_id = $1)"
        " AND ($2::bigint IS NULL OR contact_id = $2)"
        " ORDER BY started_at DESC LIMIT $3", conversation_id, contact_id, limit)
    return rows


async def latest_call_of_conversation(conn: Conn, conversation_id: int
                                      ) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {_CALL_COLS} FROM calls WHERE conversation_id = $1 AND state <> ''"
        " ORDER BY started_at DESC LIMIT 1", conversation_id)
    return row


async def active_dispositions(conn: Conn) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT code, label FROM dispositions WHERE active ORDER BY position, code")
    return [dict(r) for r in rows]


async def replace_dispositions(conn: asyncpg.Connection, items: list[tuple[str, str]]
                               ) -> None:
    """The list in this order; codes not in it are deactivated (old calls keep them)."""
    await conn.execute("UPDATE dispositions SET active = false")
    await conn.executemany(
        "INSERT INTO dispositions (code, label, position, active) VALUES ($1, $2, $3, true)"
        " ON CONFLICT (code) DO UPDATE SET label = excluded.label,"
        " position = excluded.position, active = true",
        [(code, label, n) for n, (code, label) in enumerate(items)])


async def disposition_is_active(conn: Conn, code: str) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM dispositions WHERE code = $1 AND active)", code))


async def lock_call_for_wrapup(conn: asyncpg.Connection, call_row_id: int
                               ) -> asyncpg.Record | None:
    """The call row plus ``wrapup_ended_at``, locked."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {_CALL_COLS}, wrapup_ended_at FROM calls WHERE id = $1 FOR UPDATE",
        call_row_id)
    return row


async def save_call_wrapup(conn: asyncpg.Connection, call_row_id: int, disposition: str,
                           notes: str, now: datetime, agent_id: int) -> asyncpg.Record:
    """Disposition and notes; the wrap-up's start and end are set if not yet."""
    row: asyncpg.Record = await conn.fetchrow(
        "UPDATE calls SET disposition = $2, notes = $3,"
        " wrapup_started_at = coalesce(wrapup_started_at, ended_at, $4),"
        " wrapup_ended_at = coalesce(wrapup_ended_at, $4),"
        " agent_id = coalesce(agent_id, $5), updated_at = now()"
        f" WHERE id = $1 RETURNING {_CALL_COLS}",
        call_row_id, disposition, notes, now, agent_id)
    return row


async def complete_wrapup_item(conn: asyncpg.Connection, conversation_id: int
                               ) -> asyncpg.Record | None:
    """The conversation's item in 'wrapup' becomes 'completed' (None: there is none)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE work_items SET status = 'completed', updated_at = now()"
        " WHERE conversation_id = $1 AND status = 'wrapup'"
        f" RETURNING {_ITEM_COLS}", conversation_id)
    return row


async def audit_wrapup(conn: asyncpg.Connection, agent_id: int, call_row_id: int,
                       disposition: str) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor_id, action, subject, details)"
        " VALUES ($1, 'call.wrapup', $2, $3)", agent_id, f"call:{call_row_id}",
        msgspec.json.encode({"disposition": disposition}).decode())
