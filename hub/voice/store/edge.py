"""The voice edge's reads: a CTI endpoint by its token hash, a callback's dial target
(Twilio's TwiML) and the sweep's accepted callbacks nobody dialled. One statement each."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection


async def cti_endpoint_by_hash(conn: Conn, token_hash: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, inbox, token_hash, region, blocked_callers, caller_id_rules,"
        " default_caller_id FROM cti_endpoints WHERE token_hash = $1", token_hash)


async def callback_dial_target(conn: Conn, callback_id: int, inbox: str
                               ) -> asyncpg.Record | None:
    """A callback's customer phone and its agent's first extension (Twilio's TwiML)."""
    return await conn.fetchrow(
        "SELECT cb.phone, (SELECT extension FROM agent_extensions e"
        "  WHERE e.agent_id = cb.agent_id ORDER BY extension LIMIT 1) AS extension"
        " FROM callbacks cb WHERE cb.id = $1 AND cb.inbox = $2", callback_id, inbox)


async def callbacks_to_dial(conn: Conn) -> list[asyncpg.Record]:
    """Accepted callbacks nobody dialled within 10 s: (work item id, agent id, attempts)."""
    return list(await conn.fetch(
        "SELECT wi.id, wi.agent_id, cb.attempts FROM callbacks cb JOIN work_items wi"
        " ON wi.id = cb.work_item_id WHERE cb.status IN ('requested', 'offered')"
        " AND wi.status = 'assigned' AND wi.agent_id IS NOT NULL"
        " AND cb.agent_id IS DISTINCT FROM wi.agent_id"
        " AND wi.updated_at < now() - interval '10 seconds' LIMIT 200"))
