"""Actions that change state on behalf of an agent. Each runs in one transaction, writes
its events to the outbox in that transaction, and publishes them after commit. Their SQL
is in hub/conversations/store/ (changes.py, replies.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hub import access
from hub.agents.store import active_agent_sees_inbox, agent_name
from hub.channels_table import channels_where
from hub.conversations.rules import ReplyRoute, choose_reply_route, reply_routes
from hub.conversations.store import changes, replies
from hub.conversations.store.queries import get_conversation
from hub.errors import BadInput, Conflict, Forbidden
from hub.messaging.reply_policy import TemplateChoice, enforce_reply_policy, record_template
from hub.messaging.store.reply_windows import inbound_uses
from hub.messaging.store.uploads import claim_uploads
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
    WorkItemCreated,
    WorkItemUpdated,
)
from hub.unit_of_work import unit_of_work

if TYPE_CHECKING:
    import asyncpg

MAX_TEXT = 20_000
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
    item = await changes.update_open_work_item(conn, conv.id, status, agent_id)
    if item is None:
        return []
    return [WorkItemUpdated(inbox=conv.inbox, work_item=item)]


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
    ``attachments``: the agent's uploads in this conversation
    (``hub/messaging/store/uploads.py``), sent with email replies and kept on private
    notes."""
    text, client_id = validate_reply(text, client_id)
    provider_id = f"agent:{agent.id}:{client_id}"
    events: list[AnyEvent] = []
    async with unit_of_work(pool, publisher) as uow:
        async with uow.transaction() as conn:
            # Lock first, then read: the status and assignee checked below are current.
            await changes.lock_conversation(conn, conversation_id)
            conv = await get_conversation(conn, agent, conversation_id)
            uses = await inbound_uses(conn, conv.id)
            # A retry may come after the customer switched channels: look on every route
            # (and the conversation's own account, where private notes are kept).
            routes = [*reply_routes(conv.channel, conv.inbox, uses),
                      ReplyRoute(conv.channel, conv.inbox)]
            existing = await replies.find_stored_reply(conn, conv.id, provider_id, routes)
            if existing is not None:
                return existing, False  # a retry of a stored reply
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
            message = await replies.insert_agent_reply(
                conn, conversation_id=conv.id, channel=channel, account=account,
                provider_id=provider_id, agent_id=agent.id, agent_name=agent.name, text=text,
                private=private, status=status, attributes_json=json.dumps(attributes))
            if attachments:
                if not private and channel not in ATTACHMENT_CHANNELS:
                    raise BadInput(f"attachments: not supported on {channel} replies yet"
                                   " (email replies and private notes only)")
                refs = await claim_uploads(conn, agent_id=agent.id, conversation_id=conv.id,
                                           ids=attachments, message_id=message.id,
                                           max_total_bytes=max_attachment_bytes)
                message = await replies.set_reply_attachments(conn, message.id, refs)
            if template is not None and not private:
                await record_template(conn, message.id, template)
            events.append(MessageCreated(inbox=conv.inbox, message=message))
            if not private:
                await changes.set_last_message_at(conn, conv.id, message.created_at)
            if conv.assignee_id is None and not private:
                # Replying takes the conversation, as in Chatwoot.
                await changes.set_assignee(conn, conv.id, agent.id)
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
            current = await changes.lock_assignee(conn, conv.id)
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
            await changes.set_assignee(conn, conv.id, agent_id)
            events: list[AnyEvent] = [ConversationAssigned(
                inbox=conv.inbox, conversation_id=conv.id, agent_id=agent_id,
                by_agent_id=actor.id, agent_name=await agent_name(conn, agent_id),
            )]
            events.extend(await _work_item_event(
                conn, conv, "assigned" if agent_id else "queued", agent_id))
            await changes.insert_audit(
                conn, actor.id, "conversation.assign", f"conversation:{conv.id}",
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
            await changes.lock_conversation(conn, conversation_id)
            conv = await get_conversation(conn, actor, conversation_id)
            if conv.status == status:
                return conv
            if not await changes.set_status(conn, conv.id, status):
                raise Conflict("the contact already has another open conversation here")
            events: list[AnyEvent] = [ConversationStatusChanged(
                inbox=conv.inbox, conversation_id=conv.id, status=status, by_agent_id=actor.id,
            )]
            if status == "resolved":
                events.extend(await _work_item_event(conn, conv, "completed", conv.assignee_id))
            elif conv.status == "resolved":
                item = await changes.insert_work_item(
                    conn, conv.id, conv.channel, conv.inbox,
                    "assigned" if conv.assignee_id else "queued", conv.assignee_id)
                if item is not None:
                    events.append(WorkItemCreated(inbox=conv.inbox, work_item=item))
            await changes.insert_audit(conn, actor.id, "conversation.status",
                                       f"conversation:{conv.id}", f'{{"status": "{status}"}}')
            await uow.emit(events)
            conv = await get_conversation(conn, actor, conversation_id)
    return conv


def typing_event(conv: Conversation, author: Author, on: bool) -> TypingChanged:
    return TypingChanged(inbox=conv.inbox, conversation_id=conv.id, author=author, on=on)

