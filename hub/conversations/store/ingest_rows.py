"""The building blocks of inbound persistence, shared by every channel's step: batch
results, inbox facts, contacts, open conversations, work items and message rows.

Round trips are per batch, not per message: every step works on arrays (unnest).
Find-or-create always rests on a unique key (identities PK, the one-open-conversation
partial index, the message idempotency constraint), so concurrent pipeline consumers
cannot create duplicates; a lost race is resolved by re-reading.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import asyncpg

from hub.contacts.rules.prechat import routing_attributes as prechat_attributes
from hub.jobs import PendingJob
from hub.schema import (
    AnyEvent,
    Author,
    Conversation,
    ConversationCreated,
    Envelope,
    Message,
    WorkItem,
    WorkItemCreated,
    encode,
)


@dataclass(slots=True)
class BatchResult:
    events: list[AnyEvent] = field(default_factory=list)
    stored: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (index, reason)
    # Jobs the channel steps ask for (an email case's acknowledgement): enqueued after commit.
    jobs: list[PendingJob] = field(default_factory=list)


@dataclass(slots=True)
class InboxFacts:
    slug: str
    channel: str
    default_queue: str
    # The queue's cross-channel mode: 'join' puts a message from this inbox into the
    # contact's open conversation on another channel, 'separate' opens one here.
    cross_channel: str = "separate"
    # The active bot of the default queue: new work items go to it first (status 'bot').
    bot_id: int | None = None


class InboxCache:
    """Inbox routing facts, refreshed every few seconds: they change rarely and are
    read for every batch."""

    def __init__(self, ttl_s: float = 5.0) -> None:
        self._ttl = ttl_s
        self._loaded_at = -1e9
        self._inboxes: dict[str, InboxFacts] = {}

    async def get(self, conn: asyncpg.Connection, slugs: set[str]) -> dict[str, InboxFacts]:
        now = time.monotonic()
        if now - self._loaded_at > self._ttl or not slugs <= self._inboxes.keys():
            rows = await conn.fetch(
                "SELECT i.slug, i.channel, i.default_queue, q.cross_channel, b.id AS bot_id"
                " FROM inboxes i JOIN queues q ON q.slug = i.default_queue"
                " LEFT JOIN bots b ON b.id = q.bot_id AND b.active")
            self._inboxes = {r["slug"]: InboxFacts(r["slug"], r["channel"], r["default_queue"],
                                               r["cross_channel"], r["bot_id"])
                             for r in rows}
            self._loaded_at = now
        return {s: self._inboxes[s] for s in slugs if s in self._inboxes}


async def existing_keys(
    conn: asyncpg.Connection, envs: Sequence[Envelope]
) -> set[tuple[str, str, str]]:
    rows = await conn.fetch(
        "SELECT m.channel, m.channel_account, m.provider_id FROM messages m"
        " JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(ch, acc, pid)"
        "   ON m.channel = k.ch AND m.channel_account = k.acc AND m.provider_id = k.pid",
        [e.channel for e in envs],
        [e.channel_account for e in envs],
        [e.provider_id for e in envs],
    )
    return {(r[0], r[1], r[2]) for r in rows}


def conversation_from_row(r: asyncpg.Record, contact_name: str) -> Conversation:
    return Conversation(
        id=r["id"], inbox=r["inbox"], channel=r["channel"], contact_id=r["contact_id"],
        contact_name=contact_name, contact_identity=r["contact_identity"],
        status=r["status"], assignee_id=r["assignee_id"], subject=r["subject"],
        created_at=r["created_at"], last_message_at=r["last_message_at"],
    )


CONV_COLS = ("id, inbox, channel, contact_id, contact_identity, status, assignee_id, subject,"
              " created_at, last_message_at")


async def open_conversations(
    conn: asyncpg.Connection,
    wanted: dict[tuple[int, str], tuple[str, str, str, str]],
    inboxes: Mapping[str, InboxFacts],
    events: list[AnyEvent],
) -> dict[tuple[int, str], Conversation]:
    """(contact id, inbox) -> the open conversation, created when there is none.

    ``wanted`` values: (channel, identity key, subject, contact name). New
    conversations get a queued work item and their events appended to ``events``.
    """
    keys = sorted(wanted)
    contact_ids = [k[0] for k in keys]
    inbox_slugs = [k[1] for k in keys]
    result: dict[tuple[int, str], Conversation] = {}

    async def read(cids: list[int], slugs: list[str]) -> None:
        rows = await conn.fetch(
            f"SELECT {CONV_COLS} FROM conversations c"
            " JOIN unnest($1::bigint[], $2::text[]) AS k(k_cid, k_inbox)"
            "   ON c.contact_id = k.k_cid AND c.inbox = k.k_inbox AND c.status <> 'resolved'"
            "   AND c.thread_key IS NULL",
            cids, slugs,
        )
        for r in rows:
            key = (r["contact_id"], r["inbox"])
            result[key] = conversation_from_row(r, wanted[key][3])

    await read(contact_ids, inbox_slugs)
    missing = [k for k in keys if k not in result]
    joining = [k for k in missing if inboxes[k[1]].cross_channel == "join"]
    if joining:
        # The contact's most recently active open conversation, in any inbox.
        rows = await conn.fetch(
            f"SELECT DISTINCT ON (c.contact_id) {CONV_COLS} FROM conversations c"
            " WHERE c.contact_id = ANY($1::bigint[]) AND c.status <> 'resolved'"
            " ORDER BY c.contact_id, c.last_message_at DESC NULLS LAST, c.id DESC",
            list({k[0] for k in joining}),
        )
        open_by_contact = {r["contact_id"]: r for r in rows}
        for k in joining:
            r = open_by_contact.get(k[0])
            if r is not None:
                result[k] = conversation_from_row(r, wanted[k][3])
        missing = [k for k in missing if k not in result]
    if not missing:
        return result
    created = await conn.fetch(
        "INSERT INTO conversations (contact_id, inbox, channel, contact_identity, subject)"
        " SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])"
        " ON CONFLICT (contact_id, inbox) WHERE status <> 'resolved' AND thread_key IS NULL"
        " DO NOTHING"
        f" RETURNING {CONV_COLS}",
        [k[0] for k in missing], [k[1] for k in missing],
        [wanted[k][0] for k in missing], [wanted[k][1] for k in missing],
        [wanted[k][2] for k in missing],
    )
    new_convs = []
    for r in created:
        key = (r["contact_id"], r["inbox"])
        conv = conversation_from_row(r, wanted[key][3])
        result[key] = conv
        new_convs.append(conv)
    lost = [k for k in missing if k not in result]
    if lost:
        await read([k[0] for k in lost], [k[1] for k in lost])
    await create_work_items(conn, new_convs, inboxes, events)
    return result


async def create_work_items(
    conn: asyncpg.Connection, new_convs: Sequence[Conversation], inboxes: Mapping[str, InboxFacts],
    events: list[AnyEvent],
) -> None:
    """A work item in its inbox's default queue for each new conversation, and the
    conversation.created + workitem.created events. A queue with a bot gives the item to
    the bot (status 'bot', not routed) before humans."""
    if new_convs:
        bots = [inboxes[c.inbox].bot_id for c in new_convs]
        # The cache may be seconds old: a bot disabled since then is skipped here (the
        # live join), so its items go straight to humans (docs/bots.md).
        items = await conn.fetch(
            "INSERT INTO work_items (conversation_id, queue, channel, status, bot_id)"
            " SELECT u.c, u.q, u.ch, CASE WHEN b.id IS NULL THEN 'queued' ELSE 'bot' END,"
            " b.id FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[])"
            " WITH ORDINALITY AS u(c, q, ch, bot, n)"
            " LEFT JOIN bots b ON b.id = u.bot AND b.active ORDER BY u.n"
            " RETURNING id, conversation_id, queue, channel, status, priority, agent_id,"
            " created_at, bot_id",
            [c.id for c in new_convs],
            [inboxes[c.inbox].default_queue for c in new_convs],
            [c.channel for c in new_convs],
            bots,
        )
        item_by_conv = {r["conversation_id"]: r for r in items}
        for conv in new_convs:
            events.append(ConversationCreated(conversation=conv))
            r = item_by_conv[conv.id]
            events.append(WorkItemCreated(inbox=conv.inbox, work_item=WorkItem(
                id=r["id"], conversation_id=r["conversation_id"], queue=r["queue"],
                channel=r["channel"], status=r["status"], priority=r["priority"],
                agent_id=r["agent_id"], created_at=r["created_at"], bot_id=r["bot_id"],
            )))


async def insert_messages(
    conn: asyncpg.Connection,
    rows: Sequence[tuple[Envelope, int, Author, str]],
) -> list[Message]:
    """Insert (envelope, conversation id, author, ingest id); return only the new rows."""
    if not rows:
        return []
    inserted = await conn.fetch(
        "WITH ins AS (INSERT INTO messages (conversation_id, channel, channel_account,"
        " provider_id,"
        " direction, author_kind, author_name, agent_id, text, html, attachments, ingest_id,"
        " created_at, status, attributes, raw_ref)"
        " SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],"
        " $6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[], $11::jsonb[],"
        " $12::text[], $13::timestamptz[], $14::text[], $15::jsonb[], $16::text[])"
        " ON CONFLICT ON CONSTRAINT messages_idempotency DO NOTHING"
        " RETURNING id, conversation_id, channel, channel_account, provider_id, direction,"
        " author_kind, author_name, agent_id, text, html, status, created_at),"
        # The conversation's last_message_at moves in the same statement.
        " touched AS (UPDATE conversations c SET last_message_at ="
        "   GREATEST(c.last_message_at, t.at)"
        "   FROM (SELECT conversation_id, max(created_at) AS at FROM ins GROUP BY 1) t"
        "   WHERE c.id = t.conversation_id)"
        " SELECT * FROM ins",
        [r[1] for r in rows],
        [r[0].channel for r in rows],
        [r[0].channel_account for r in rows],
        [r[0].provider_id for r in rows],
        [r[0].direction for r in rows],
        [r[2].kind for r in rows],
        [r[2].name for r in rows],
        [r[2].agent_id for r in rows],
        [r[0].text for r in rows],
        [r[0].html for r in rows],
        [attachments_json(r[0]) for r in rows],
        [r[3] for r in rows],
        [r[0].received_at for r in rows],
        ["received" if r[0].direction == "in" else "queued" for r in rows],
        [encode(stored_attributes(r[0])).decode() for r in rows],
        [r[0].raw_ref for r in rows],
    )
    by_pid = {(r[0].channel, r[0].channel_account, r[0].provider_id): r[0] for r in rows}
    out = []
    for r in sorted(inserted, key=lambda rec: rec["id"]):
        env = by_pid[(r["channel"], r["channel_account"], r["provider_id"])]
        out.append(Message(
            id=r["id"], conversation_id=r["conversation_id"], direction=r["direction"],
            author=Author(kind=r["author_kind"], name=r["author_name"], agent_id=r["agent_id"]),
            text=r["text"], html=r["html"], channel=r["channel"], provider_id=r["provider_id"],
            status=r["status"], attachments=list(env.attachments), created_at=r["created_at"],
            attributes=dict(env.attributes), raw_ref=env.raw_ref,
        ))
    return out


def stored_attributes(env: Envelope) -> dict[str, str | bool]:
    """The message's attributes column: the channel's attributes plus, for a widget
    visitor's first message, the pre-chat custom fields as ``attrs.<key>`` (routing
    reads the conversation's first inbound message's attributes). The event keeps the
    channel's attributes only (its schema is ``dict[str, str]``)."""
    if env.prechat is None:
        return dict(env.attributes)
    return {**env.attributes, **prechat_attributes(env.prechat)}


def attachments_json(env: Envelope) -> str:
    return encode(list(env.attachments)).decode()


