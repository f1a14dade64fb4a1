"""Routing REST routes: offers (accept, decline), manual work (pick, complete), supervisor
moves (reassign, transfer), presence, the queue board, and the admin config API.

Every route authenticates and checks the role (writes also the Origin). A command is
dry-run on a fresh snapshot for a precise 403/404/409 reason, then applied through the
atomic layer (which re-checks), then its journal entry is persisted before we answer,
so a client that reloads sees the result. Bad input gets a 4xx JSON reason.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
import yaml
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Route

from hub import access
from hub.agents import store as agents_store
from hub.errors import BadInput, Forbidden, NotFound
from hub.outbox import Publisher
from hub.routing import board_store, commands
from hub.routing.atomic import Refused, apply_atomically
from hub.routing.config import AgentProfile, CompiledConfig
from hub.routing.configstore import (
    ConfigCache,
    latest_config,
    list_versions,
    save_config,
)
from hub.routing.decisions import AnyDecision
from hub.routing.loader import RoutingConfigError, load_config
from hub.routing.persist import persist_journal
from hub.routing.presence import derive_presence
from hub.routing.service import board, wake_router
from hub.routing.state import RouterState
from hub.routing.store import load_state
from hub.schema import Agent
from hub.sla.rules.load import SlaPolicyError
from web.http import JSON, read_body, read_json
from web.realtime.presence import set_agent_status
from web.routing_kit import agent_route, pk
from web.sla_routing_section import check_routing_section, store_routing_section
from web.state import HubState


class InvalidConfig(BadInput):
    status = 422
    code = "invalid_config"


def _configs(request: HTTPConnection, state: HubState) -> ConfigCache:
    cache: ConfigCache | None = getattr(request.app.state, "routing_configs", None)
    if cache is None:
        cache = ConfigCache(state.pool, state.redis, state.settings)
        request.app.state.routing_configs = cache
    return cache


async def _snapshot(request: HTTPConnection, state: HubState
                    ) -> tuple[CompiledConfig, RouterState, float]:
    cfg = await _configs(request, state).get()
    return cfg, await load_state(state.redis, state.settings), time.time()


def _item_param(request: Request) -> int:
    return pk(request, "item_id")


async def _apply(state: HubState, agent: Agent, cfg: CompiledConfig, d: AnyDecision,
                 now: float) -> dict[str, Any]:
    outcome = await apply_atomically(state.redis, state.settings, cfg, d, now, by=agent.id,
                                     origin="web")
    if isinstance(outcome, Refused):
        raise outcome.error()
    publisher: Publisher = state.publisher
    await persist_journal(state.pool, state.redis, state.settings, publisher)
    await wake_router(state.redis, state.settings, "command")
    return {"ok": True, "decision": d,
            "ended": [{"agent_id": a, "outcome": s} for a, s in outcome.ended]}


async def _run(request: Request, state: HubState, agent: Agent, cfg: CompiledConfig,
               d: AnyDecision, now: float) -> Response:
    return JSON(await _apply(state, agent, cfg, d, now))


async def answer_offer(conn: HTTPConnection, state: HubState, agent: Agent, item_id: int,
                       accept: bool) -> dict[str, Any]:
    """Accept or decline one's own offer: the REST routes and the agent socket's
    ``accept`` / ``decline`` frames (same checks, same atomic apply, same journal)."""
    cfg, snap, now = await _snapshot(conn, state)
    d = (commands.accept if accept else commands.decline)(cfg, snap, item_id, agent.id, now)
    return await _apply(state, agent, cfg, d, now)


def _actor(agent: Agent) -> commands.Actor:
    return commands.Actor(agent_id=agent.id, role=agent.role)


# ---- agents ---------------------------------------------------------------------------


def _offer_view(cfg: CompiledConfig, state: RouterState, agent_id: int | None,
                now: float) -> list[dict[str, Any]]:
    out = []
    for item in state.items.values():
        for o in item.pending():
            if agent_id is None or o.agent_id == agent_id:
                out.append({"work_item_id": item.id, "agent_id": o.agent_id, "queue": o.queue,
                            "channel": item.channel, "offered_at": o.offered_at,
                            "expires_at": o.expires_at,
                            "expires_in_s": round(max(0.0, o.expires_at - now), 1)})
    return sorted(out, key=lambda x: (x["offered_at"], x["work_item_id"]))


async def _with_conversations(state: HubState, offers: list[dict[str, Any]]
                              ) -> list[dict[str, Any]]:
    if not offers:
        return offers
    rows = await board_store.work_item_labels(state.pool, [o["work_item_id"] for o in offers])
    by_id = {r[0]: r for r in rows}
    for o in offers:
        r = by_id.get(o["work_item_id"])
        o.update(conversation_id=r[1] if r else None, inbox=r[2] if r else "",
                 contact_name=r[3] if r else "", subject=r[4] if r else "")
    return offers


@agent_route("routing.offers")
async def my_offers(request: Request, state: HubState, agent: Agent) -> Response:
    """Pending offers: the agent's own; supervisors may ask for everyone's (?all=1)."""
    cfg, snap, now = await _snapshot(request, state)
    everyone = request.query_params.get("all") == "1"
    if everyone and not access.allows(agent, "routing.see_everyone"):
        raise Forbidden("only supervisors see other agents' offers")
    offers = _offer_view(cfg, snap, None if everyone else agent.id, now)
    return JSON({"offers": await _with_conversations(state, offers), "now": now})


@agent_route("routing.answer_offer", write=True)
async def accept(request: Request, state: HubState, agent: Agent) -> Response:
    return JSON(await answer_offer(request, state, agent, _item_param(request), True))


@agent_route("routing.answer_offer", write=True)
async def decline(request: Request, state: HubState, agent: Agent) -> Response:
    return JSON(await answer_offer(request, state, agent, _item_param(request), False))


@agent_route("routing.answer_offer", write=True)
async def pick(request: Request, state: HubState, agent: Agent) -> Response:
    cfg, snap, now = await _snapshot(request, state)
    d = commands.pick(cfg, snap, _actor(agent), _item_param(request), now)
    return await _run(request, state, agent, cfg, d, now)


@agent_route("routing.answer_offer", write=True)
async def complete(request: Request, state: HubState, agent: Agent) -> Response:
    """The holder finished: wrap-up starts (capacity stays in use until it ends)."""
    cfg, snap, now = await _snapshot(request, state)
    d = commands.complete(cfg, snap, _item_param(request), agent.id, now)
    return await _run(request, state, agent, cfg, d, now)


@agent_route("queue.view")
async def queue_board(request: Request, state: HubState, agent: Agent) -> Response:
    """The queues the agent may see with their numbers and the items they may pick;
    supervisors also get the items in progress and the agents they may hand work to."""
    cfg, snap, now = await _snapshot(request, state)
    actor = _actor(agent)
    visible = set(commands.visible_queues(cfg, actor))
    stats = [s for s in board(cfg, snap, now) if s.queue in visible]
    items = [{"work_item_id": i.id, "queue": i.queue, "channel": i.channel,
              "waiting_s": round(now - i.enqueued_at, 1), "offered": bool(i.pending())}
             for i in commands.pickable(cfg, snap, actor, now)]
    out: dict[str, Any] = {"queues": stats, "version": cfg.version,
                           "pickable": await _with_conversations(state, items[:200])}
    if actor.supervises:
        out.update(await supervisor_view(state, cfg, snap, actor, now))
    return JSON(out)


async def supervisor_view(state: HubState, cfg: CompiledConfig, snap: RouterState,
                          actor: commands.Actor, now: float) -> dict[str, Any]:
    """What supervisors see beyond the queues: the items in progress with their holder,
    the agents they may hand work to, the queue names (the inbox's board and /board)."""
    active = await _with_conversations(state, [
        {"work_item_id": i.id, "queue": i.queue, "channel": i.channel, "agent_id": i.agent_id,
         "status": i.status, "held_s": round(now - (i.assigned_at or i.enqueued_at), 1)}
        for i in commands.in_progress(snap, actor)[:200]])
    await _with_agent_names(state, active)
    return {"active": active, "agents": await _board_agents(state, cfg, snap, now),
            "queue_names": list(cfg.queue_order)}


async def routing_snapshot(conn: HTTPConnection, state: HubState
                           ) -> tuple[CompiledConfig, RouterState, float]:
    """The running routing config, the live Redis state and the time they were read."""
    return await _snapshot(conn, state)


async def _with_agent_names(state: HubState, items: list[dict[str, Any]]) -> None:
    """The holder's name beside its id: the board shows people, not ids (also for agents
    without a routing profile, who are not in the board's agent list)."""
    ids = sorted({i["agent_id"] for i in items if i.get("agent_id") is not None})
    names = await agents_store.agent_names(state.pool, ids)
    for i in items:
        i["agent_name"] = names.get(i.get("agent_id"), "")


async def _board_agents(state: HubState, cfg: CompiledConfig, snap: RouterState,
                        now: float) -> list[dict[str, Any]]:
    """Agents with a routing profile: the targets a supervisor may hand work to."""
    ids = sorted(cfg.agents)
    names = await agents_store.agent_names(state.pool, ids)
    return [{"agent_id": a, "name": names.get(a, f"agent {a}"),
             "presence": derive_presence(snap.agents.get(a), cfg.raw.presence, now)}
            for a in ids]


class StatusBody(msgspec.Struct, forbid_unknown_fields=True):
    status: str


@agent_route("routing.presence")
async def get_presence(request: Request, state: HubState, agent: Agent) -> Response:
    cfg, snap, now = await _snapshot(request, state)
    if not access.allows(agent, "routing.see_everyone"):
        ids = [agent.id]
    else:
        ids = sorted(set(cfg.agents) | set(snap.agents))
    out = [{"agent_id": a, "presence": derive_presence(snap.agents.get(a), cfg.raw.presence, now),
            "status": snap.agents[a].status if a in snap.agents else "available"}
           for a in ids]
    return JSON({"agents": out})


@agent_route("routing.presence", write=True)
async def put_presence(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, StatusBody, state.settings.http_max_body)
    await set_agent_status(state.redis, state.settings, agent.id, body.status)
    return JSON({"ok": True, "status": body.status})


# ---- supervisors ------------------------------------------------------------------------


class ReassignBody(msgspec.Struct, forbid_unknown_fields=True):
    agent_id: int
    force: bool = False


class TransferBody(msgspec.Struct, forbid_unknown_fields=True):
    queue: str | None = None
    agent_id: int | None = None


@agent_route("queue.reassign", write=True)
async def reassign(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, ReassignBody, state.settings.http_max_body)
    cfg, snap, now = await _snapshot(request, state)
    d = commands.reassign(cfg, snap, _actor(agent), _item_param(request), body.agent_id, now,
                          force=body.force)
    return await _run(request, state, agent, cfg, d, now)


@agent_route("routing.answer_offer", write=True)
async def transfer(request: Request, state: HubState, agent: Agent) -> Response:
    """To a queue (supervisors, or the item's holder) or to an agent (supervisors)."""
    body = await read_json(request, TransferBody, state.settings.http_max_body)
    if (body.queue is None) == (body.agent_id is None):
        raise BadInput("give exactly one of queue, agent_id")
    cfg, snap, now = await _snapshot(request, state)
    d: AnyDecision
    if body.agent_id is not None:
        d = commands.reassign(cfg, snap, _actor(agent), _item_param(request), body.agent_id,
                              now)
    else:
        assert body.queue is not None
        d = commands.transfer(cfg, snap, _actor(agent), _item_param(request), body.queue[:64],
                              now)
    return await _run(request, state, agent, cfg, d, now)


# ---- admin: config and agent profiles --------------------------------------------------------


def _config_error(exc: RoutingConfigError | SlaPolicyError) -> Response:
    return JSON({"error": "invalid_config", "reason": str(exc), "path": exc.path,
                 "problem": exc.problem}, status_code=422)


@agent_route("routing.configure")
async def get_config(request: Request, state: HubState, agent: Agent) -> Response:
    found = await latest_config(state.pool)
    if found is None:
        cfg = await _configs(request, state).get()
        found = await latest_config(state.pool) or (cfg, "")
    cfg, text = found
    return JSON({"version": cfg.version, "content_hash": cfg.content_hash, "yaml": text,
                 "config": msgspec.to_builtins(cfg.raw)})


@agent_route("routing.configure", write=True)
async def put_config(request: Request, state: HubState, agent: Agent) -> Response:
    """A new config as YAML (``application/yaml`` / ``text/yaml``) or JSON."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/yaml", "application/x-yaml", "text/yaml", "text/plain",
                     "application/json"):
        raise BadInput("Content-Type must be application/yaml or application/json",
                       code="unsupported_media_type")
    body = await read_body(request, 256 * 1024)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput("the config must be UTF-8") from None
    try:  # the SLA policies it may carry (docs/sla.md "In the routing YAML")
        sla = await check_routing_section(state, text)
    except SlaPolicyError as exc:
        return _config_error(exc)
    try:
        cfg = await save_config(state.pool, state.redis, state.settings, text, by=agent.id)
    except RoutingConfigError as exc:
        return _config_error(exc)
    out: dict[str, Any] = {"version": cfg.version, "content_hash": cfg.content_hash}
    if sla is not None:
        try:
            out["sla_version"] = await store_routing_section(state, agent, sla, cfg)
        except SlaPolicyError as exc:
            return _config_error(exc)
    return JSON(out, status_code=201)


@agent_route("routing.configure")
async def config_versions(request: Request, state: HubState, agent: Agent) -> Response:
    return JSON({"versions": await list_versions(state.pool)})


@agent_route("routing.configure")
async def get_profile(request: Request, state: HubState, agent: Agent) -> Response:
    cfg = await _configs(request, state).get()
    profile = cfg.agents.get(pk(request, "agent_id"))
    if profile is None:
        raise NotFound("this agent has no routing profile")
    return JSON({"profile": profile, "version": cfg.version})


class ProfileBody(msgspec.Struct, forbid_unknown_fields=True):
    queues: list[str] | None = None
    skills: dict[str, int] | None = None
    languages: list[str] | None = None
    capacity: int | msgspec.UnsetType | None = msgspec.UNSET
    max_per_channel: dict[str, int] | None = None


@agent_route("routing.configure", write=True)
async def put_profile(request: Request, state: HubState, agent: Agent) -> Response:
    """Change one agent's routing profile: a new config version (validated like any)."""
    agent_id = pk(request, "agent_id")
    body = await read_json(request, ProfileBody, state.settings.http_max_body)
    exists = await agents_store.agent_exists(state.pool, agent_id)
    if not exists:
        raise NotFound("no such agent")
    cfg = await _configs(request, state).get()
    raw = msgspec.to_builtins(cfg.raw)
    agents = [a for a in raw.get("agents", []) if a["id"] != agent_id]
    old = msgspec.to_builtins(cfg.agents.get(agent_id) or AgentProfile(id=agent_id))
    new = dict(old)
    for name in ("queues", "skills", "languages", "max_per_channel"):
        value = getattr(body, name)
        if value is not None:
            new[name] = value
    if body.capacity is not msgspec.UNSET:
        new["capacity"] = body.capacity
    index = len(agents)
    agents.append(new)
    raw["agents"] = agents
    raw["version"] = cfg.version + 1
    try:
        load_config(raw)
    except RoutingConfigError as exc:
        # Point at the profile fields the client sent, not the whole document.
        path = exc.path.replace(f"agents[{index}]", "profile", 1)
        return JSON({"error": "invalid_config", "reason": f"{path}: {exc.problem}",
                     "path": path, "problem": exc.problem}, status_code=422)
    text = yaml.safe_dump(raw, sort_keys=False, allow_unicode=True)
    try:
        saved = await save_config(state.pool, state.redis, state.settings, text, by=agent.id)
    except RoutingConfigError as exc:
        return _config_error(exc)
    return JSON({"profile": saved.agents[agent_id], "version": saved.version})


routes = [
    Route("/api/v1/routing/offers", my_offers),
    Route("/api/v1/routing/queues", queue_board),
    Route("/api/v1/routing/presence", get_presence),
    Route("/api/v1/routing/presence", put_presence, methods=["PUT", "POST"]),
    Route("/api/v1/work-items/{item_id:pk}/accept", accept, methods=["POST"]),
    Route("/api/v1/work-items/{item_id:pk}/decline", decline, methods=["POST"]),
    Route("/api/v1/work-items/{item_id:pk}/pick", pick, methods=["POST"]),
    Route("/api/v1/work-items/{item_id:pk}/complete", complete, methods=["POST"]),
    Route("/api/v1/work-items/{item_id:pk}/reassign", reassign, methods=["POST"]),
    Route("/api/v1/work-items/{item_id:pk}/transfer", transfer, methods=["POST"]),
    Route("/api/v1/routing/config", get_config),
    Route("/api/v1/routing/config", put_config, methods=["PUT"]),
    Route("/api/v1/routing/config/versions", config_versions),
    Route("/api/v1/routing/agents/{agent_id:pk}", get_profile),
    Route("/api/v1/routing/agents/{agent_id:pk}", put_profile, methods=["PUT"]),
]
