"""SQL of claim verification (hub/contacts/actions/verification.py): the rows, the rate-limit
counts, the delivery route and the link of a verified identity."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from hub.schema import Agent

_COLS = ("id, contact_id, kind, value, conversation_id, inbox, claimant, via, code_salt,"
         " attempts, status, delivery, delivery_error, linked_contact_id, created_by,"
         " created_at, expires_at, finished_at")


async def chat_conversation(conn: asyncpg.Connection, contact_id: int,
                            conversation_id: int | None, inboxes: list[str] | None
                            ) -> asyncpg.Record | None:
    """The open chat conversation of the contact where the visitor will type the code:
    the one asked for, else the latest; only in inboxes the agent sees (None: all)."""
    return await conn.fetchrow(
        "SELECT id, inbox, contact_identity FROM conversations WHERE contact_id = $1"
        " AND channel = 'chat' AND status <> 'resolved'"
        " AND ($2::bigint IS NULL OR id = $2)"
        " AND ($3::text[] IS NULL OR inbox = ANY($3::text[]))"
        " ORDER BY id DESC LIMIT 1", contact_id, conversation_id, inboxes)


async def has_claim(conn: asyncpg.Connection, contact_id: int, kind: str, value: str) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM identity_claims WHERE contact_id = $1 AND kind = $2"
        " AND value = $3)", contact_id, kind, value))


async def identity_owner(conn: asyncpg.Connection, kind: str, value: str) -> int | None:
    owner = await conn.fetchval(
        "SELECT contact_id FROM identities WHERE kind = $1 AND value = $2", kind, value)
    return int(owner) if owner is not None else None


async def sms_account(conn: asyncpg.Connection | asyncpg.Pool) -> asyncpg.Record | None:
    """The SMS inbox whose Twilio account sends codes by text (the first by slug)."""
    return await conn.fetchrow(
        "SELECT i.slug, a.external_id, a.account_sid, a.auth_token FROM inboxes i"
        " JOIN channel_accounts a ON a.inbox = i.slug WHERE i.channel = 'sms'"
        " AND a.provider = 'twilio' AND a.external_id <> '' AND a.account_sid <> ''"
        " ORDER BY i.slug LIMIT 1")


async def mail_sender(conn: asyncpg.Connection | asyncpg.Pool) -> asyncpg.Record | None:
    """The email inbox whose address sends codes by mail (the first by slug)."""
    return await conn.fetchrow(
        "SELECT slug, email_address, email_display_name FROM inboxes WHERE channel = 'email'"
        " AND coalesce(email_address, '') <> '' ORDER BY slug LIMIT 1")


async def lock_target(conn: asyncpg.Connection, kind: str, value: str) -> None:
    """Serialise requests for one address, so the rate-limit count cannot be raced."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))",
                       f"verify:{kind}:{value}")


async def recent_counts(conn: asyncpg.Connection, kind: str, value: str, agent_id: int,
                        window_s: int) -> tuple[int, int]:
    """(codes sent to this address, codes requested by this agent) in the window."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE kind = $1 AND value = $2) AS target,"
        " count(*) FILTER (WHERE created_by = $3) AS agent FROM identity_verifications"
        " WHERE created_at > now() - make_interval(secs => $4)"
        " AND ((kind = $1 AND value = $2) OR created_by = $3)",
        kind, value, agent_id, float(window_s))
    return int(row["target"]), int(row["agent"])


async def supersede_pending(conn: asyncpg.Connection, conversation_id: int) -> list[int]:
    return [r["id"] for r in await conn.fetch(
        "UPDATE identity_verifications SET status = 'superseded', finished_at = now()"
        " WHERE conversation_id = $1 AND status = 'pending' RETURNING id", conversation_id)]


async def insert(conn: asyncpg.Connection, *, contact_id: int, kind: str, value: str,
                 conversation_id: int, inbox: str, claimant: str, via: str, salt: str,
                 created_by: int, expires_at: datetime) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        "INSERT INTO identity_verifications (contact_id, kind, value, conversation_id, inbox,"
        " claimant, via, code_salt, created_by, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        f" RETURNING {_COLS}", contact_id, kind, value, conversation_id, inbox, claimant,
        via, salt, created_by, expires_at)
    return row


async def lock_for_answer(conn: asyncpg.Connection, verification_id: int,
                          conversation_id: int, claimant: str) -> asyncpg.Record | None:
    """The verification, if it belongs to this widget's conversation and visitor."""
    return await conn.fetchrow(
        f"SELECT {_COLS} FROM identity_verifications WHERE id = $1 AND conversation_id = $2"
        " AND claimant = $3 FOR UPDATE", verification_id, conversation_id, claimant)


async def record_answer(conn: asyncpg.Connection, verification_id: int, status: str,
                        attempts: int, linked: int | None) -> None:
    await conn.execute(
        "UPDATE identity_verifications SET status = $2, attempts = $3,"
        " linked_contact_id = coalesce($4, linked_contact_id),"
        " finished_at = CASE WHEN $2 = 'pending' THEN NULL ELSE now() END WHERE id = $1",
        verification_id, status, attempts, linked)


async def claim_for_sending(conn: asyncpg.Connection | asyncpg.Pool, verification_id: int
                            ) -> asyncpg.Record | None:
    """queued -> sending, only while the code can still be used (jobs may run twice)."""
    return await conn.fetchrow(
        "UPDATE identity_verifications SET delivery = 'sending' WHERE id = $1"
        " AND delivery = 'queued' AND status = 'pending' AND expires_at > now()"
        f" RETURNING {_COLS}", verification_id)


async def record_delivery(conn: asyncpg.Connection, verification_id: int, delivery: str,
                          error: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "UPDATE identity_verifications SET delivery = $2, delivery_error = $3"
        f" WHERE id = $1 AND delivery = 'sending' RETURNING {_COLS}",
        verification_id, delivery, error[:500])


async def acting_agent(conn: asyncpg.Connection, agent_id: int) -> Agent:
    r = await conn.fetchrow("SELECT id, name, email, role FROM agents WHERE id = $1", agent_id)
    return Agent(id=r["id"], name=r["name"], email=r["email"], role=r["role"])


async def crm_owner(conn: asyncpg.Connection, kind: str, value: str, not_id: int) -> int | None:
    """The one live contact whose operator-maintained email/phone is this value (rule 3
    of the linking rules), or None when none or several."""
    col = "email" if kind == "email" else "phone"
    ids = [r["id"] for r in await conn.fetch(
        f"SELECT id FROM contacts WHERE merged_into IS NULL AND {col} = $1 AND id <> $2"
        " LIMIT 2", value, not_id)]
    return int(ids[0]) if len(ids) == 1 else None


async def attach_identity(conn: asyncpg.Connection, kind: str, value: str, contact_id: int
                          ) -> int:
    """Put the verified identity on the contact unless someone owns it; the owner."""
    await conn.execute(
        "INSERT INTO identities (kind, value, contact_id) VALUES ($1, $2, $3)"
        " ON CONFLICT (kind, value) DO NOTHING", kind, value, contact_id)
    return int(await conn.fetchval(
        "SELECT contact_id FROM identities WHERE kind = $1 AND value = $2", kind, value))


async def settle_claim(conn: asyncpg.Connection, contact_id: int, kind: str, value: str
                       ) -> None:
    """The verified value is an identity now: drop the claim, fill the empty CRM column."""
    col = "email" if kind == "email" else "phone"
    await conn.execute("DELETE FROM identity_claims WHERE contact_id = $1 AND kind = $2"
                       " AND value = $3", contact_id, kind, value)
    await conn.execute(f"UPDATE contacts SET {col} = coalesce({col}, $2) WHERE id = $1",
                       contact_id, value)


async def audit(conn: asyncpg.Connection, actor_id: int | None, action: str, subject: str,
                details: str) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor_id, action, subject, details) VALUES ($1, $2, $3,"
        " $4::jsonb)", actor_id, action, subject, details)


async def contact_verifications(conn: asyncpg.Connection | asyncpg.Pool, contact_id: int
                                ) -> list[dict[str, Any]]:
    """The latest verification of each claimed value of the contact (agent view)."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (kind, value) id, kind, value, conversation_id, via, attempts,"
        " status, delivery, delivery_error, created_by, created_at, expires_at, finished_at"
        " FROM identity_verifications WHERE contact_id = $1 OR linked_contact_id = $1"
        " ORDER BY kind, value, id DESC", contact_id)
    return [dict(r) for r in rows]


async def pending_for_conversation(conn: asyncpg.Connection | asyncpg.Pool,
                                   conversation_id: int, claimant: str
                                   ) -> asyncpg.Record | None:
    """The open verification a (re)connecting widget should prompt for."""
    return await conn.fetchrow(
        f"SELECT {_COLS} FROM identity_verifications WHERE conversation_id = $1"
        " AND claimant = $2 AND status = 'pending' AND expires_at > now()"
        " AND delivery <> 'failed' ORDER BY id DESC LIMIT 1", conversation_id, claimant)
