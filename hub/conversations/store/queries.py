"""Conversation and message read models for REST and socket snapshots. Every read is
scoped by what the agent may see; callers map NotFound/Forbidden at the edge. Agents and
sessions are read in hub/agents/store.py, the contact 360° view in
hub/contacts/store/context.py."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from hub.access import sees_all_inboxes
from hub.errors import Forbidden, NotFound
from hub.schema import Agent, AttachmentRef, Author, Conversation, Message

CONVERSATION_COLUMNS = (
    "c.id, c.inbox, c.channel, c.contact_id, c.contact_identity, c.status, c.assignee_id,"
    " c.subject, c.created_at, c.last_message_at, ct.name AS contact_name,"
    " (SELECT ag.name FROM agents ag WHERE ag.id = c.assignee_id) AS assignee_name")
_MSG = ("id, conversation_id, direction, author_kind, author_name, agent_id, text, html,"
        " private, channel, provider_id, status, status_error, attachments, created_at,"
        " attributes, raw_ref")


def conversation_from(r: asyncpg.Record) -> Conversation:
    return Conversation(
        id=r["id"], inbox=r["inbox"], channel=r["channel"], contact_id=r["contact_id"],
        contact_name=r["contact_name"], contact_identity=r["contact_identity"],
        status=r["status"], assignee_id=r["assignee_id"],
        assignee_name=r["assignee_name"] or "", subject=r["subject"],
        created_at=r["created_at"], last_message_at=r["last_message_at"],
    )


def _text_attributes(raw: str | None) -> dict[str, str]:
    """Message attributes as text. The column may also hold typed values for routing
    (a pre-chat checkbox is ``"attrs.x": true``); the wire schema carries them as JSON
    text (``"true"``)."""
    values = msgspec.json.decode(raw or "{}", type=dict[str, str | bool | int | float | None])
    return {k: v if isinstance(v, str) else msgspec.json.encode(v).decode()
            for k, v in values.items()}


def message_from(r: asyncpg.Record) -> Message:
    return Message(
        id=r["id"], conversation_id=r["conversation_id"], direction=r["direction"],
        author=Author(kind=r["author_kind"], name=r["author_name"], agent_id=r["agent_id"]),
        text=r["text"], html=r["html"], private=r["private"], channel=r["channel"],
        provider_id=r["provider_id"], status=r["status"],
        status_error=r.get("status_error") or "",
        attachments=msgspec.json.decode(r["attachments"], type=list[AttachmentRef]),
        created_at=r["created_at"],
        # Optional columns: callers selecting fewer columns get the defaults.
        attributes=_text_attributes(r.get("attributes")),
        raw_ref=r.get("raw_ref") or "",
    )


async def get_conversation(
    conn: asyncpg.Connection | asyncpg.Pool, agent: Agent | None, conversation_id: int
) -> Conversation:
    r = await conn.fetchrow(
        f"SELECT {CONVERSATION_COLUMNS} FROM conversations c JOIN contacts ct ON ct.id = c.contact_id"
        " WHERE c.id = $1",
        conversation_id,
    )
    if r is None:
        raise NotFound("no such conversation")
    if agent is not None and not agent.may_see_inbox(r["inbox"]):
        raise Forbidden("not a member of this inbox")
    return conversation_from(r)


async def list_messages(
    conn: asyncpg.Connection | asyncpg.Pool, conversation_id: int, *,
    include_private: bool = True, limit: int = 500,
) -> list[Message]:
    rows = await conn.fetch(
        f"SELECT {_MSG} FROM (SELECT * FROM messages WHERE conversation_id = $1"
        " AND ($2 OR NOT private) ORDER BY id DESC LIMIT $3) m ORDER BY id",
        conversation_id, include_private, limit,
    )
    return [message_from(r) for r in rows]


async def list_conversations(
    conn: asyncpg.Connection | asyncpg.Pool, agent: Agent, *, status: str, assignee: str,
    inbox: str | None, limit: int = 200,
) -> list[dict[str, Any]]:
    where = ["c.status = $1"]
    args: list[Any] = [status]
    if not sees_all_inboxes(agent.role):
        args.append(agent.inboxes)
        where.append(f"c.inbox = ANY(${len(args)}::text[])")
    if inbox:
        args.append(inbox)
        where.append(f"c.inbox = ${len(args)}")
    if assignee == "me":
        args.append(agent.id)
        where.append(f"c.assignee_id = ${len(args)}")
    elif assignee == "unassigned":
        where.append("c.assignee_id IS NULL")
    args.append(limit)
    rows = await conn.fetch(
        f"SELECT {CONVERSATION_COLUMNS}, lm.text AS last_text, lm.direction AS last_direction,"
        " lm.id AS last_message_id, lm.author_kind AS last_author_kind,"
        " lm.author_name AS last_author_name"
        " FROM conversations c JOIN contacts ct ON ct.id = c.contact_id"
        " LEFT JOIN LATERAL (SELECT text, direction, id, author_kind, author_name FROM messages m"
        "   WHERE m.conversation_id = c.id AND NOT m.private ORDER BY id DESC LIMIT 1) lm"
        "   ON true"
        f" WHERE {' AND '.join(where)}"
        f" ORDER BY c.last_message_at DESC NULLS LAST, c.id DESC LIMIT ${len(args)}",
        *args,
    )
    out = []
    for r in rows:
        item: dict[str, Any] = {"conversation": conversation_from(r)}
        item["last_message"] = (
            None if r["last_message_id"] is None else
            {"id": r["last_message_id"], "text": r["last_text"][:200],
             "direction": r["last_direction"],
             "author": {"kind": r["last_author_kind"], "name": r["last_author_name"]}}
        )
        out.append(item)
    return out


async def open_conversation_of(conn: asyncpg.Connection | asyncpg.Pool, inbox: str, kind: str,
                               value: str) -> int:
    """The identity's unresolved conversation in the inbox, or 0."""
    cid = await conn.fetchval(
        "SELECT c.id FROM conversations c JOIN identities i ON i.contact_id = c.contact_id"
        " WHERE i.kind = $1 AND i.value = $2 AND c.inbox = $3 AND c.status <> 'resolved'",
        kind, value, inbox,
    )
    return int(cid or 0)
