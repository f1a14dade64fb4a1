"""The bot fallback sweep's selection (workers/bot_fallback.py): the conversations a bot
holds, with what the pure fallback rule (hub/bots/rules.py) needs to judge them."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection

HELD_BY_BOTS = """
SELECT w.conversation_id, w.bot_id, b.active, b.webhook_url IS NOT NULL AS has_hook,
    b.handoff_after_s, extract(epoch FROM now() - w.created_at) AS held_s,
    extract(epoch FROM now() - (
        SELECT min(m.created_at) FROM messages m
        WHERE m.conversation_id = w.conversation_id AND m.direction = 'in'
          AND m.id > coalesce((SELECT max(r.id) FROM messages r
                               WHERE r.conversation_id = w.conversation_id
                                 AND r.bot_id = w.bot_id), 0))) AS waiting_s,
    -- A failed delivery the bot has not answered since (a bot that replied after a
    -- failure is alive and stays in charge).
    EXISTS (SELECT 1 FROM bot_deliveries d WHERE d.bot_id = w.bot_id
            AND d.conversation_id = w.conversation_id AND d.status = 'failed'
            AND d.updated_at > coalesce((SELECT max(r.created_at) FROM messages r
                                         WHERE r.conversation_id = w.conversation_id
                                           AND r.bot_id = w.bot_id), '-infinity'))
        AS hook_failed
FROM work_items w JOIN bots b ON b.id = w.bot_id
WHERE w.status = 'bot'
ORDER BY w.id
LIMIT 2000
"""


async def held_by_bots(conn: Conn) -> list[asyncpg.Record]:
    """Conversations a bot holds, with what the fallback rule needs to judge them."""
    return list(await conn.fetch(HELD_BY_BOTS))
