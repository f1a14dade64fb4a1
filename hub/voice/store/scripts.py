"""Call scripts (``call_scripts``: each name's current version, its step graph) and
the run of a script on a conversation (``script_runs``: path and answers), plus the
reads that choose a conversation's script (its last callback's topic, its last queue)."""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool


async def upsert_script(conn: Conn, *, name: str, queue: str, topic: str, graph: str,
                        source: str, created_by: int) -> asyncpg.Record:
    """Insert, or replace the script of the same name (active again)."""
    row: asyncpg.Record = await conn.fetchrow(
        "INSERT INTO call_scripts (name, queue, topic, graph, source, created_by)"
        " VALUES ($1, $2, $3, $4::jsonb, $5, $6)"
        " ON CONFLICT (name) DO UPDATE SET queue = excluded.queue, topic = excluded.topic,"
        " graph = excluded.graph, source = excluded.source, active = true,"
        " created_by = excluded.created_by, created_at = now()"
        " RETURNING id, name, queue, topic, created_at",
        name, queue, topic, graph, source, created_by)
    return row


async def active_scripts(conn: Conn) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, name, queue, topic, created_at FROM call_scripts WHERE active"
        " ORDER BY name")
    return [dict(r) for r in rows]


async def script_graph(conn: Conn, script_id: int) -> Any:
    """The stored step graph (JSON text), or None: no such script."""
    return await conn.fetchval("SELECT graph FROM call_scripts WHERE id = $1", script_id)


async def script_name(conn: Conn, script_id: int) -> str | None:
    value: str | None = await conn.fetchval("SELECT name FROM call_scripts WHERE id = $1",
                                            script_id)
    return value


async def latest_callback_topic(conn: Conn, conversation_id: int) -> asyncpg.Record | None:
    """(topic) of the conversation's newest callback."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT topic FROM callbacks WHERE conversation_id = $1 ORDER BY id DESC LIMIT 1",
        conversation_id)
    return row


async def latest_item_queue(conn: Conn, conversation_id: int) -> str | None:
    value: str | None = await conn.fetchval(
        "SELECT queue FROM work_items WHERE conversation_id = $1 ORDER BY id DESC LIMIT 1",
        conversation_id)
    return value


async def run_state(conn: Conn, conversation_id: int, script_id: int) -> Any:
    """The saved run (JSON text) of the script on the conversation, or None."""
    return await conn.fetchval(
        "SELECT state FROM script_runs WHERE conversation_id = $1 AND script_id = $2",
        conversation_id, script_id)


async def start_run_once(conn: asyncpg.Connection, conversation_id: int, script_id: int,
                         agent_id: int, state: str) -> None:
    """Save ``state`` as the run unless the conversation already has one."""
    await conn.execute(
        "INSERT INTO script_runs (conversation_id, script_id, agent_id, state)"
        " VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT DO NOTHING",
        conversation_id, script_id, agent_id, state)


async def lock_run_state(conn: asyncpg.Connection, conversation_id: int, script_id: int
                         ) -> Any:
    return await conn.fetchval(
        "SELECT state FROM script_runs WHERE conversation_id = $1 AND script_id = $2"
        " FOR UPDATE", conversation_id, script_id)


async def save_run_state(conn: asyncpg.Connection, conversation_id: int, script_id: int,
                         state: str, agent_id: int) -> None:
    await conn.execute(
        "UPDATE script_runs SET state = $3::jsonb, agent_id = $4, updated_at = now()"
        " WHERE conversation_id = $1 AND script_id = $2",
        conversation_id, script_id, state, agent_id)
