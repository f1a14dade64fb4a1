"""Bot administration: create a bot (its token and signing secret are shown once), list,
update, disable/enable, rotate the token or the signing secret, read the webhook
delivery log, put a bot in front of a queue. Admins only (supervisors may list). Then
the bot's own REST API (bearer bot token)."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

from hub.bots.actions import admin as bot_admin
from hub.bots.actions import bots
from hub.errors import BadInput
from hub.schema import Agent
from hub.untrusted import parse_int
from web.http import JSON, read_json
from web.jobs import enqueue_delivery
from web.realtime.bot_socket import bot_socket
from web.routing_kit import agent_route, bot_route, pk
from web.state import HubState


class NewBot(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    webhook_url: str | None = None
    handoff_after_s: int = 120


class BotChanges(msgspec.Struct, forbid_unknown_fields=True):
    name: str | msgspec.UnsetType = msgspec.UNSET
    webhook_url: str | msgspec.UnsetType | None = msgspec.UNSET
    handoff_after_s: int | msgspec.UnsetType = msgspec.UNSET


class NoBody(msgspec.Struct, forbid_unknown_fields=True):
    pass


class Rotation(msgspec.Struct, forbid_unknown_fields=True):
    # Seconds the old token / secret keeps working (0: stops now; at most 1 h).
    grace_s: int = 0


class QueueBot(msgspec.Struct, forbid_unknown_fields=True):
    bot_id: int | None


def _bot_id(request: Request) -> int:
    return pk(request, "bot_id")


@agent_route("bots.manage", write=True)
async def create(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, NewBot, state.settings.http_max_body)
    bot, token, secret = await bot_admin.create_bot(
        state.pool, agent.id, body.name, webhook_url=body.webhook_url,
        handoff_after_s=body.handoff_after_s)
    return JSON({"bot": bot, "token": token, "webhook_secret": secret}, status_code=201)


@agent_route("bots.view")
async def list_bots(request: Request, state: HubState, agent: Agent) -> Response:
    return JSON({"bots": await bot_admin.list_bots(state.pool)})


@agent_route("bots.manage", write=True)
async def update(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, BotChanges, state.settings.http_max_body)
    changes = {f: getattr(body, f) for f in body.__struct_fields__
               if getattr(body, f) is not msgspec.UNSET}
    bot = await bot_admin.update_bot(state.pool, state.publisher, agent.id, _bot_id(request),
                                     changes)
    return JSON({"bot": bot})


@agent_route("bots.manage", write=True)
async def disable(request: Request, state: HubState, agent: Agent) -> Response:
    await read_json(request, NoBody, state.settings.http_max_body)
    bot, handed = await bot_admin.set_active(state.pool, state.publisher, agent.id,
                                             _bot_id(request), False)
    return JSON({"bot": bot, "handed_off": handed})


@agent_route("bots.manage", write=True)
async def enable(request: Request, state: HubState, agent: Agent) -> Response:
    await read_json(request, NoBody, state.settings.http_max_body)
    bot, _ = await bot_admin.set_active(state.pool, state.publisher, agent.id,
                                        _bot_id(request), True)
    return JSON({"bot": bot})


@agent_route("bots.manage", write=True)
async def rotate_token(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, Rotation, state.settings.http_max_body)
    token, until = await bot_admin.rotate_token(state.pool, state.publisher, agent.id,
                                                _bot_id(request), body.grace_s)
    return JSON({"token": token, "old_token_valid_until": until})


@agent_route("bots.manage", write=True)
async def rotate_secret(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, Rotation, state.settings.http_max_body)
    secret, until = await bot_admin.rotate_webhook_secret(
        state.pool, state.publisher, agent.id, _bot_id(request), body.grace_s)
    return JSON({"webhook_secret": secret, "old_secret_valid_until": until})


@agent_route("bots.manage")
async def deliveries(request: Request, state: HubState, agent: Agent) -> Response:
    q = request.query_params
    status = q.get("status") or None
    if status is not None and status not in bot_admin.DELIVERY_STATUSES:
        raise BadInput(f"status: one of {', '.join(bot_admin.DELIVERY_STATUSES)}")
    limit = parse_int(q.get("limit", "100"), "limit", hi=500)
    conv = parse_int(q["conversation_id"], "conversation_id") if q.get("conversation_id") else None
    rows = await bot_admin.list_deliveries(state.pool, _bot_id(request), status=status,
                                           conversation_id=conv, limit=limit)
    return JSON({"deliveries": rows})


@agent_route("bots.manage", write=True)
async def set_queue_bot(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, QueueBot, state.settings.http_max_body)
    if body.bot_id is not None and not 0 < body.bot_id < 2**63:
        raise BadInput("bot_id: a bot id or null")
    queue = request.path_params["queue"]
    await bots.set_queue_bot(state.pool, agent.id, queue[:100], body.bot_id)
    return JSON({"queue": queue, "bot_id": body.bot_id})


# ---- the bot's own REST API (bearer bot token): for bots without a socket ---------


class BotReplyBody(msgspec.Struct, forbid_unknown_fields=True):
    text: str
    client_id: str


class BotHandoffBody(msgspec.Struct, forbid_unknown_fields=True):
    queue: str
    reason: str


async def _bot(request: Request) -> tuple[HubState, bots.Bot]:
    state: HubState = request.app.state.hub
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        token = ""
    return state, await bots.authenticate_bot(state.pool, token.strip())


def _conversation_id(request: Request) -> int:
    return pk(request, "conversation_id")


@bot_route()
async def bot_conversations(request: Request) -> Response:
    state, bot = await _bot(request)
    return JSON({"bot": {"id": bot.id, "name": bot.name},
                 "conversations": await bots.held_conversations(state.pool, bot)})


@bot_route()
async def bot_reply(request: Request) -> Response:
    state, bot = await _bot(request)
    body = await read_json(request, BotReplyBody, state.settings.http_max_body)
    message, created = await bots.post_bot_reply(
        state.pool, state.publisher, bot, _conversation_id(request), text=body.text,
        client_id=body.client_id)
    if created:
        await enqueue_delivery(state.redis, state.settings, message)
    return JSON({"message": message}, status_code=201 if created else 200)


@bot_route()
async def bot_handoff(request: Request) -> Response:
    state, bot = await _bot(request)
    body = await read_json(request, BotHandoffBody, state.settings.http_max_body)
    item = await bots.hand_off(state.pool, state.publisher, bot, _conversation_id(request),
                               queue=body.queue, reason=body.reason)
    return JSON({"work_item": item})


routes = [
    Route("/api/v1/bots", create, methods=["POST"]),
    Route("/api/v1/bots", list_bots, methods=["GET"]),
    Route("/api/v1/bots/{bot_id:pk}", update, methods=["PATCH"]),
    Route("/api/v1/bots/{bot_id:pk}/disable", disable, methods=["POST"]),
    Route("/api/v1/bots/{bot_id:pk}/enable", enable, methods=["POST"]),
    Route("/api/v1/bots/{bot_id:pk}/token", rotate_token, methods=["POST"]),
    Route("/api/v1/bots/{bot_id:pk}/webhook-secret", rotate_secret, methods=["POST"]),
    Route("/api/v1/bots/{bot_id:pk}/deliveries", deliveries, methods=["GET"]),
    Route("/api/v1/queues/{queue}/bot", set_queue_bot, methods=["POST"]),
    WebSocketRoute("/ws/bot", bot_socket),
    Route("/api/v1/bot/conversations", bot_conversations),
    Route("/api/v1/bot/conversations/{conversation_id:pk}/messages", bot_reply,
          methods=["POST"]),
    Route("/api/v1/bot/conversations/{conversation_id:pk}/handoff", bot_handoff,
          methods=["POST"]),
]
