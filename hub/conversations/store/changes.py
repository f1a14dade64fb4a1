"""SQL of the agents' state changes on a conversation (hub/conversations/actions.py): row
locks, assignee, status, last activity, the open work item, and the audit row."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from hub.schema import WorkItem

_WORK_ITEM_COLS = "id, conversation_id, queue, channel, status, priority, agent_id, created_at"


async def lock_conversation(conn: asyncpg.Connection, conversation_id: int) -> None:
    """Lock the row before reading it, so the status and assignee read next are current."""
    await conn.execute("SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE",
                       conversation_id)


async def lock_assignee(conn: asyncpg.Connection, conversation_id: int) -> int | None:
    """Lock the conversation and return its assignee (None: unassigned)."""
    assignee: int | None = await conn.fetchval(
        "SELECT assignee_id FROM conversations WHERE id = $1 FOR UPDATE", conversation_id
    )
    return assignee


async def set_assignee(conn: asyncpg.Connection, conversation_id: int,
                       agent_id: int | None) -> None:
    await conn.execute(
        "UPDATE conversations SET assignee_id = $2 WHERE id = $1", conversation_id, agent_id
    )


async def set_status(conn: asyncpg.Connection, conversation_id: int, status: str) -> bool:
    """False when the contact already has another open conversation in the inbox (index
    ``conversations_one_open``); the transaction is then aborted and must roll back."""
    try:
        await conn.execute(
            "UPDATE conversations SET status = $2 WHERE id = $1", conversation_id, status
        )
    except asyncpg.UniqueViolationError:
        return False
    return True


async def set_last_message_at(conn: asyncpg.Connection, conversation_id: int,
                              at: datetime) -> None:
    await conn.execute(
        "UPDATE conversations SET last_message_at = $2 WHERE id = $1", conversation_id, at,
    )


async def update_open_work_item(conn: asyncpg.Connection, conversation_id: int, status: str,
                                 agent_id: int | None) -> WorkItem | None:
    """Move the conversation's unfinished work item, if it has one."""
    r = await conn.fetchrow(
        "UPDATE work_items SET status = $2, agent_id = $3, updated_at = now()"
        " WHERE conversation_id = $1 AND status NOT IN ('completed', 'cancelled')"
        f" RETURNING {_WORK_ITEM_COLS}",
        conversation_id, status, agent_id,
    )
    return None if r is None else WorkItem(**dict(r))


async def insert_work_item(conn: asyncpg.Connection, conversation_id: int, channel: str,
                           inbox: str, status: str, agent_id: int | None) -> WorkItem | None:
    """A new work item in the inbox's default queue (a reopened conversation); None when
    the conversation already has an unfinished one."""
    item = await conn.fetchrow(
        "INSERT INTO work_items (conversation_id, queue, channel, status, agent_id)"
        " SELECT $1, default_queue, $2, $3, $4 FROM inboxes WHERE slug = $5"
        " ON CONFLICT (conversation_id) WHERE status NOT IN ('completed', 'cancelled')"
        " DO NOTHING"
        f" RETURNING {_WORK_ITEM_COLS}",
        conversation_id, channel, status, agent_id, inbox,
    )
    return None if item is None else WorkItem(**dict(item))


async def insert_audit(conn: asyncpg.Connection, actor_id: int, action: str, subject: str,
                       details: str = "{}") -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor_id, action, subject, details) VALUES ($1, $2, $3, $4)",
        actor_id, action, subject, details,
    )
