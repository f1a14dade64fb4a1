"""The ``callbacks`` rows outside the pipeline: the agent's "Call now" check, claiming
one for dialing (with what dialing needs: the agent's extension, the inbox's
originator), the provider's answers, and what the customer's widget may read. Also
the work item and conversation writes a claim makes."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg

from hub.schema import CallbackUpdated
from hub.voice.rules.callbacks import failure_code, failure_message, next_status

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool

CB_COLS = ("id, inbox, conversation_id, work_item_id, contact_id, phone, topic, status,"
           " reason, attempts, agent_id, provider_call_id, source, created_at, updated_at")
_ITEM_COLS = "id, conversation_id, queue, channel, status, priority, agent_id, created_at"


async def update_live_item(conn: asyncpg.Connection, item_id: int, status: str,
                           agent_id: int | None) -> asyncpg.Record | None:
    """Set the item's status and holder unless it is completed or cancelled."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE work_items SET status = $2, agent_id = $3, updated_at = now()"
        " WHERE id = $1 AND status NOT IN ('completed', 'cancelled')"
        f" RETURNING {_ITEM_COLS}", item_id, status, agent_id)
    return row


async def assign_conversation_if_free(conn: asyncpg.Connection, conversation_id: int,
                                      agent_id: int) -> bool:
    """Whether the conversation had no assignee and now has ``agent_id``."""
    assigned = await conn.fetchval(
        "UPDATE conversations SET assignee_id = $2 WHERE id = $1"
        " AND assignee_id IS NULL RETURNING id", conversation_id, agent_id)
    return bool(assigned)


async def callback_with_assignee(conn: Conn, callback_id: int) -> asyncpg.Record | None:
    """The callback (``CB_COLS``) plus its conversation's ``assignee``."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {CB_COLS}, (SELECT assignee_id FROM conversations c"
        "  WHERE c.id = cb.conversation_id) AS assignee FROM callbacks cb WHERE id = $1",
        callback_id)
    return row


async def lock_waiting_callback(conn: asyncpg.Connection, work_item_id: int,
                                callback_id: int | None) -> asyncpg.Record | None:
    """The work item's first callback still requested or offered (``callback_id``, if
    given, must be it), locked."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {CB_COLS} FROM callbacks WHERE work_item_id = $1"
        " AND status IN ('requested', 'offered') AND ($2::bigint IS NULL OR id = $2)"
        " ORDER BY id LIMIT 1 FOR UPDATE", work_item_id, callback_id)
    return row


async def first_extension(conn: Conn, agent_id: int) -> str | None:
    value: str | None = await conn.fetchval(
        "SELECT extension FROM agent_extensions WHERE agent_id = $1"
        " ORDER BY extension LIMIT 1", agent_id)
    return value


async def originator_of(conn: Conn, inbox: str) -> asyncpg.Record | None:
    """(kind, config) of the inbox's click-to-call originator."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT kind, config FROM voice_originators WHERE inbox = $1", inbox)
    return row


async def fail_callback(conn: asyncpg.Connection, callback_id: int, reason: str
                        ) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        "UPDATE callbacks SET status = 'failed', reason = $2, updated_at = now()"
        f" WHERE id = $1 RETURNING {CB_COLS}", callback_id, reason)
    return row


async def start_dialing(conn: asyncpg.Connection, callback_id: int, agent_id: int
                        ) -> asyncpg.Record:
    """Status 'dialing' for ``agent_id``, one more attempt, the reason cleared."""
    row: asyncpg.Record = await conn.fetchrow(
        "UPDATE callbacks SET status = 'dialing', attempts = attempts + 1,"
        " agent_id = $2, reason = '', updated_at = now()"
        f" WHERE id = $1 RETURNING {CB_COLS}", callback_id, agent_id)
    return row


async def lock_callback(conn: asyncpg.Connection, callback_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {CB_COLS} FROM callbacks WHERE id = $1 FOR UPDATE", callback_id)
    return row


async def set_provider_call_id(conn: asyncpg.Connection, callback_id: int,
                               provider_call_id: str) -> None:
    await conn.execute("UPDATE callbacks SET provider_call_id = $2 WHERE id = $1",
                       callback_id, provider_call_id)


async def record_dial_outcome(conn: asyncpg.Connection, callback_id: int, status: str,
                              reason: str, provider_call_id: str) -> asyncpg.Record:
    """The provider's answer; an empty ``provider_call_id`` keeps the stored one."""
    row: asyncpg.Record = await conn.fetchrow(
        "UPDATE callbacks SET status = $2, reason = $3,"
        " provider_call_id = CASE WHEN $4 = '' THEN provider_call_id ELSE $4 END,"
        f" updated_at = now() WHERE id = $1 RETURNING {CB_COLS}",
        callback_id, status, reason, provider_call_id)
    return row


async def record_call_progress(conn: asyncpg.Connection, callback_id: int, status: str,
                               reason: str, call_id: str) -> asyncpg.Record:
    """A status from the dialled call itself (the pipeline), with its call id."""
    row: asyncpg.Record = await conn.fetchrow(
        "UPDATE callbacks SET status = $2, reason = $3, provider_call_id = $4,"
        f" updated_at = now() WHERE id = $1 RETURNING {CB_COLS}",
        callback_id, status, reason, call_id)
    return row


async def status_by_source_key(conn: Conn, source_key: str) -> asyncpg.Record | None:
    """(status, reason, updated_at) of the callback created from ``source_key``."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT status, reason, updated_at FROM callbacks WHERE source_key = $1",
        source_key)
    return row


async def conversation_inbox(conn: Conn, conversation_id: int) -> str | None:
    value: str | None = await conn.fetchval(
        "SELECT inbox FROM conversations WHERE id = $1", conversation_id)
    return value


async def callbacks_of_conversation(conn: Conn, conversation_id: int
                                    ) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {CB_COLS} FROM callbacks WHERE conversation_id = $1 ORDER BY id DESC",
        conversation_id)
    return rows


def callback_event(r: asyncpg.Record) -> CallbackUpdated:
    return CallbackUpdated(inbox=r["inbox"], callback_id=r["id"],
                           conversation_id=r["conversation_id"], work_item_id=r["work_item_id"],
                           status=r["status"], reason=failure_message(r["reason"]),
                           reason_code=failure_code(r["reason"]), agent_id=r["agent_id"])


async def advance_from_call(conn: asyncpg.Connection, callback_id: int, status: str,
                            reason: str, call_id: str) -> list[CallbackUpdated]:
    """In the pipeline's transaction: the dialled call's progress moves its callback on
    (a status the callback's state allows; anything else changes nothing)."""
    r = await lock_callback(conn, callback_id)
    if r is None or next_status(r["status"], status) is None:
        return []
    done = await record_call_progress(conn, callback_id, status, reason[:300], call_id)
    return [callback_event(done)]
