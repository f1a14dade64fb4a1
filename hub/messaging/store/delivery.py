"""SQL of delivery status (hub/messaging/actions.py): provider reports stored once each,
the provider refs of sent messages, and the message status they move."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from hub.messaging.delivery_rules import MAX_ERROR, StatusReport


async def lock_message_status(conn: asyncpg.Connection, message_id: int
                              ) -> asyncpg.Record | None:
    """Lock the message; its status, conversation and inbox (None: no such message)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT m.status, m.conversation_id, c.inbox FROM messages m"
        " JOIN conversations c ON c.id = m.conversation_id WHERE m.id = $1 FOR UPDATE OF m",
        message_id,
    )
    return row


async def set_message_status(conn: asyncpg.Connection, message_id: int, status: str,
                             error: str) -> None:
    await conn.execute(
        "UPDATE messages SET status = $2, status_error = $3, status_at = now() WHERE id = $1",
        message_id, status, error,
    )


async def insert_new_reports(conn: asyncpg.Connection, reports: Sequence[StatusReport]
                             ) -> list[asyncpg.Record]:
    """Store the reports; returns those not stored before (provider, provider_ref,
    status, error)."""
    return list(await conn.fetch(
        "INSERT INTO message_status_reports (provider, provider_ref, status, error)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])"
        " ON CONFLICT DO NOTHING RETURNING provider, provider_ref, status, error",
        [r.provider for r in reports], [r.provider_ref for r in reports],
        [r.status for r in reports], [r.error[:MAX_ERROR] for r in reports],
    ))


async def messages_by_provider_ref(conn: asyncpg.Connection,
                                   refs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The message each known (provider, provider_ref) was sent as."""
    targets = await conn.fetch(
        "SELECT o.provider, o.provider_ref, o.message_id FROM outbound_provider_ids o"
        " JOIN unnest($1::text[], $2::text[]) AS k(p, ref)"
        "   ON o.provider = k.p AND o.provider_ref = k.ref",
        [p for p, _ in refs], [ref for _, ref in refs],
    )
    return {(t["provider"], t["provider_ref"]): t["message_id"] for t in targets}


async def sent_messages_up_to(conn: asyncpg.Connection, inbox: str, contact_identity: str,
                              at: datetime) -> list[int]:
    """Ids of the public outbound messages to this contact in this inbox, created by
    ``at`` and not yet delivered or read: what a provider's watermark covers."""
    rows = await conn.fetch(
        "SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        " WHERE c.inbox = $1 AND c.contact_identity = $2 AND m.direction = 'out'"
        " AND NOT m.private AND m.created_at <= $3"
        " AND m.status IN ('sending', 'sent', 'delivered') ORDER BY m.id",
        inbox, contact_identity, at,
    )
    return [r["id"] for r in rows]


async def record_provider_ref(conn: asyncpg.Connection, provider: str, provider_ref: str,
                              message_id: int) -> None:
    await conn.execute(
        "INSERT INTO outbound_provider_ids (provider, provider_ref, message_id)"
        " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        provider, provider_ref, message_id,
    )


async def early_reports(conn: asyncpg.Connection, provider: str, provider_ref: str
                        ) -> list[tuple[str, str]]:
    """(status, error) of the reports that arrived before the ref was recorded."""
    rows = await conn.fetch(
        "SELECT status, error FROM message_status_reports"
        " WHERE provider = $1 AND provider_ref = $2", provider, provider_ref,
    )
    return [(r["status"], r["error"]) for r in rows]
