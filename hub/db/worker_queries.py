"""The SQL the background workers used to hold (issue 12: no SQL in workers/): sweeps'
selections and the lookups a sender makes before sending. One statement each; the
worker keeps its decisions (hub/ rules) and its retries."""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg

Pool: TypeAlias = asyncpg.Pool | asyncpg.Connection

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


async def held_by_bots(pool: Pool) -> list[asyncpg.Record]:
    """Conversations a bot holds, with what the fallback rule needs to judge them."""
    return list(await pool.fetch(HELD_BY_BOTS))


async def callbacks_to_dial(pool: Pool) -> list[asyncpg.Record]:
    """Accepted callbacks nobody dialled within 10 s: (work item id, agent id, attempts)."""
    return list(await pool.fetch(
        "SELECT wi.id, wi.agent_id, cb.attempts FROM callbacks cb JOIN work_items wi"
        " ON wi.id = cb.work_item_id WHERE cb.status IN ('requested', 'offered')"
        " AND wi.status = 'assigned' AND wi.agent_id IS NOT NULL"
        " AND cb.agent_id IS DISTINCT FROM wi.agent_id"
        " AND wi.updated_at < now() - interval '10 seconds' LIMIT 200"))


async def requeue_verification(pool: Pool, verification_id: int, error: str) -> None:
    """A code send that will be retried goes back to queued with the last error."""
    await pool.execute(
        "UPDATE identity_verifications SET delivery = 'queued', delivery_error = $2"
        " WHERE id = $1 AND delivery = 'sending'", verification_id, error)


async def inbox_webhook_url(pool: Pool, inbox: str) -> str | None:
    url = await pool.fetchval("SELECT webhook_url FROM inboxes WHERE slug = $1", inbox)
    return str(url) if url else None


async def messaging_send_row(pool: Pool, conversation_id: int, message_id: int,
                             inbox: str) -> Any:
    """The provider account, the contact's identities, a template and the message's
    attributes: everything a messaging send needs, in one read."""
    return await pool.fetchrow(
        "SELECT a.provider, a.external_id, a.account_sid, a.auth_token, a.access_token,"
        " (SELECT coalesce(array_agg(i.kind || ':' || i.value ORDER BY i.created_at), '{}')"
        "    FROM identities i WHERE i.contact_id = c.contact_id) AS identities,"
        " t.name AS template_name, t.language AS template_language,"
        " t.params AS template_params,"
        " (SELECT m.attributes FROM messages m WHERE m.id = $2) AS attributes"
        " FROM conversations c LEFT JOIN channel_accounts a ON a.inbox = $3"
        " LEFT JOIN outbound_templates t ON t.message_id = $2 WHERE c.id = $1",
        conversation_id, message_id, inbox,
    )


# ---- outbound delivery (workers/delivery.py) -------------------------------------------

async def update_message_status(conn: Pool, message_id: int, status: str, error: str,
                                only_from: str | None) -> Any:
    """Move an outbound message to ``status`` unless it already got further (sent,
    delivered, read) or, with ``only_from``, is no longer in that state. Returns
    (conversation_id, inbox) or None."""
    return await conn.fetchrow(
        "UPDATE messages m SET status = $2, status_error = $3, status_at = now()"
        " FROM conversations c WHERE m.id = $1 AND c.id = m.conversation_id"
        " AND m.status NOT IN ('sent', 'delivered', 'read')"
        " AND ($4::text IS NULL OR m.status = $4)"
        " RETURNING m.conversation_id, c.inbox",
        message_id, status, error, only_from,
    )


async def claim_queued_message(conn: Pool, message_id: int) -> Any:
    """queued -> sending, at most once; the row to send, or None if not queued."""
    return await conn.fetchrow(
        "UPDATE messages m SET status = 'sending', status_at = now()"
        " FROM conversations c WHERE m.id = $1 AND m.status = 'queued' AND m.direction = 'out'"
        " AND c.id = m.conversation_id"
        # The channel and account the reply was stored for (in a joined conversation, the
        # customer's channel, not necessarily the conversation's own).
        " RETURNING m.id, m.conversation_id, m.channel_account AS inbox, m.channel, m.text,"
        " m.html, m.provider_id,"
        " m.author_name, m.created_at, c.contact_identity", message_id)


async def queued_without_job(pool: Pool) -> list[int]:
    """Outbound messages queued for over 30 s (their job never reached Redis)."""
    return [r["id"] for r in await pool.fetch(
        "SELECT id FROM messages WHERE status = 'queued' AND direction = 'out'"
        " AND created_at < now() - interval '30 seconds' LIMIT 500")]


async def stuck_sending(pool: Pool, after_s: float) -> list[int]:
    """Messages left 'sending' for longer than ``after_s`` (their worker died)."""
    return [r["id"] for r in await pool.fetch(
        "SELECT id FROM messages WHERE status = 'sending'"
        " AND status_at < now() - make_interval(secs => $1) LIMIT 500", after_s)]
