"""REST routes. Every agent route declares its hub.access action (web/routing_kit.py);
the API-channel route authenticates with the inbox bearer token."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from channels.api import ApiInboundMessage, envelope_from_api, verify_api_token
from hub.contacts.store import context as context_store
from hub.conversations import actions
from hub.conversations.dead_letters import dead_letter_stats
from hub.conversations.store import queries
from hub.db import probe
from hub.errors import BadInput, NotFound
from hub.messaging.store.uploads import parse_upload_ids
from hub.schema import Agent
from web.http import JSON, read_json
from web.jobs import enqueue_delivery
from web.routing_kit import agent_route, pk, public_route
from web.state import HubState


@agent_route("session.me")
async def me(request: Request, state: HubState, agent: Agent) -> Response:
    return JSON({"agent": agent})


@agent_route("conversation.list")
async def list_conversations(request: Request, state: HubState, agent: Agent) -> Response:
    q = request.query_params
    status = q.get("status", "open")
    assignee = q.get("assignee", "all")
    if status not in ("open", "pending", "resolved"):
        raise BadInput("status: one of open, pending, resolved")
    if assignee not in ("me", "unassigned", "all"):
        raise BadInput("assignee: one of me, unassigned, all")
    tail = await state.fanout.tail_id()
    items = await queries.list_conversations(state.pool, agent, status=status,
                                             assignee=assignee, inbox=q.get("inbox"))
    return JSON({"conversations": items, "last_event_id": tail})


@agent_route("conversation.view")
async def get_conversation(request: Request, state: HubState, agent: Agent) -> Response:
    cid = pk(request, "conversation_id")
    tail = await state.fanout.tail_id()
    conv = await queries.get_conversation(state.pool, agent, cid)
    messages = await queries.list_messages(state.pool, cid)
    return JSON({"conversation": conv, "messages": messages, "last_event_id": tail})


@agent_route("contact.view")
async def contact_context(request: Request, state: HubState, agent: Agent) -> Response:
    ctx = await context_store.contact_context(state.pool, agent, pk(request, "contact_id"))
    return JSON(ctx)


class ReplyBody(msgspec.Struct, forbid_unknown_fields=True):
    text: str
    client_id: str = ""
    private: bool = False
    # The channel account (inbox) to reply on; default: the customer's last used one.
    via: str | None = None
    # Upload ids (POST …/uploads) to send with the reply.
    attachments: list[str] = []


@agent_route("conversation.reply", write=True)
async def post_message(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, ReplyBody, state.settings.http_max_body)
    client_id = body.client_id or f"rest:{uuid.uuid4()}"
    uploads = parse_upload_ids(body.attachments, state.settings.upload_max_files)
    message, created = await actions.post_agent_reply(
        state.pool, state.publisher, agent, pk(request, "conversation_id"),
        text=body.text, client_id=client_id, private=body.private, via=body.via,
        attachments=uploads, max_attachment_bytes=state.settings.upload_max_total_bytes,
    )
    if created:
        await enqueue_delivery(state.redis, state.settings, message)
    return JSON({"message": message}, status_code=201 if created else 200)


class AssignBody(msgspec.Struct, forbid_unknown_fields=True):
    agent_id: int | msgspec.UnsetType | None = msgspec.UNSET


@agent_route("conversation.assign", write=True)
async def assign(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, AssignBody, state.settings.http_max_body)
    target = agent.id if body.agent_id is msgspec.UNSET else body.agent_id
    conv = await actions.assign_conversation(
        state.pool, state.publisher, agent, pk(request, "conversation_id"), target)
    return JSON({"conversation": conv})


class StatusBody(msgspec.Struct, forbid_unknown_fields=True):
    status: str


@agent_route("conversation.set_status", write=True)
async def set_status(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, StatusBody, state.settings.http_max_body)
    conv = await actions.set_conversation_status(
        state.pool, state.publisher, agent, pk(request, "conversation_id"),
        body.status,  # type: ignore[arg-type]  # validated by the action
    )
    return JSON({"conversation": conv})


@public_route("API channel: the inbox's bearer token, checked in the handler")
async def api_inbound_message(request: Request) -> Response:
    """API channel: an integration injects a customer message into an inbox."""
    state: HubState = request.app.state.hub
    auth = request.headers.get("authorization", "")
    try:
        inbox = await state.inbox(request.path_params["inbox"])
    except NotFound:
        # Same answer as a wrong token: do not reveal which inbox names exist.
        verify_api_token(None, auth)
        raise
    verify_api_token(inbox.api_token_hash, auth)
    if inbox.channel != "api":
        raise BadInput("inbox is not an API inbox")
    body = await read_json(request, ApiInboundMessage, state.settings.http_max_body)
    env = envelope_from_api(inbox.slug, body, datetime.now(UTC),
                            state.settings.default_phone_region or None)
    stream_id = await state.ingest.submit(env)
    return JSON({"accepted": True, "stream_id": stream_id, "provider_id": env.provider_id},
                status_code=202)


@public_route("health probe")
async def healthz(request: Request) -> Response:
    state: HubState = request.app.state.hub
    await state.redis.ping()
    await probe.ping(state.pool)
    # Dead letters are an alarm (docs/pipeline.md): monitoring alerts on a rising total.
    return JSON({"ok": True, "sockets": state.fanout.socket_count,
                 "dead_letters": await dead_letter_stats(state.redis, state.settings)})


routes = [
    Route("/healthz", healthz),
    Route("/api/v1/me", me),
    Route("/api/v1/conversations", list_conversations),
    Route("/api/v1/conversations/{conversation_id:pk}", get_conversation),
    Route("/api/v1/conversations/{conversation_id:pk}/messages", post_message,
          methods=["POST"]),
    Route("/api/v1/conversations/{conversation_id:pk}/assign", assign, methods=["POST"]),
    Route("/api/v1/conversations/{conversation_id:pk}/status", set_status, methods=["POST"]),
    Route("/api/v1/contacts/{contact_id:pk}/context", contact_context),
    Route("/api/v1/inboxes/{inbox}/messages", api_inbound_message, methods=["POST"]),
]
