"""Admin REST: inboxes (with what to configure at the provider), their provider
accounts, and agents. Admin role on every route, Origin on writes; secrets are shown
once (a new API token or identity secret) and masked ever after. Rules: ``hub.admin.rules``;
writes and audit rows: ``hub.admin.store``. docs/admin.md."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.admin import store
from hub.admin.rules import (
    AccountBody,
    AckBody,
    AgentCreate,
    AgentPatch,
    InboxCreate,
    InboxPatch,
    MembersBody,
    TemplateBody,
    agent_missing,
    check_password,
    inbox_missing,
)
from hub.admin.store import inboxes as inboxes_store
from hub.config import Settings
from hub.email.store.recipients import publish_mail_recipients
from hub.routing.config import CompiledConfig
from hub.routing.configstore import latest_config
from hub.schema import Agent
from web.http import JSON, read_json
from web.passwords import hash_password
from web.realtime.access import announce_access_change
from web.routing_kit import agent_route, pk
from web.state import HubState


def provider_setup(settings: Settings, inbox: dict[str, Any]) -> dict[str, str]:
    """Where the provider (or the shop) must point for this inbox to receive anything."""
    base = (settings.webhook_base_url or settings.public_url).rstrip("/")
    public = settings.public_url.rstrip("/")
    slug, channel = inbox["slug"], inbox["channel"]
    account = inbox["account"] or {}
    provider = account.get("provider")
    if channel == "chat":
        return {"widget_snippet":
                f'<script src="{public}/widget.js" data-inbox="{slug}"></script>'}
    if channel == "api":
        return {"messages_url": f"{public}/api/v1/inboxes/{slug}/messages"}
    if channel == "email":
        return {"inbound": "point the MX (or a forward) for"
                           f" {inbox['email_address'] or 'the address'} at `omnihub mail`"
                           " (SMTP/LMTP): it accepts the address within seconds; or add an"
                           " IMAP account for the mailbox"}
    if channel == "voice":
        return {"cti": "create a CTI endpoint for it: POST /api/v1/voice/cti-endpoints"}
    if provider == "twilio":
        return {"messaging_webhook_url": f"{base}/webhooks/twilio/sms",
                "status_callback_url": f"{base}/webhooks/twilio/sms"}
    if provider == "meta":
        return {"callback_url": f"{base}/webhooks/meta",
                "verify_token": "the verify_token you set on this account"}
    if provider == "telegram":
        return {"set_webhook": f"https://api.telegram.org/bot<token>/setWebhook?url="
                               f"{base}/webhooks/telegram/{slug}&secret_token=<secret_token>"}
    return {"account": "set the provider account: PUT /api/v1/admin/inboxes/"
                       f"{slug}/account"}


async def _routing(state: HubState) -> CompiledConfig | None:
    """The running routing config (agents' profiles: docs/routing.md), if any."""
    found = await latest_config(state.pool)
    return found[0] if found else None


def _with_setup(state: HubState, inbox: dict[str, Any], cfg: CompiledConfig | None
                ) -> dict[str, Any]:
    """The inbox, what to point where, and what is still missing for it to work."""
    staffed = len(cfg.members.get(inbox["default_queue"], ())) if cfg else 0
    missing = inbox_missing(
        channel=inbox["channel"], allowed_origins=inbox["allowed_origins"],
        members=len(inbox["members"]), has_account=inbox["account"] is not None,
        default_queue=inbox["default_queue"], queue_agents=staffed)
    return {**inbox, "setup": provider_setup(state.settings, inbox), "missing": missing}


def _with_routing(agent: dict[str, Any], cfg: CompiledConfig | None) -> dict[str, Any]:
    """The agent with their routing profile and what keeps them from getting work."""
    profile = cfg.agents.get(agent["id"]) if cfg else None
    return {**agent, "routing": profile, "missing": agent_missing(
        active=agent["active"], inboxes=agent["inboxes"],
        queues=list(profile.queues) if profile else None)}


@agent_route("admin.manage")
async def list_inboxes(request: Request, state: HubState, agent: Agent) -> Response:
    queues = await inboxes_store.queue_slugs(state.pool)
    cfg = await _routing(state)
    return JSON({"inboxes": [_with_setup(state, i, cfg)
                             for i in await store.list_inboxes(state.pool)],
                 "queues": queues})


@agent_route("admin.manage")
async def get_inbox(request: Request, state: HubState, agent: Agent) -> Response:
    return JSON({"inbox": _with_setup(state, await store.get_inbox(
        state.pool, request.path_params["inbox"]), await _routing(state))})


@agent_route("admin.manage", write=True)
async def put_members(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, MembersBody, state.settings.http_max_body)
    inbox, changed = await store.put_inbox_members(state.pool, agent,
                                                   request.path_params["inbox"], body)
    for agent_id in sorted(changed):  # their open sockets follow, as for PATCH agents
        await announce_access_change(state.redis, state.settings, agent_id=agent_id)
    return JSON({"inbox": _with_setup(state, inbox, await _routing(state))})


@agent_route("admin.manage", write=True)
async def create_inbox(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, InboxCreate, state.settings.http_max_body)
    inbox, shown = await store.create_inbox(state.pool, agent, body)
    if inbox["channel"] == "email":
        await publish_mail_recipients(state.pool, state.redis, state.settings)
    return JSON({"inbox": _with_setup(state, inbox, await _routing(state)), "secrets": shown},
                status_code=201)


@agent_route("admin.manage", write=True)
async def update_inbox(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, InboxPatch, state.settings.http_max_body)
    inbox = await store.update_inbox(state.pool, agent, request.path_params["inbox"], body)
    if inbox["channel"] == "email":
        await publish_mail_recipients(state.pool, state.redis, state.settings)
    return JSON({"inbox": _with_setup(state, inbox, await _routing(state))})


@agent_route("admin.manage", write=True)
async def rotate_secret(request: Request, state: HubState, agent: Agent) -> Response:
    shown = await store.rotate_inbox_secret(state.pool, agent, request.path_params["inbox"])
    return JSON({"secrets": shown})


@agent_route("admin.manage", write=True)
async def put_account(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, AccountBody, state.settings.http_max_body)
    inbox = await store.put_account(state.pool, agent, request.path_params["inbox"], body)
    return JSON({"inbox": _with_setup(state, inbox, await _routing(state))})


@agent_route("admin.manage")
async def get_templates(request: Request, state: HubState, agent: Agent) -> Response:
    return JSON({"templates": await store.get_templates(state.pool, request.path_params["inbox"])})


@agent_route("admin.manage", write=True)
async def put_templates(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, list[TemplateBody], state.settings.http_max_body)
    return JSON({"templates": await store.put_templates(
        state.pool, agent, request.path_params["inbox"], body)})


@agent_route("admin.manage")
async def get_ack(request: Request, state: HubState, agent: Agent) -> Response:
    return JSON(await store.get_ack(state.pool, request.path_params["inbox"]))


@agent_route("admin.manage", write=True)
async def put_ack(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, AckBody, state.settings.http_max_body)
    return JSON(await store.put_ack(state.pool, agent, request.path_params["inbox"], body))


@agent_route("admin.manage")
async def list_agents(request: Request, state: HubState, agent: Agent) -> Response:
    cfg = await _routing(state)
    return JSON({"agents": [_with_routing(a, cfg) for a in await store.list_agents(state.pool)],
                 # What a routing profile may name (PUT /api/v1/routing/agents/{id}).
                 "routing_queues": list(cfg.queue_order) if cfg else []})


@agent_route("admin.manage", write=True)
async def create_agent(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, AgentCreate, state.settings.http_max_body)
    digest = await asyncio.to_thread(hash_password, check_password(body.password))
    return JSON({"agent": _with_routing(await store.create_agent(state.pool, agent, body, digest),
                                        await _routing(state))}, status_code=201)


@agent_route("admin.manage", write=True)
async def update_agent(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, AgentPatch, state.settings.http_max_body)
    digest = (await asyncio.to_thread(hash_password, check_password(body.password))
              if body.password is not None else None)
    agent_id = pk(request, "agent_id")
    updated = await store.update_agent(state.pool, agent, agent_id, body, digest)
    # Inboxes, role, deactivation, password: the agent's open sockets follow within a
    # second on every web process, as REST does at once.
    await announce_access_change(state.redis, state.settings, agent_id=agent_id)
    return JSON({"agent": _with_routing(updated, await _routing(state))})


routes = [
    Route("/api/v1/admin/inboxes", list_inboxes),
    Route("/api/v1/admin/inboxes", create_inbox, methods=["POST"]),
    Route("/api/v1/admin/inboxes/{inbox}", get_inbox),
    Route("/api/v1/admin/inboxes/{inbox}", update_inbox, methods=["PATCH"]),
    Route("/api/v1/admin/inboxes/{inbox}/account", put_account, methods=["PUT"]),
    Route("/api/v1/admin/inboxes/{inbox}/members", put_members, methods=["PUT"]),
    Route("/api/v1/admin/inboxes/{inbox}/rotate-secret", rotate_secret, methods=["POST"]),
    Route("/api/v1/admin/inboxes/{inbox}/templates", get_templates),
    Route("/api/v1/admin/inboxes/{inbox}/templates", put_templates, methods=["PUT"]),
    Route("/api/v1/admin/inboxes/{inbox}/acknowledgement", get_ack),
    Route("/api/v1/admin/inboxes/{inbox}/acknowledgement", put_ack, methods=["PUT"]),
    Route("/api/v1/admin/agents", list_agents),
    Route("/api/v1/admin/agents", create_agent, methods=["POST"]),
    Route("/api/v1/admin/agents/{agent_id:pk}", update_agent, methods=["PATCH"]),
]
