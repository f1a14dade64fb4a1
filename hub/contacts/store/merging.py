"""SQL of merging and splitting contacts (hub/contacts/actions/merge.py): the row locks,
the moves of conversations, identities, claims and CRM records between contacts, the
system notes left in resolved conversations, and the audit rows a split reads back."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from hub.conversations.store.queries import message_from
from hub.schema import Message, WorkItem

_MSG_COLS = ("id, conversation_id, direction, author_kind, author_name, agent_id, text, html,"
             " private, channel, provider_id, status, attachments, created_at")
# The customer's records in the CRM tables, each with the column that names it.
CRM_TABLES = (("customer_accounts", "account_no"), ("orders", "order_no"),
              ("invoices", "invoice_no"))


async def lock_contacts(conn: asyncpg.Connection, ids: list[int]) -> dict[int, asyncpg.Record]:
    """Lock in id order, so concurrent merges of overlapping pairs serialise."""
    rows = await conn.fetch(
        "SELECT id, name, email, phone, locale, tier, merged_into FROM contacts"
        " WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE", ids)
    return {r["id"]: r for r in rows}


async def contact_has_conversation_in(conn: asyncpg.Connection, contact_id: int,
                                      inboxes: Sequence[str]) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM conversations WHERE contact_id = $1"
        " AND inbox = ANY($2::text[]))", contact_id, list(inboxes)))


async def lock_conversations_of(conn: asyncpg.Connection, contact_ids: list[int]
                                ) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT id, inbox, channel, contact_id, status, assignee_id, thread_key"
        " FROM conversations"
        " WHERE contact_id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE",
        contact_ids))


async def resolve_conversation(conn: asyncpg.Connection, conversation_id: int) -> None:
    await conn.execute(
        "UPDATE conversations SET status = 'resolved' WHERE id = $1", conversation_id)


async def cancel_open_work_item(conn: asyncpg.Connection, conversation_id: int
                                ) -> WorkItem | None:
    item = await conn.fetchrow(
        "UPDATE work_items SET status = 'cancelled', updated_at = now()"
        " WHERE conversation_id = $1 AND status NOT IN ('completed', 'cancelled')"
        " RETURNING id, conversation_id, queue, channel, status, priority,"
        " agent_id, created_at", conversation_id)
    return None if item is None else WorkItem(**dict(item))


async def insert_system_note(conn: asyncpg.Connection, conv: Mapping[str, Any],
                             text: str) -> Message:
    """A private note authored by the system: visible to agents, never sent."""
    row = await conn.fetchrow(
        "INSERT INTO messages (conversation_id, channel, channel_account, provider_id,"
        " direction, author_kind, author_name, text, private, status)"
        " VALUES ($1, $2, $3, $4, 'out', 'system', 'omnihub', $5, true, 'sent')"
        f" RETURNING {_MSG_COLS}",
        conv["id"], conv["channel"], conv["inbox"], f"system:{uuid.uuid4()}", text,
    )
    return message_from(row)


async def move_conversations_to_contact(conn: asyncpg.Connection, survivor_id: int,
                                        merged_id: int) -> list[int]:
    return [r["id"] for r in await conn.fetch(
        "UPDATE conversations SET contact_id = $1 WHERE contact_id = $2 RETURNING id",
        survivor_id, merged_id)]


async def move_identities_to_contact(conn: asyncpg.Connection, survivor_id: int,
                                     merged_id: int) -> list[str]:
    """Returns the moved identities as ``kind:value`` keys."""
    return [f"{r['kind']}:{r['value']}" for r in await conn.fetch(
        "UPDATE identities SET contact_id = $1 WHERE contact_id = $2"
        " RETURNING kind, value", survivor_id, merged_id)]


async def move_claims_to_contact(conn: asyncpg.Connection, survivor_id: int,
                                 merged_id: int) -> list[str]:
    """Move the merged contact's claims (one the survivor already has is dropped), then
    drop the survivor's claims of what it now owns: those are settled. Returns the moved
    claims as ``kind:value`` keys."""
    claims = [f"{r['kind']}:{r['value']}" for r in await conn.fetch(
        "WITH gone AS (DELETE FROM identity_claims WHERE contact_id = $2"
        "  RETURNING kind, value, source, created_at),"
        " ins AS (INSERT INTO identity_claims (contact_id, kind, value, source,"
        "  created_at) SELECT $1, kind, value, source, created_at FROM gone"
        "  ON CONFLICT DO NOTHING)"
        " SELECT kind, value FROM gone", survivor_id, merged_id)]
    await conn.execute(
        "DELETE FROM identity_claims cl USING identities i WHERE cl.contact_id = $1"
        " AND i.contact_id = $1 AND i.kind = cl.kind AND i.value = cl.value",
        survivor_id)
    return claims


async def move_crm_records(conn: asyncpg.Connection, to_contact: int, from_contact: int,
                           only: Mapping[str, Sequence[str]] | None = None
                           ) -> dict[str, list[str]]:
    """Move the CRM records (accounts, orders, invoices) between contacts: all of them,
    or with ``only`` just the ones named per table. Returns what moved, per table."""
    moved: dict[str, list[str]] = {}
    for table, col in CRM_TABLES:
        if only is None:
            rows = await conn.fetch(
                f"UPDATE {table} SET contact_id = $1 WHERE contact_id = $2"
                f" RETURNING {col}", to_contact, from_contact)
        else:
            rows = await conn.fetch(
                f"UPDATE {table} SET contact_id = $1 WHERE contact_id = $2"
                f" AND {col} = ANY($3::text[]) RETURNING {col}",
                to_contact, from_contact, list(only.get(table, [])))
        moved[table] = [r[0] for r in rows]
    return moved


async def fill_profile_gaps(conn: asyncpg.Connection, contact_id: int, *, email: str | None,
                            phone: str | None, name: str) -> None:
    """The contact keeps its profile; only empty fields take the given values."""
    await conn.execute(
        "UPDATE contacts SET email = coalesce(email, $2), phone = coalesce(phone, $3),"
        " name = CASE WHEN name = '' THEN $4 ELSE name END WHERE id = $1",
        contact_id, email, phone, name)


async def set_merged_into(conn: asyncpg.Connection, contact_id: int,
                          survivor_id: int | None) -> None:
    """Tombstone the contact (None: undo the tombstone)."""
    if survivor_id is None:
        await conn.execute("UPDATE contacts SET merged_into = NULL WHERE id = $1", contact_id)
    else:
        await conn.execute("UPDATE contacts SET merged_into = $1 WHERE id = $2",
                           survivor_id, contact_id)


async def insert_audit(conn: asyncpg.Connection, actor_id: int, action: str, subject: str,
                       details: Mapping[str, Any]) -> int:
    return int(await conn.fetchval(
        "INSERT INTO audit_log (actor_id, action, subject, details) VALUES ($1, $2, $3, $4)"
        " RETURNING id", actor_id, action, subject, json.dumps(details, default=str)))


async def audit_entry(conn: asyncpg.Connection | asyncpg.Pool, audit_id: int
                      ) -> tuple[str, dict[str, Any]] | None:
    """(action, details) of an audit row: what a split reads to undo a merge."""
    row = await conn.fetchrow("SELECT action, details FROM audit_log WHERE id = $1",
                              audit_id)
    return None if row is None else (row["action"], json.loads(row["details"]))


async def identity_keys_of(conn: asyncpg.Connection, contact_id: int) -> set[str]:
    return {f"{r['kind']}:{r['value']}" for r in await conn.fetch(
        "SELECT kind, value FROM identities WHERE contact_id = $1", contact_id)}


async def insert_split_contact(conn: asyncpg.Connection, *, name: str, email: str | None,
                               phone: str | None, like_contact: int) -> int:
    """A new contact with the given profile and ``like_contact``'s locale and tier."""
    return int(await conn.fetchval(
        "INSERT INTO contacts (name, email, phone, locale, tier)"
        " SELECT $1, $2, $3, locale, tier FROM contacts WHERE id = $4 RETURNING id",
        name, email, phone, like_contact))


async def move_identities_by_key(conn: asyncpg.Connection, to_contact: int,
                                 from_contact: int, keys: Sequence[str]) -> None:
    """Move the ``kind:value`` identities that ``from_contact`` still owns."""
    await conn.execute(
        "UPDATE identities i SET contact_id = $1 FROM unnest($2::text[], $3::text[])"
        " AS k(kind, value) WHERE i.kind = k.kind AND i.value = k.value"
        " AND i.contact_id = $4", to_contact, [k.split(":", 1)[0] for k in keys],
        [k.split(":", 1)[1] for k in keys], from_contact)


async def move_conversations_by_identity(conn: asyncpg.Connection, to_contact: int,
                                         from_contact: int, identity_keys: Sequence[str],
                                         conversation_ids: Sequence[int]) -> list[int]:
    """Move the conversations those identities opened, and the listed ones."""
    return [r["id"] for r in await conn.fetch(
        "UPDATE conversations SET contact_id = $1 WHERE contact_id = $2"
        " AND (contact_identity = ANY($3::text[]) OR id = ANY($4::bigint[]))"
        " RETURNING id", to_contact, from_contact, list(identity_keys),
        list(conversation_ids))]
