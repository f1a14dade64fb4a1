"""Agent lookups other stores share. Whether an agent may work in an inbox is the access
policy's question (hub/access.py); this module only loads what it needs."""

from __future__ import annotations

import asyncpg

from hub import access


async def active_agent_sees_inbox(conn: asyncpg.Connection | asyncpg.Pool, agent_id: int,
                                  inbox: str) -> bool:
    """True if the agent exists, is active and the policy lets it see ``inbox`` (the
    check before assigning it a conversation or a callback there)."""
    r = await conn.fetchrow(
        "SELECT a.role, array(SELECT ai.inbox FROM agent_inboxes ai WHERE ai.agent_id = a.id)"
        " AS inboxes FROM agents a WHERE a.id = $1 AND a.active", agent_id)
    return r is not None and access.sees_inbox(r["role"], list(r["inboxes"]), inbox)
