"""Actions that change state on behalf of an agent. Each runs in one transaction, writes
its events to the outbox in that transaction, and publishes them after commit."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

import asyncpg
import msgspec

from hub import access
from hub.agents.store import active_agent_sees_inbox, agent_name
from hub.channels_table import channels_where
from hub.conversations.rules import ReplyRoute, choose_reply_route, reply_routes
from hub.conversations.store.queries import get_conversation, message_from
from hub.errors import BadInput, Conflict, Forbidden
from hub.messaging.reply_policy import (
    TemplateChoice,
    enforce_reply_policy,
    inbound_uses,
    record_template,
)
from hub.messaging.store import claim_uploads
from hub.outbox import Publisher
from hub.schema import (
    Agent,
    AnyEvent,
    Author,
    Conversation,
    ConversationAssigned,
    ConversationStatus,
    ConversationStatusChanged,
    Message,
    MessageCreated,
    TypingChanged,
    WorkItem,
    WorkItemCreated,
    WorkItemUpdated,
)
from hub.unit_of_work import unit_of_work

MAX_TEXT = 20_000
_MSG_COLS = ("id, conversation_id, direction, author_kind, author_name, agent_id, text, html,"
             " private, channel, provider_id, status, attachments, created_at, attributes")
# Channels whose replies reach the customer through the events stream itself.
LIVE_CHANNELS = channels_where(live=True)
# Channels whose senders deliver uploaded files with a reply.
ATTACHMENT_CHANNELS = channels_where(attachments=True)


def validate_reply(text: str, client_id: str) -> tuple[str, str]:
    text = text.strip()
    if not text:
        raise BadInput("text: must not be empty")
    if len(text) > MAX_TEXT:
        raise BadInput(f"text: at most {MAX_TEXT} characters")
    if not (1 <= len(client_id) <= 100) or not client_id.isprintable():
        raise BadInput("client_id: 1-100 printable characters")
    return text, client_id


async def _work_item_event(
    conn: asyncpg.Connection, conv: Conversation, status: str, agent_id: int | None
) -> list[AnyEvent]:
    r = await conn.fetchrow(
        "UPDATE work_items SET status = $2, agent_id = $3, updated_at = now()"
        " WHERE conversation_id = $1 AND status NOT IN ('completed', 'cancelled')"
        " RETURNING id, conversation_id, queue, channel, status, priority, agent_id, created_at",
        conv.id, status, agent_id,
    )
    if r is None:
        return []
    return [WorkItemUpdated(inbox=conv.inbox, work_item=WorkItem(**dict(r)))]


async def _audit(conn: asyncpg.Connection, actor: Agent, action: str, subject: str,
                 details: str = "{}") -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor_id, action, subject, details) VALUES ($1, $2, $3, $4)",
        actor.id, action, subject, details,
    )


async def post_agent_reply(
    pool: asyncpg.Pool, publisher: Publisher, agent: Agent, conversation_id: int, *,
    text: str, client_id: str, private: bool = False, template: TemplateChoice | None = None,
    via: str | None = None, attachments: Sequence[uuid.UUID] = (),
    max_attachment_bytes: int = 20 * 1024 * 1024,
) -> tuple[Message, bool]:
    """Store an agent's reply (idempotent on client_id). Returns (message, created).

    ``template``: a WhatsApp template send (``text`` is its rendered body). ``via``: the
    channel account (inbox) to send on, one the customer wrote from in this conversation
    (hub/conversations/rules.py); by default the one they used last. The message row records
    the channel and account it goes out on; the delivery worker dispatches on them.
    ``attachments``: the agent's uploads in this conversation (``hub/messaging/store.py``),
    sent with email replies and kept on private notes."""
    text, client_id = validate_reply(text, client_id)
    provider_id = f"agent:{agent.id}:{client_id}"
    events: list[AnyEvent] = []
    async with unit_of_work(pool, publisher) as uow:
        async with uow.transaction() as conn:
            # Lock first, then read: the status and assignee checked below are current.
            await conn.execute("SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE",
                               conversation_id)
            conv = await get_conversation(conn, agent, conversation_id)
            uses = await inbound_uses(conn, conv.id)
            # A retry may come after the customer switched channels: look on every route
            # (and the conversation's own account, where private notes are kept).
            routes = [*reply_routes(conv.channel, conv.inbox, uses),
                      ReplyRoute(conv.channel, conv.inbox)]
            existing = await conn.fetchrow(
                f"SELECT {_MSG_COLS} FROM messages m"
                " JOIN unnest($1::text[], $2::text[]) AS k(ch, acc)"
                "   ON m.channel = k.ch AND m.channel_account = k.acc"
                " WHERE m.provider_id = $3 AND m.conversation_id = $4",
                [r.channel for r in routes], [r.account for r in routes], provider_id, conv.id,
            )
            if existing is not None:
                return message_from(existing), False  # a retry of a stored reply
            if conv.status == "resolved" and not private:
                raise Conflict("conversation is resolved; reopen it to reply")
            channel: str
            attributes: dict[str, str] = {}
            if private:  # notes stay on the conversation's own channel
                channel, account = conv.channel, conv.inbox
            else:
                # A phone-only conversation has no route: 400 no_reply_channel.
                route = choose_reply_route(conv.channel, conv.inbox, uses, via)
                channel, account = route.channel, route.account
                attributes = await enforce_reply_policy(conn, conv, route, text, template)
            status = "sent" if channel in LIVE_CHANNELS or private else "queued"
            row = await conn.fetchrow(
                "INSERT INTO messages (conversation_id, channel, channel_account, provider_id,"
                " direction, author_kind, author_name, agent_id, text, private, status,"
                " attributes)"
                " VALUES ($1, $2, $3, $4, 'out', 'agent', $5, $6, $7, $8, $9, $10::jsonb)"
                f" RETURNING {_MSG_COLS}",
                conv.id, channel, account, provider_id, agent.name, agent.id, text,
                private, status, json.dumps(attributes),
            )
            message = message_from(row)
            if attachments:
                if not private and channel not in ATTACHMENT_CHANNELS:
                    raise BadInput(f"attachments: not supported on {channel} replies yet"
                                   " (email replies and private notes only)")
                refs = await claim_uploads(conn, agent_id=agent.id, conversation_id=conv.id,
                                           ids=attachments, message_id=message.id,
                                           max_total_bytes=max_attachment_bytes)
                row = await conn.fetchrow(
                    f"UPDATE messages SET attachments = $2::jsonb WHERE id = $1"
                    f" RETURNING {_MSG_COLS}", message.id, msgspec.json.encode(refs).decode())
                message = message_from(row)
            if template is not None and not private:
                await record_template(conn, message.id, template)
            events.append(MessageCreated(inbox=conv.inbox, message=message))
            if not private:
                await conn.execute(
                    "UPDATE conversations SET last_message_at = $2 WHERE id = $1",
                    conv.id, message.created_at,
                )
            if conv.assignee_id is None and not private:
                # Replying takes the conversation, as in Chatwoot.
                await conn.execute(
                    "UPDATE conversations SET assignee_id = $2 WHERE id = $1", conv.id, agent.id
                )
                events.append(ConversationAssigned(
                    inbox=conv.inbox, conversation_id=conv.id, agent_id=agent.id,
                    by_agent_id=agent.id, agent_name=agent.name,
                ))
                events.extend(await _work_item_event(conn, conv, "assigned", agent.id))
            await uow.emit(events)
    return message, True


async def assign_conversation(
    pool: asyncpg.Pool, publisher: Publisher, actor: Agent, conversation_id: int,
    agent_id: int | None,
) -> Conversation:
    """Assign (or unassign with None). Agents may only take unassigned conversations for
    themselves or release their own; supervisors and admins may assign anyone."""
    async with unit_of_work(pool, publisher) as uow:
        async with uow.transaction() as conn:
            conv = await get_conversation(conn, actor, conversation_id)
            current = await conn.fetchval(
                "SELECT assignee_id FROM conversations WHERE id = $1 FOR UPDATE", conv.id
            )
            if not access.allows(actor, "conversation.assign_others"):
                if agent_id not in (actor.id, None):
                    raise Forbidden("agents can only assign conversations to themselves")
                if current not in (None, actor.id):
                    raise Conflict("already assigned to another agent")
            if agent_id is not None:
                if not await active_agent_sees_inbox(conn, agent_id, conv.inbox):
                    raise BadInput("agent_id: no active agent in this inbox")
            if current == agent_id:
                return conv
            await conn.execute(
                "UPDATE conversations SET assignee_id = $2 WHERE id = $1", conv.id, agent_id
            )
            events: list[AnyEvent] = [ConversationAssigned(
                inbox=conv.inbox, conversation_id=conv.id, agent_id=agent_id,
                by_agent_id=actor.id, agent_name=await agent_name(conn, agent_id),
            )]
            events.extend(await _work_item_event(
                conn, conv, "assigned" if agent_id else "queued", agent_id))
            await _audit(conn, actor, "conversation.assign", f"conversation:{conv.id}",
                         f'{{"from": {current or "null"}, "to": {agent_id or "null"}}}')
            await uow.emit(events)
            conv = await get_conversation(conn, actor, conversation_id)
    return conv


async def set_conversation_status(
    pool: asyncpg.Pool, publisher: Publisher, actor: Agent, conversation_id: int,
    status: ConversationStatus,
) -> Conversation:
    if status not in ("open", "pending", "resolved"):
        raise BadInput("status: one of open, pending, resolved")
    async with unit_of_work(pool, publisher) as uow:
        async with uow.transaction() as conn:
            await conn.execute("SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE",
                               conversation_id)
            conv = await get_conversation(conn, actor, conversation_id)
            if conv.status == status:
                return conv
            try:
                await conn.execute(
                    "UPDATE conversations SET status = $2 WHERE id = $1", conv.id, status
                )
            except asyncpg.UniqueViolationError:
                raise Conflict("the contact already has another open conversation here"
                               ) from None
            events: list[AnyEvent] = [ConversationStatusChanged(
                inbox=conv.inbox, conversation_id=conv.id, status=status, by_agent_id=actor.id,
            )]
            if status == "resolved":
                events.extend(await _work_item_event(conn, conv, "completed", conv.assignee_id))
            elif conv.status == "resolved":
                item = await conn.fetchrow(
                    "INSERT INTO work_items (conversation_id, queue, channel, status, agent_id)"
                    " SELECT $1, default_queue, $2, $3, $4 FROM inboxes WHERE slug = $5"
                    " ON CONFLICT (conversation_id) WHERE status NOT IN ('completed', 'cancelled')"
                    " DO NOTHING"
                    " RETURNING id, conversation_id, queue, channel, status, priority, agent_id,"
                    " created_at",
                    conv.id, conv.channel, "assigned" if conv.assignee_id else "queued",
                    conv.assignee_id, conv.inbox,
                )
                if item is not None:
                    events.append(WorkItemCreated(inbox=conv.inbox,
                                                  work_item=WorkItem(**dict(item))))
            await _audit(conn, actor, "conversation.status", f"conversation:{conv.id}",
                         f'{{"status": "{status}"}}')
            await uow.emit(events)
            conv = await get_conversation(conn, actor, conversation_id)
    return conv


def typing_event(conv: Conversation, author: Author, on: bool) -> TypingChanged:
    return TypingChanged(inbox=conv.inbox, conversation_id=conv.id, author=author, on=on)

