"""Merge and split contacts (docs/identity.md, "Merge and split").

Each runs in one transaction: contact rows are locked in id order (so concurrent merges
of overlapping pairs serialise instead of deadlocking), then their conversations; rows
move with UPDATEs, so no message is copied or dropped. The audit row records every id
that moved, which is what a split uses to undo a merge. Events go through the outbox
and are published after commit.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from hub import access
from hub.contacts.rules.identity import identity_key, parse_identity_key
from hub.conversations.store.queries import message_from
from hub.errors import BadInput, Conflict, Forbidden, NotFound
from hub.outbox import Publisher
from hub.schema import (
    Agent,
    AnyEvent,
    ContactMerged,
    ContactSplit,
    ConversationStatusChanged,
    MessageCreated,
    WorkItem,
    WorkItemUpdated,
)
from hub.unit_of_work import unit_of_work

_MSG_COLS = ("id, conversation_id, direction, author_kind, author_name, agent_id, text, html,"
             " private, channel, provider_id, status, attachments, created_at")


async def _lock_contacts(conn: asyncpg.Connection, ids: list[int]) -> dict[int, asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT id, name, email, phone, locale, tier, merged_into FROM contacts"
        " WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE", ids)
    return {r["id"]: r for r in rows}


async def _check_visible(conn: asyncpg.Connection, actor: Agent, contact_id: int) -> None:
    if access.allows(actor, "contact.see_all"):
        return
    ok = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM conversations WHERE contact_id = $1"
        " AND inbox = ANY($2::text[]))", contact_id, actor.inboxes)
    if not ok:
        raise Forbidden(f"contact {contact_id} has no conversation in your inboxes")


async def _system_note(conn: asyncpg.Connection, conv: asyncpg.Record, text: str
                       ) -> MessageCreated:
    """A private note authored by the system: visible to agents, never sent."""
    row = await conn.fetchrow(
        "INSERT INTO messages (conversation_id, channel, channel_account, provider_id,"
        " direction, author_kind, author_name, text, private, status)"
        " VALUES ($1, $2, $3, $4, 'out', 'system', 'omnihub', $5, true, 'sent')"
        f" RETURNING {_MSG_COLS}",
        conv["id"], conv["channel"], conv["inbox"], f"system:{uuid.uuid4()}", text,
    )
    return MessageCreated(inbox=conv["inbox"], message=message_from(row))


async def _audit(conn: asyncpg.Connection, actor: Agent, action: str, subject: str,
                 details: dict[str, Any]) -> int:
    return int(await conn.fetchval(
        "INSERT INTO audit_log (actor_id, action, subject, details) VALUES ($1, $2, $3, $4)"
        " RETURNING id", actor.id, action, subject, json.dumps(details, default=str)))


async def merge_contacts(pool: asyncpg.Pool, publisher: Publisher, actor: Agent,
                         survivor_id: int, merged_id: int) -> dict[str, Any]:
    """Merge ``merged_id`` into ``survivor_id``. Agents and above; an agent must share an
    inbox with both contacts."""
    async with unit_of_work(pool, publisher) as uow:
        async with uow.transaction() as conn:
            result, events = await merge_in_transaction(conn, actor, survivor_id, merged_id)
            await uow.emit(events)
    return result


async def merge_in_transaction(conn: asyncpg.Connection, actor: Agent, survivor_id: int,
                               merged_id: int, *, proof: dict[str, Any] | None = None
                               ) -> tuple[dict[str, Any], list[AnyEvent]]:
    """The merge, inside the caller's transaction; returns the result and the events for
    the caller's outbox. ``proof`` (a verified one-time code, hub/contacts/actions/verification.py)
    replaces the agent's inbox check: the customer proved they own the identity, so the
    merge does not depend on which inboxes the agent works in. It is kept in the audit."""
    if survivor_id == merged_id:
        raise BadInput("cannot merge a contact into itself")
    events: list[AnyEvent] = []
    contacts = await _lock_contacts(conn, [survivor_id, merged_id])
    for cid in (survivor_id, merged_id):
        if cid not in contacts:
            raise NotFound(f"no such contact {cid}")
        if contacts[cid]["merged_into"] is not None:
            raise Conflict(f"contact {cid} was already merged into"
                           f" {contacts[cid]['merged_into']}")
        if proof is None:
            await _check_visible(conn, actor, cid)
    keep, gone = contacts[survivor_id], contacts[merged_id]

    convs = await conn.fetch(
        "SELECT id, inbox, channel, contact_id, status, assignee_id, thread_key"
        " FROM conversations"
        " WHERE contact_id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE",
        [survivor_id, merged_id])
    # One open conversation per contact and inbox (email cases, which carry a
    # thread key, are exempt): the merged contact's one is resolved with a note
    # in both, its messages stay where they are.
    open_kept = {c["inbox"]: c for c in convs if c["contact_id"] == survivor_id
                 and c["status"] != "resolved" and c["thread_key"] is None}
    resolved: list[dict[str, int]] = []
    for c in convs:
        if (c["contact_id"] != merged_id or c["status"] == "resolved"
                or c["thread_key"] is not None):
            continue
        other = open_kept.get(c["inbox"])
        if other is None:
            continue
        await conn.execute(
            "UPDATE conversations SET status = 'resolved' WHERE id = $1", c["id"])
        events.append(ConversationStatusChanged(
            inbox=c["inbox"], conversation_id=c["id"], status="resolved",
            by_agent_id=actor.id))
        item = await conn.fetchrow(
            "UPDATE work_items SET status = 'cancelled', updated_at = now()"
            " WHERE conversation_id = $1 AND status NOT IN ('completed', 'cancelled')"
            " RETURNING id, conversation_id, queue, channel, status, priority,"
            " agent_id, created_at", c["id"])
        if item is not None:
            events.append(WorkItemUpdated(inbox=c["inbox"],
                                          work_item=WorkItem(**dict(item))))
        events.append(await _system_note(
            conn, c, f"Contacts merged: this conversation continues in #{other['id']}."))
        events.append(await _system_note(
            conn, other, f"Contacts merged: #{c['id']} (same customer, same inbox) was"
            " resolved into this conversation; its messages are in the contact"
            " timeline."))
        resolved.append({"conversation_id": c["id"], "into": other["id"],
                         "status": c["status"]})

    moved_convs = [r["id"] for r in await conn.fetch(
        "UPDATE conversations SET contact_id = $1 WHERE contact_id = $2 RETURNING id",
        survivor_id, merged_id)]
    identities = [f"{r['kind']}:{r['value']}" for r in await conn.fetch(
        "UPDATE identities SET contact_id = $1 WHERE contact_id = $2"
        " RETURNING kind, value", survivor_id, merged_id)]
    claims = [f"{r['kind']}:{r['value']}" for r in await conn.fetch(
        "WITH gone AS (DELETE FROM identity_claims WHERE contact_id = $2"
        "  RETURNING kind, value, source, created_at),"
        " ins AS (INSERT INTO identity_claims (contact_id, kind, value, source,"
        "  created_at) SELECT $1, kind, value, source, created_at FROM gone"
        "  ON CONFLICT DO NOTHING)"
        " SELECT kind, value FROM gone", survivor_id, merged_id)]
    # A claim of something the survivor now owns has been settled.
    await conn.execute(
        "DELETE FROM identity_claims cl USING identities i WHERE cl.contact_id = $1"
        " AND i.contact_id = $1 AND i.kind = cl.kind AND i.value = cl.value",
        survivor_id)
    moved: dict[str, list[str]] = {}
    for table, col in (("customer_accounts", "account_no"), ("orders", "order_no"),
                       ("invoices", "invoice_no")):
        moved[table] = [r[0] for r in await conn.fetch(
            f"UPDATE {table} SET contact_id = $1 WHERE contact_id = $2"
            f" RETURNING {col}", survivor_id, merged_id)]
    # The survivor keeps its profile; empty fields are filled from the other.
    await conn.execute(
        "UPDATE contacts SET email = coalesce(email, $2), phone = coalesce(phone, $3),"
        " name = CASE WHEN name = '' THEN $4 ELSE name END WHERE id = $1",
        survivor_id, gone["email"], gone["phone"], gone["name"])
    await conn.execute("UPDATE contacts SET merged_into = $1 WHERE id = $2",
                       survivor_id, merged_id)
    audit_id = await _audit(conn, actor, "contact.merge", f"contact:{survivor_id}", {
        "survivor_id": survivor_id, "merged_id": merged_id,
        "identities": identities, "claims": claims, "conversations": moved_convs,
        "resolved_conversations": resolved, **moved,
        "merged_profile": {k: gone[k] for k in ("name", "email", "phone", "locale",
                                                  "tier")},
        "survivor_profile": {k: keep[k] for k in ("name", "email", "phone")},
        **({"proof": proof} if proof else {}),
    })
    events.append(ContactMerged(survivor_id=survivor_id, merged_id=merged_id,
                                conversation_ids=moved_convs, by_agent_id=actor.id))
    return ({"contact_id": survivor_id, "merged_id": merged_id, "audit_id": audit_id,
             "identities": identities, "conversations": moved_convs,
             "resolved_conversations": resolved}, events)


async def split_contact(pool: asyncpg.Pool, publisher: Publisher, actor: Agent,
                        contact_id: int, identity_keys: list[str], *, name: str = "",
                        undo_merge: int | None = None) -> dict[str, Any]:
    """Move the chosen identities, and the conversations they opened, to a new contact
    (or, with ``undo_merge``, back to the contact that merge tombstoned, with its
    accounts, orders and invoices). Supervisors and admins only."""
    access.require(actor, "contact.split")
    merge: dict[str, Any] | None = None
    if undo_merge is not None:
        row = await pool.fetchrow("SELECT action, details FROM audit_log WHERE id = $1",
                                  undo_merge)
        if row is None or row["action"] != "contact.merge":
            raise NotFound("no such merge")
        merge = json.loads(row["details"])
        if merge["survivor_id"] != contact_id:
            raise BadInput(f"that merge was into contact {merge['survivor_id']}")
        if not identity_keys:
            identity_keys = list(merge["identities"])
    keys = sorted({identity_key(parse_identity_key(k)) for k in identity_keys})
    if not keys:
        raise BadInput("identities: choose at least one")
    if len(name) > 200:
        raise BadInput("name: at most 200 characters")
    events: list[AnyEvent] = []
    async with unit_of_work(pool, publisher) as uow:
        async with uow.transaction() as conn:
            ids = [contact_id] + ([merge["merged_id"]] if merge else [])
            contacts = await _lock_contacts(conn, ids)
            if contact_id not in contacts:
                raise NotFound("no such contact")
            if contacts[contact_id]["merged_into"] is not None:
                raise Conflict(f"contact {contact_id} was merged into"
                               f" {contacts[contact_id]['merged_into']}")
            owned = {f"{r['kind']}:{r['value']}" for r in await conn.fetch(
                "SELECT kind, value FROM identities WHERE contact_id = $1", contact_id)}
            foreign = [k for k in keys if k not in owned]
            if foreign and merge is None:
                raise BadInput(f"not identities of contact {contact_id}: {', '.join(foreign)}")
            keys = [k for k in keys if k in owned]  # undo: skip ones moved on since
            if not keys:
                raise Conflict("none of those identities is on this contact any more")
            if len(keys) == len(owned):
                raise BadInput("leave at least one identity on the contact")
            if merge is not None:
                target = merge["merged_id"]
                if contacts.get(target) is None or contacts[target]["merged_into"] != contact_id:
                    raise Conflict("that merge was already undone")
                await conn.execute("UPDATE contacts SET merged_into = NULL WHERE id = $1", target)
            else:
                first = parse_identity_key(keys[0])
                email = next((k[6:] for k in keys if k.startswith("email:")), None)
                phone = next((k[6:] for k in keys if k.startswith("phone:")), None)
                target = int(await conn.fetchval(
                    "INSERT INTO contacts (name, email, phone, locale, tier)"
                    " SELECT $1, $2, $3, locale, tier FROM contacts WHERE id = $4 RETURNING id",
                    name or first.value, email, phone, contact_id))
            kinds = [k.split(":", 1)[0] for k in keys]
            values = [k.split(":", 1)[1] for k in keys]
            await conn.execute(
                "UPDATE identities i SET contact_id = $1 FROM unnest($2::text[], $3::text[])"
                " AS k(kind, value) WHERE i.kind = k.kind AND i.value = k.value"
                " AND i.contact_id = $4", target, kinds, values, contact_id)
            conv_filter = list(merge["conversations"]) if merge else []
            moved_convs = [r["id"] for r in await conn.fetch(
                "UPDATE conversations SET contact_id = $1 WHERE contact_id = $2"
                " AND (contact_identity = ANY($3::text[]) OR id = ANY($4::bigint[]))"
                " RETURNING id", target, contact_id, keys, conv_filter)]
            moved: dict[str, list[str]] = {}
            if merge is not None:
                for table, col in (("customer_accounts", "account_no"), ("orders", "order_no"),
                                   ("invoices", "invoice_no")):
                    moved[table] = [r[0] for r in await conn.fetch(
                        f"UPDATE {table} SET contact_id = $1 WHERE contact_id = $2"
                        f" AND {col} = ANY($3::text[]) RETURNING {col}",
                        target, contact_id, list(merge.get(table, [])))]
            audit_id = await _audit(conn, actor, "contact.split", f"contact:{contact_id}", {
                "contact_id": contact_id, "new_contact_id": target, "identities": keys,
                "conversations": moved_convs, "undo_merge": undo_merge, **moved,
            })
            events.append(ContactSplit(contact_id=contact_id, new_contact_id=target,
                                       conversation_ids=moved_convs, by_agent_id=actor.id))
            await uow.emit(events)
    return {"contact_id": contact_id, "new_contact_id": target, "audit_id": audit_id,
            "identities": keys, "conversations": moved_convs}
