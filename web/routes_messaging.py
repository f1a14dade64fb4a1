"""Agent REST routes for messaging conversations: the WhatsApp window and the approved
templates of the inbox (for the composer's template picker), and sending a template.

  GET  /api/v1/conversations/{id}/templates  -> {channel, window_open, window_closes_at,
                                                  templates: [{name, language, body,
                                                  params}]}
  POST /api/v1/conversations/{id}/template   {name, language, params, client_id}
"""

from __future__ import annotations

import uuid

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub import actions
from hub.errors import BadInput
from hub.reply_policy import (
    PLACEHOLDER,
    TemplateChoice,
    last_inbound_at,
    render_template,
    window_closes_at,
    window_open,
)
from hub.schema import Agent
from hub.store import queries
from web.http import JSON, read_json
from web.jobs import enqueue_delivery
from web.messaging_accounts import load_account
from web.routes_api import _int_param, agent_route
from web.state import HubState


@agent_route()
async def reply_options(request: Request, state: HubState, agent: Agent) -> Response:
    conv = await queries.get_conversation(state.pool, agent,
                                          _int_param(request, "conversation_id"))
    async with state.pool.acquire() as conn:
        account = await load_account(conn, conv.inbox)
        last = await last_inbound_at(conn, conv)
        now = await conn.fetchval("SELECT now()")
    templates = []
    if account is not None and conv.channel == "whatsapp" and account.provider == "meta":
        templates = [{"name": t.name, "language": t.language, "body": t.body,
                      "params": len(set(PLACEHOLDER.findall(t.body)))}
                     for t in account.templates]
    return JSON({
        "channel": conv.channel,
        "window_open": conv.channel != "whatsapp" or window_open(last, now),
        "window_closes_at": window_closes_at(last) if conv.channel == "whatsapp" else None,
        "templates": templates,
    })


class TemplateBody(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    language: str
    params: list[str] = []
    client_id: str = ""


@agent_route(write=True)
async def send_template(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, TemplateBody, state.settings.http_max_body)
    conv = await queries.get_conversation(state.pool, agent,
                                          _int_param(request, "conversation_id"))
    account = await load_account(state.pool, conv.inbox)
    if conv.channel != "whatsapp" or account is None or account.provider != "meta":
        raise BadInput("templates are only for WhatsApp Cloud API inboxes")
    found = next((t for t in account.templates
                  if t.name == body.name and t.language == body.language), None)
    if found is None:
        raise BadInput(f"no approved template {body.name!r} ({body.language}) in this inbox")
    text = render_template(found.body, body.params)
    message, created = await actions.post_agent_reply(
        state.pool, state.publisher, agent, conv.id, text=text,
        client_id=body.client_id or str(uuid.uuid4()),
        template=TemplateChoice(name=found.name, language=found.language,
                                params=body.params))
    if created:
        await enqueue_delivery(state.redis, state.settings, message)
    return JSON({"message": message}, status_code=201 if created else 200)


routes = [
    Route("/api/v1/conversations/{conversation_id:int}/templates", reply_options),
    Route("/api/v1/conversations/{conversation_id:int}/template", send_template,
          methods=["POST"]),
]
