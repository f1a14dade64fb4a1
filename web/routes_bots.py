"""Bot administration: create a bot (its token is shown once), list bots, put a bot in
front of a queue. Admins only (supervisors may list)."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

from hub import bots
from hub.errors import BadInput, NotFound
from hub.schema import Agent
from web.http import JSON, read_json
from web.jobs import enqueue_delivery
from web.realtime.bot_socket import bot_socket
from web.routes_api import agent_route
from web.state import HubState


class NewBot(msgspec.Struct, forbid_unknown_fields=True):
    name: str


class QueueBot(msgspec.Struct, forbid_unknown_fields=True):
    bot_id: int | None


@agent_route("admin", write=True)
async def create(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, NewBot, state.settings.http_max_body)
    bot, token = await bots.create_bot(state.pool, agent.id, body.name)
    return JSON({"bot": {"id": bot.id, "name": bot.name}, "token": token}, status_code=201)


@agent_route("supervisor")
async def list_bots(request: Request, state: HubState, agent: Agent) -> Response:
    rows = await state.pool.fetch(
        "SELECT b.id, b.name, b.active, b.created_at,"
        " coalesce(array_agg(q.slug ORDER BY q.slug) FILTER (WHERE q.slug IS NOT NULL), '{}')"
        " AS queues FROM bots b LEFT JOIN queues q ON q.bot_id = b.id"
        " GROUP BY b.id ORDER BY b.id")
    return JSON({"bots": [dict(r) for r in rows]})


@agent_route("admin", write=True)
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
    value = request.path_params["conversation_id"]
    if not 0 < value < 2**63:
        raise NotFound("no such conversation")
    return int(value)


async def bot_conversations(request: Request) -> Response:
    state, bot = await _bot(request)
    return JSON({"bot": {"id": bot.id, "name": bot.name},
                 "conversations": await bots.held_conversations(state.pool, bot)})


async def bot_reply(request: Request) -> Response:
    state, bot = await _bot(request)
    body = await read_json(request, BotReplyBody, state.settings.http_max_body)
    message, created = await bots.post_bot_reply(
        state.pool, state.publisher, bot, _conversation_id(request), text=body.text,
        client_id=body.client_id)
    if created:
        await enqueue_delivery(state.redis, state.settings, message)
    return JSON({"message": message}, status_code=201 if created else 200)


async def bot_handoff(request: Request) -> Response:
    state, bot = await _bot(request)
    body = await read_json(request, BotHandoffBody, state.settings.http_max_body)
    item = await bots.hand_off(state.pool, state.publisher, bot, _conversation_id(request),
                               queue=body.queue, reason=body.reason)
    return JSON({"work_item": item})


routes = [
    Route("/api/v1/bots", create, methods=["POST"]),
    Route("/api/v1/bots", list_bots, methods=["GET"]),
    Route("/api/v1/queues/{queue}/bot", set_queue_bot, methods=["POST"]),
    WebSocketRoute("/ws/bot", bot_socket),
    Route("/api/v1/bot/conversations", bot_conversations),
    Route("/api/v1/bot/conversations/{conversation_id:int}/messages", bot_reply,
          methods=["POST"]),
    Route("/api/v1/bot/conversations/{conversation_id:int}/handoff", bot_handoff,
          methods=["POST"]),
]
