"""Persist a batch of inbound envelopes in one transaction, idempotently.

The generic steps (contacts, conversations, work items, messages) are in
``hub.conversations.store.ingest_rows``; voice items go to ``hub.voice.store.calls``, email threading,
bounces and acknowledgements to ``hub.email.store.cases``, pre-chat answers to
``hub.contacts.store.prechat``.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from hub.contacts.rules.identity import identity_key
from hub.contacts.store.linking import resolve_sender_contacts
from hub.contacts.store.prechat import record_submissions
from hub.conversations.store.ingest_rows import (
    BatchResult,
    InboxCache,
    existing_keys,
    insert_messages,
    open_conversations,
)
from hub.email.store import cases as email_cases
from hub.email.store.cases import EmailOptions
from hub.schema import Author, Envelope, MessageCreated
from hub.voice.store.calls import is_voice_item, persist_voice_batch

__all__ = ["BatchResult", "InboxCache", "persist_inbound_batch"]


async def persist_inbound_batch(
    conn: asyncpg.Connection, batch: Sequence[tuple[str, Envelope]],
    inbox_cache: InboxCache | None = None, *, email: EmailOptions | None = None,
) -> BatchResult:
    """Store a batch of inbound envelopes (ingest id, envelope) inside the caller's
    transaction. Returns the events to publish after commit (and the email cases whose
    acknowledgement job to enqueue after commit)."""
    result = BatchResult()
    unique: dict[tuple[str, str, str], tuple[int, str, Envelope]] = {}
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
    todo: list[tuple[int, str, Envelope]] = []
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
    # Voice items (call events, callback requests) are applied by hub/voice/store/calls.py.
    voice = [item for item in todo if is_voice_item(item[2])]
    if voice:
        todo = [item for item in todo if not is_voice_item(item[2])]
        await persist_voice_batch(conn, voice, inboxes, result)
    if not todo:
        return result

    bounces = [item for item in todo if email_cases.is_bounce(item[2])]
    if bounces:  # never a case: they mark our outbound message failed
        await email_cases.apply_bounces(conn, bounces, result)
        todo = [item for item in todo if not email_cases.is_bounce(item[2])]
        if not todo:
            return result

    mail = [item for item in todo if item[2].channel == "email"]
    if mail:
        await email_cases.lock_threads(conn, mail)
    contacts = await resolve_sender_contacts(conn, [e for _, _, e in todo])
    # batch index -> (conversation id, inbox)
    conv_of: dict[int, tuple[int, str]] = {}
    wanted_convs: dict[tuple[int, str], tuple[str, str, str, str]] = {}
    for _, _, e in todo:
        if e.channel != "email":
            cid, cname = contacts[identity_key(e.sender)]
            wanted_convs.setdefault(
                (cid, e.channel_account),
                (e.channel, identity_key(e.sender), e.subject, cname),
            )
    if wanted_convs:
        convs = await open_conversations(conn, wanted_convs, inboxes, result.events)
        for index, _, e in todo:
            if e.channel != "email":
                conv = convs[(contacts[identity_key(e.sender)][0], e.channel_account)]
                conv_of[index] = (conv.id, conv.inbox)
    threads = None
    if mail:
        threads = await email_cases.thread_emails(conn, mail, contacts, inboxes, result,
                                                  email or email_cases.EmailOptions())
        conv_of.update(threads.conversation_of)
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
    if threads is not None:
        await email_cases.record_email_messages(conn, messages, mail, threads, result)
    if any(e.prechat is not None for _, _, e in todo):
        await record_submissions(conn, messages, [e for _, _, e in todo], inbox_of)
    result.stored = len(messages)
    result.duplicates += len(todo) - len(messages)
    return result
