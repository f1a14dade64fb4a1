"""Persist a batch of inbound envelopes in one transaction, idempotently.

The generic steps (contacts, conversations, work items, messages) are in
``hub.conversations.store.ingest_rows``. What a channel adds (call events, bounces,
threading into cases, pre-chat answers) comes from the table of ingest steps,
``hub/ingest_steps.py`` (protocols and order: ``hub/conversations/steps.py``): this
module names no channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from hub.contacts.rules.identity import identity_key
from hub.contacts.store.linking import resolve_sender_contacts
from hub.conversations.steps import IngestSteps, Item, ThreadStep
from hub.conversations.store.ingest_rows import (
    BatchResult,
    InboxCache,
    existing_keys,
    insert_messages,
    open_conversations,
)
from hub.ingest_steps import DEFAULT_STEPS
from hub.schema import Author, Envelope, MessageCreated

__all__ = ["BatchResult", "InboxCache", "persist_inbound_batch"]


async def persist_inbound_batch(
    conn: asyncpg.Connection, batch: Sequence[tuple[str, Envelope]],
    inbox_cache: InboxCache | None = None, *, steps: IngestSteps = DEFAULT_STEPS,
) -> BatchResult:
    """Store a batch of inbound envelopes (ingest id, envelope) inside the caller's
    transaction. Returns the events to publish after commit (and the jobs the steps ask
    to enqueue after commit)."""
    result = BatchResult()
    unique: dict[tuple[str, str, str], Item] = {}
    key: tuple[str, str, str]
    for index, (ingest_id, env) in enumerate(batch):
        key = (env.channel, env.channel_account, env.provider_id)
        if key in unique:
            result.duplicates += 1
        else:
            unique[key] = (index, ingest_id, env)
    if not unique:
        return result
    inboxes = await (inbox_cache or InboxCache()).get(
        conn, {e.channel_account for _, _, e in unique.values()})
    existing = await existing_keys(conn, [e for _, _, e in unique.values()])
    todo: list[Item] = []
    for key, item in unique.items():
        env = item[2]
        if key in existing:
            result.duplicates += 1
        elif env.channel_account not in inboxes:
            result.rejected.append((item[0], f"unknown inbox {env.channel_account!r}"))
        elif inboxes[env.channel_account].channel != env.channel:
            result.rejected.append((item[0], f"inbox {env.channel_account!r} is not a"
                                             f" {env.channel} inbox"))
        elif env.direction != "in":
            result.rejected.append((item[0], "outbound envelopes go through hub.conversations.actions"))
        else:
            todo.append(item)
    for apart in steps.apart:  # stored by the step, never a message
        mine = [item for item in todo if apart.takes(item[2])]
        if mine:
            todo = [item for item in todo if not apart.takes(item[2])]
            await apart.store(conn, mine, inboxes, result)
        if not todo:
            return result

    threaded: list[tuple[ThreadStep, list[Item]]] = []
    for threader in steps.threaders:  # the step finds the conversation itself
        mine = [item for item in todo if threader.takes(item[2])]
        if mine:
            threaded.append((threader, mine))
            await threader.lock(conn, mine)
    own_thread = {item[0] for _, mine in threaded for item in mine}
    contacts = await resolve_sender_contacts(conn, [e for _, _, e in todo])
    # batch index -> (conversation id, inbox)
    conv_of: dict[int, tuple[int, str]] = {}
    wanted_convs: dict[tuple[int, str], tuple[str, str, str, str]] = {}
    for index, _, e in todo:
        if index not in own_thread:
            cid, cname = contacts[identity_key(e.sender)]
            wanted_convs.setdefault(
                (cid, e.channel_account),
                (e.channel, identity_key(e.sender), e.subject, cname),
            )
    if wanted_convs:
        convs = await open_conversations(conn, wanted_convs, inboxes, result.events)
        for index, _, e in todo:
            if index not in own_thread:
                conv = convs[(contacts[identity_key(e.sender)][0], e.channel_account)]
                conv_of[index] = (conv.id, conv.inbox)
    states: list[Any] = []
    for threader, mine in threaded:
        found, state = await threader.thread(conn, mine, contacts, inboxes, result)
        conv_of.update(found)
        states.append(state)
    rows = []
    for index, ingest_id, e in todo:
        cname = contacts[identity_key(e.sender)][1]
        # A widget visitor's own name is the contact's (the pre-chat name, or what an
        # agent set), not the "Visitor xxxxxx" placeholder every frame carries.
        name = cname if e.sender.kind == "visitor" and cname else e.sender_name or cname
        rows.append((e, conv_of[index][0], Author(kind="contact", name=name), ingest_id))
    messages = await insert_messages(conn, rows)
    inbox_of = dict(conv_of.values())
    result.events.extend(
        MessageCreated(inbox=inbox_of[m.conversation_id], message=m) for m in messages
    )
    for (threader, mine), state in zip(threaded, states, strict=True):
        await threader.after_messages(conn, messages, mine, state, result)
    for step in steps.after_messages:
        await step.after_messages(conn, messages, [e for _, _, e in todo], inbox_of)
    result.stored = len(messages)
    result.duplicates += len(todo) - len(messages)
    return result
