"""The reads behind the channels' reply windows (hub/messaging/reply_policy.py): when the
customer last wrote, on which routes, the inbox's human-agent flag, the database's clock;
and the record of a template send."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from hub.conversations.rules import InboundUse


async def last_inbound_at(conn: asyncpg.Connection, contact_id: int,
                          account: str) -> datetime | None:
    """The customer's last message to this channel account (inbox), in any of their
    conversations: the providers' windows run per account, not per conversation."""
    value: datetime | None = await conn.fetchval(
        "SELECT max(m.created_at) FROM conversations c JOIN messages m"
        " ON m.conversation_id = c.id WHERE c.contact_id = $1 AND m.channel_account = $2"
        " AND m.direction = 'in'", contact_id, account)
    return value


async def inbound_uses(conn: asyncpg.Connection, conversation_id: int) -> list[InboundUse]:
    rows = await conn.fetch(
        "SELECT channel, channel_account, max(created_at) AS last_at FROM messages"
        " WHERE conversation_id = $1 AND direction = 'in' GROUP BY 1, 2", conversation_id)
    return [InboundUse(r["channel"], r["channel_account"], r["last_at"]) for r in rows]


async def human_agent_flag(conn: asyncpg.Connection, account: str) -> bool | None:
    """The inbox's Meta human-agent setting (None: not set, or no such account)."""
    flag: bool | None = await conn.fetchval(
        "SELECT human_agent FROM channel_accounts WHERE inbox = $1", account)
    return flag


async def database_now(conn: asyncpg.Connection) -> datetime:
    """The database's clock: windows are judged against the times it stamped."""
    now: datetime = await conn.fetchval("SELECT now()")
    return now


async def insert_template_send(conn: asyncpg.Connection, message_id: int, name: str,
                               language: str, params_json: str) -> None:
    await conn.execute(
        "INSERT INTO outbound_templates (message_id, name, language, params)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        message_id, name, language, params_json,
    )
