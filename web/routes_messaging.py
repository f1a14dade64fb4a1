"""Agent REST routes for messaging conversations: where a reply goes (the reply channel
of a joined conversation, hub/conversations/rules.py), the provider's messaging window on that
channel, the approved templates of its inbox (for the composer's template picker), and
sending a template.

  GET  /api/v1/conversations/{id}/reply-options[?via=<inbox>]
       -> {conversation_id, channel, via, default_via, routes: [{via, channel, inbox_name,
           address, label}], window_open, window_closes_at, templates: [{name, language,
           body, params}]}
  GET  /api/v1/conversations/{id}/templates   (the same answer; the older name)
  POST /api/v1/conversations/{id}/template   {name, language, params, client_id, via?}
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from channels.recipients import recipient_for
from hub.contacts.store import identities as identity_store
from hub.conversations import actions
from hub.conversations.rules import (
    NO_REPLY_CHANNEL,
    ReplyRoute,
    choose_reply_route,
    reply_routes,
)
from hub.conversations.store import queries
from hub.db import probe
from hub.errors import BadInput
from hub.languages import normalize_tag
from hub.messaging.reply_policy import (
    PLACEHOLDER,
    TemplateChoice,
    meta_window_for,
    render_template,
    window_closes_at,
    window_open,
)
from hub.messaging.rules import META_SOCIAL
from hub.messaging.store import accounts as accounts_store
from hub.messaging.store.reply_windows import inbound_uses, last_inbound_at
from hub.schema import Agent, Conversation
from web.http import JSON, read_json
from web.jobs import enqueue_delivery
from web.messaging_accounts import load_account
from web.routing_kit import agent_route, pk
from web.state import HubState

if TYPE_CHECKING:
    import asyncpg

LABEL = {"chat": "Web chat", "api": "API", "email": "Email", "sms": "SMS",
         "whatsapp": "WhatsApp", "messenger": "Messenger", "instagram": "Instagram",
         "telegram": "Telegram", "voice": "Phone"}


async def _route_rows(conn: asyncpg.Connection, conv: Conversation,
                      routes: list[ReplyRoute]) -> list[dict[str, Any]]:
    """Each route with its inbox name and the customer's address there."""
    accounts = await accounts_store.reply_inboxes(conn, [r.account for r in routes])
    identities = [conv.contact_identity,
                  *await identity_store.contact_identity_keys(conn, conv.contact_id)]
    out = []
    for r in routes:
        acc = accounts.get(r.account)
        address = ""
        if acc is not None and acc["external_id"] is not None:
            try:
                address = recipient_for(r.channel, acc["external_id"], identities)
            except BadInput:
                address = ""
        label = LABEL.get(r.channel, r.channel)
        out.append({"via": r.account, "channel": r.channel,
                    "inbox_name": acc["name"] if acc else r.account, "address": address,
                    "label": f"{label} ({address})" if address else label})
    return out


def _no_route_options(conversation_id: int, now: Any) -> dict[str, Any]:
    """A conversation no written reply can reach (only phone calls): no routes, and the
    composer says why instead of offering a channel that always fails."""
    return {"conversation_id": conversation_id, "channel": None, "via": None,
            "default_via": None, "routes": [], "window_kind": None, "window_open": False,
            "window_closes_at": None, "window_reason": NO_REPLY_CHANNEL,
            "meta_messaging_type": None, "now": now, "templates": [],
            "can_reply": False}


@agent_route("conversation.view")
async def reply_options(request: Request, state: HubState, agent: Agent) -> Response:
    conv = await queries.get_conversation(state.pool, agent,
                                          pk(request, "conversation_id"))
    via = request.query_params.get("via") or None
    async with state.pool.acquire() as conn:
        uses = await inbound_uses(conn, conv.id)
        routes = reply_routes(conv.channel, conv.inbox, uses)
        if not routes:  # phone calls only: nothing can carry a written reply
            return JSON(_no_route_options(conv.id, await probe.db_now(conn)))
        route = choose_reply_route(conv.channel, conv.inbox, uses, via)
        account = await load_account(conn, route.account)
        last = await last_inbound_at(conn, conv.contact_id, route.account)
        now = await probe.db_now(conn)
        rows = await _route_rows(conn, conv, routes)
        meta = (await meta_window_for(conn, conv.contact_id, route)
                if route.channel in META_SOCIAL else None)
    templates = []
    if account is not None and route.channel == "whatsapp" and account.provider == "meta":
        templates = [{"name": t.name, "language": t.language, "body": t.body,
                      "params": len(set(PLACEHOLDER.findall(t.body)))}
                     for t in account.templates]
    whatsapp = route.channel == "whatsapp"
    window: dict[str, Any] = {"window_kind": None, "window_open": True,
                              "window_closes_at": None, "window_reason": "",
                              "meta_messaging_type": None}
    if whatsapp:
        is_open = window_open(last, now)
        window.update(window_kind="whatsapp", window_open=is_open,
                      window_closes_at=window_closes_at(last),
                      window_reason="" if is_open else (
                          "The customer last wrote more than 24 hours ago: WhatsApp only"
                          " accepts an approved template now."))
    elif meta is not None:
        window.update(window_kind="meta", window_open=meta.open,
                      window_closes_at=meta.closes_at, window_reason=meta.reason,
                      meta_messaging_type=meta.tag or meta.messaging_type or None)
    return JSON({
        "conversation_id": conv.id,
        "channel": route.channel,
        "via": route.account,
        "default_via": routes[0].account,
        "routes": rows,
        **window,
        "now": now,
        "templates": templates,
        "can_reply": True,
    })


class TemplateBody(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    language: str
    params: list[str] = []
    client_id: str = ""
    via: str | None = None


@agent_route("conversation.template", write=True)
async def send_template(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, TemplateBody, state.settings.http_max_body)
    conv = await queries.get_conversation(state.pool, agent,
                                          pk(request, "conversation_id"))
    async with state.pool.acquire() as conn:
        route = choose_reply_route(conv.channel, conv.inbox,
                                   await inbound_uses(conn, conv.id), body.via)
        account = await load_account(conn, route.account)
    if route.channel != "whatsapp" or account is None or account.provider != "meta":
        raise BadInput("templates are only for WhatsApp Cloud API inboxes")
    # One template per (name, language): the same tag however it is spelled (pt_BR,
    # pt-br), never a fallback (a template is one exact approved text).
    found = next((t for t in account.templates if t.name == body.name
                  and normalize_tag(t.language) == normalize_tag(body.language)), None)
    if found is None:
        raise BadInput(f"no approved template {body.name!r} ({body.language}) in this inbox")
    text = render_template(found.body, body.params)
    message, created = await actions.post_agent_reply(
        state.pool, state.publisher, agent, conv.id, text=text,
        client_id=body.client_id or str(uuid.uuid4()),
        template=TemplateChoice(name=found.name, language=found.language,
                                params=body.params),
        via=route.account)
    if created:
        await enqueue_delivery(state.redis, state.settings, message)
    return JSON({"message": message}, status_code=201 if created else 200)


routes = [
    Route("/api/v1/conversations/{conversation_id:pk}/reply-options", reply_options),
    Route("/api/v1/conversations/{conversation_id:pk}/templates", reply_options),
    Route("/api/v1/conversations/{conversation_id:pk}/template", send_template,
          methods=["POST"]),
]
