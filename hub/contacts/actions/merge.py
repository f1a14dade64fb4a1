"""Merge and split contacts (docs/identity.md, "Merge and split").

Each runs in one transaction: contact rows are locked in id order (so concurrent merges
of overlapping pairs serialise instead of deadlocking), then their conversations; rows
move with UPDATEs, so no message is copied or dropped. The audit row records every id
that moved, which is what a split uses to undo a merge. Events go through the outbox
and are published after commit. The SQL is in hub/contacts/store/merging.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub import access
from hub.contacts.rules.identity import identity_key, parse_identity_key
from hub.contacts.store import merging as store
from hub.errors import BadInput, Conflict, Forbidden, NotFound
from hub.outbox import Publisher
from hub.schema import (
    Agent,
    AnyEvent,
    ContactMerged,
    ContactSplit,
    ConversationStatusChanged,
    MessageCreated,
    WorkItemUpdated,
)
from hub.unit_of_work import unit_of_work

if TYPE_CHECKING:
    import asyncpg


async def _check_visible(conn: asyncpg.Connection, actor: Agent, contact_id: int) -> None:
    if access.allows(actor, "contact.see_all"):
        return
    if not await store.contact_has_conversation_in(conn, contact_id, actor.inboxes):
        raise Forbidden(f"contact {contact_id} has no conversation in your inboxes")


async def _system_note(conn: asyncpg.Connection, conv: asyncpg.Record, text: str
                       ) -> MessageCreated:
    return MessageCreated(inbox=conv["inbox"],
                          message=await store.insert_system_note(conn, conv, text))


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
    contacts = await store.lock_contacts(conn, [survivor_id, merged_id])
    for cid in (survivor_id, merged_id):
        if cid not in contacts:
            raise NotFound(f"no such contact {cid}")
        if contacts[cid]["merged_into"] is not None:
            raise Conflict(f"contact {cid} was already merged into"
                           f" {contacts[cid]['merged_into']}")
        if proof is None:
            await _check_visible(conn, actor, cid)
    keep, gone = contacts[survivor_id], contacts[merged_id]

    convs = await store.lock_conversations_of(conn, [survivor_id, merged_id])
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
        await store.resolve_conversation(conn, c["id"])
        events.append(ConversationStatusChanged(
            inbox=c["inbox"], conversation_id=c["id"], status="resolved",
            by_agent_id=actor.id))
        item = await store.cancel_open_work_item(conn, c["id"])
        if item is not None:
            events.append(WorkItemUpdated(inbox=c["inbox"], work_item=item))
        events.append(await _system_note(
            conn, c, f"Contacts merged: this conversation continues in #{other['id']}."))
        events.append(await _system_note(
            conn, other, f"Contacts merged: #{c['id']} (same customer, same inbox) was"
            " resolved into this conversation; its messages are in the contact"
            " timeline."))
        resolved.append({"conversation_id": c["id"], "into": other["id"],
                         "status": c["status"]})

    moved_convs = await store.move_conversations_to_contact(conn, survivor_id, merged_id)
    identities = await store.move_identities_to_contact(conn, survivor_id, merged_id)
    # A claim of something the survivor now owns has been settled (dropped).
    claims = await store.move_claims_to_contact(conn, survivor_id, merged_id)
    moved = await store.move_crm_records(conn, survivor_id, merged_id)
    # The survivor keeps its profile; empty fields are filled from the other.
    await store.fill_profile_gaps(conn, survivor_id, email=gone["email"],
                                  phone=gone["phone"], name=gone["name"])
    await store.set_merged_into(conn, merged_id, survivor_id)
    details = {
        "survivor_id": survivor_id, "merged_id": merged_id,
        "identities": identities, "claims": claims, "conversations": moved_convs,
        "resolved_conversations": resolved, **moved,
        "merged_profile": {k: gone[k] for k in ("name", "email", "phone", "locale",
                                                  "tier")},
        "survivor_profile": {k: keep[k] for k in ("name", "email", "phone")},
        **({"proof": proof} if proof else {}),
    }
    audit_id = await store.insert_audit(conn, actor.id, "contact.merge",
                                        f"contact:{survivor_id}", details)
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
        entry = await store.audit_entry(pool, undo_merge)
        if entry is None or entry[0] != "contact.merge":
            raise NotFound("no such merge")
        merge = entry[1]
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
            contacts = await store.lock_contacts(conn, ids)
            if contact_id not in contacts:
                raise NotFound("no such contact")
            if contacts[contact_id]["merged_into"] is not None:
                raise Conflict(f"contact {contact_id} was merged into"
                               f" {contacts[contact_id]['merged_into']}")
            owned = await store.identity_keys_of(conn, contact_id)
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
                await store.set_merged_into(conn, target, None)
            else:
                first = parse_identity_key(keys[0])
                email = next((k[6:] for k in keys if k.startswith("email:")), None)
                phone = next((k[6:] for k in keys if k.startswith("phone:")), None)
                target = await store.insert_split_contact(
                    conn, name=name or first.value, email=email, phone=phone,
                    like_contact=contact_id)
            await store.move_identities_by_key(conn, target, contact_id, keys)
            conv_filter = list(merge["conversations"]) if merge else []
            moved_convs = await store.move_conversations_by_identity(
                conn, target, contact_id, keys, conv_filter)
            moved: dict[str, list[str]] = {}
            if merge is not None:
                moved = await store.move_crm_records(conn, target, contact_id, only=merge)
            details = {
                "contact_id": contact_id, "new_contact_id": target, "identities": keys,
                "conversations": moved_convs, "undo_merge": undo_merge, **moved,
            }
            audit_id = await store.insert_audit(conn, actor.id, "contact.split",
                                                f"contact:{contact_id}", details)
            events.append(ContactSplit(contact_id=contact_id, new_contact_id=target,
                                       conversation_ids=moved_convs, by_agent_id=actor.id))
            await uow.emit(events)
    return {"contact_id": contact_id, "new_contact_id": target, "audit_id": audit_id,
            "identities": keys, "conversations": moved_convs}
