"""Agent and session reads and the session writes. Whether an agent may work in an inbox
is the access policy's question (hub/access.py); this module only loads what it needs.
Admin's audited agent writes stay in hub/admin/store.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from hub import access
from hub.schema import Agent

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool

_AGENT_INBOXES = (" coalesce(array_agg(ai.inbox ORDER BY ai.inbox)"
                  "   FILTER (WHERE ai.inbox IS NOT NULL), '{}') AS inboxes")


# ---- agents ----------------------------------------------------------------------------

async def agent_name(conn: Conn, agent_id: int | None) -> str:
    """The display name events carry beside an agent id ("" for none or unknown)."""
    if agent_id is None:
        return ""
    name = await conn.fetchval("SELECT name FROM agents WHERE id = $1", agent_id)
    return name or ""


async def agent_names(conn: Conn, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {r[0]: r[1] for r in await conn.fetch(
        "SELECT id, name FROM agents WHERE id = ANY($1::bigint[])", ids)}


async def agent_exists(conn: Conn, agent_id: int) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM agents WHERE id = $1)",
                                    agent_id))


async def load_agent(conn: Conn, agent_id: int) -> Agent | None:
    r = await conn.fetchrow(
        "SELECT a.id, a.name, a.email, a.role," + _AGENT_INBOXES +
        " FROM agents a LEFT JOIN agent_inboxes ai ON ai.agent_id = a.id"
        " WHERE a.id = $1 AND a.active GROUP BY a.id",
        agent_id,
    )
    if r is None:
        return None
    return Agent(id=r["id"], name=r["name"], email=r["email"], role=r["role"],
                 inboxes=list(r["inboxes"]))


async def active_agent_sees_inbox(conn: Conn, agent_id: int, inbox: str) -> bool:
    """True if the agent exists, is active and the policy lets it see ``inbox`` (the
    check before assigning it a conversation or a callback there)."""
    r = await conn.fetchrow(
        "SELECT a.role, array(SELECT ai.inbox FROM agent_inboxes ai WHERE ai.agent_id = a.id)"
        " AS inboxes FROM agents a WHERE a.id = $1 AND a.active", agent_id)
    return r is not None and access.sees_inbox(r["role"], list(r["inboxes"]), inbox)


# ---- logins and sessions ---------------------------------------------------------------

async def login_row(conn: Conn, email: str) -> asyncpg.Record | None:
    """An active agent's id and password hash by email."""
    return await conn.fetchrow(
        "SELECT id, password_hash FROM agents WHERE email = $1 AND active", email)


async def insert_session(conn: Conn, token_hash: str, agent_id: int, expires_at: Any) -> None:
    await conn.execute(
        "INSERT INTO sessions (token_hash, agent_id, expires_at) VALUES ($1, $2, $3)",
        token_hash, agent_id, expires_at)


async def delete_session(conn: Conn, token_hash: str) -> None:
    await conn.execute("DELETE FROM sessions WHERE token_hash = $1", token_hash)


async def session_agent_id(conn: Conn, token_hash: str) -> int | None:
    value: int | None = await conn.fetchval(
        "SELECT agent_id FROM sessions WHERE token_hash = $1 AND expires_at > now()",
        token_hash)
    return value


async def load_session_agents(conn: Conn, token_hashes: list[str]
                              ) -> dict[str, tuple[Agent, datetime]]:
    """The agent behind each live session (unexpired, agent active) and when the session
    expires, by token hash: what an open agent socket may do now. Ended sessions are
    absent."""
    rows = await conn.fetch(
        "SELECT s.token_hash, s.expires_at, a.id, a.name, a.email, a.role," + _AGENT_INBOXES +
        " FROM sessions s JOIN agents a ON a.id = s.agent_id"
        " LEFT JOIN agent_inboxes ai ON ai.agent_id = a.id"
        " WHERE s.token_hash = ANY($1::text[]) AND s.expires_at > now() AND a.active"
        " GROUP BY s.token_hash, a.id",
        token_hashes,
    )
    return {r["token_hash"]: (Agent(id=r["id"], name=r["name"], email=r["email"],
                                    role=r["role"], inboxes=list(r["inboxes"])),
                              r["expires_at"])
            for r in rows}
