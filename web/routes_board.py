"""The supervisor wallboard: the page ``/board``, its snapshot ``GET /api/v1/board``
(queues + agents in one response, for the page load and every live refresh) and the
one action the routing API lacked, a supervisor setting another agent's presence.

Reassign and transfer are the routing API's own routes (web/routes_routing.py), called by
the page as they are. The live part of the board is the queue board the inbox already
shows (``board``, ``supervisor_view``); the day counters come from hub/reports/store.py.
Metric definitions: docs/board.md.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hub import access
from hub.agents import store as agents_store
from hub.channels_table import channels_where
from hub.errors import HubError, NotFound
from hub.reports import store as reports
from hub.reports.rules import day_start, empty_backlog, occupancy
from hub.routing import commands
from hub.routing.config import CompiledConfig
from hub.routing.presence import derive_presence
from hub.routing.service import board
from hub.routing.state import RouterState, loads
from hub.schema import Agent
from web.auth import agent_from_connection
from web.http import JSON, read_json
from web.realtime.presence import set_agent_status
from web.routes_pages import page_file
from web.routes_routing import routing_snapshot, supervisor_view
from web.routing_kit import agent_route, page_route, pk
from web.state import HubState

# The channels whose open items count as a mailbox backlog (email today).
_BACKLOG_CHANNELS = channels_where(from_address=True)


def _require_board(state: HubState, agent: Agent) -> None:
    access.may_see_board(agent, state.settings.board_for_agents).raise_if_denied()


@page_route("page.board")
async def board_page(request: Request) -> Response:
    """The wallboard page; an agent the setting keeps out goes to the inbox."""
    state: HubState = request.app.state.hub
    try:
        _require_board(state, await agent_from_connection(state, request))
    except HubError:
        return RedirectResponse("/inbox", status_code=303)
    return page_file("board.html")


def _queue_rows(cfg: CompiledConfig, snap: RouterState, now: float,
                day: dict[str, dict[str, int]], backlog: dict[str, dict[str, int]]
                ) -> list[dict[str, Any]]:
    out = []
    for s in board(cfg, snap, now):
        row = msgspec.to_builtins(s)
        row.pop("type", None)
        counts = day.get(s.queue, {})
        row.update(waiting=s.depth, in_progress=s.assigned,
                   handled_today=counts.get("handled", 0),
                   abandoned_today=counts.get("abandoned", 0),
                   backlog=backlog.get(s.queue, empty_backlog()),
                   members=list(cfg.members.get(s.queue, ())))
        out.append(row)
    return out


class _Today(msgspec.Struct, frozen=True):
    """The agents' figures of the day (hub/reports/store.py)."""

    handled: dict[int, int]
    presence: dict[int, dict[str, Any]]
    busy: dict[int, float]


def _in_state_s(logged: dict[str, Any] | None, presence: str, now: float) -> float | None:
    """Time in the current presence: from the log's last change, when the log agrees
    with the live presence (a change not yet persisted leaves it unknown)."""
    if logged is None or logged["presence"] != presence:
        return None
    return round(max(0.0, now - float(logged["since_at"])), 1)


def _agent_rows(cfg: CompiledConfig, snap: RouterState, now: float, names: dict[int, str],
                today: _Today, items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    load = loads(snap, now)
    queues_of: dict[int, list[str]] = {}
    for q in cfg.queue_order:
        for a in cfg.members.get(q, ()):
            queues_of.setdefault(a, []).append(q)
    out = []
    for a in sorted(cfg.agents):
        mine = load.get(a)
        per_channel = dict(mine.per_channel) if mine else {}
        runtime = snap.agents.get(a)
        presence = derive_presence(runtime, cfg.raw.presence, now)
        logged = today.presence.get(a)
        staffed = float(logged["staffed_s"]) if logged else 0.0
        busy = today.busy.get(a, 0.0)
        row: dict[str, Any] = {
            "agent_id": a, "name": names.get(a, f"agent {a}"), "presence": presence,
            "in_state_s": _in_state_s(logged, presence, now),
            "status": runtime.status if runtime else "available",
            "queues": queues_of.get(a, []),
            "capacity": cfg.capacity(a), "units": mine.units if mine else 0,
            "load": {ch: {"items": n, "limit": cfg.channel_limit(a, ch)}
                     for ch, n in sorted(per_channel.items())},
            "handled_today": today.handled.get(a, 0),
            "staffed_today_s": round(staffed, 1), "busy_today_s": round(busy, 1),
            "occupancy_today": occupancy(busy, staffed)}
        if items is not None:
            row["items"] = [i for i in items if i.get("agent_id") == a]
        out.append(row)
    return out


@agent_route("board.view")
async def board_snapshot(request: Request, state: HubState, agent: Agent) -> Response:
    """Every queue and every agent with a routing profile, live figures and today's.
    Plain agents (when allowed) get the figures without the items in progress."""
    _require_board(state, agent)
    cfg, snap, now = await routing_snapshot(request, state)
    since = day_start(now)
    day = await reports.queue_day_counts(state.pool, since)
    backlog = await reports.backlog(state.pool, _BACKLOG_CHANNELS, now)
    today = _Today(handled=await reports.agent_handled(state.pool, since),
                   presence=await reports.presence_today(state.pool, since, now),
                   busy=await reports.busy_today(state.pool, since, now))
    names = await agents_store.agent_names(state.pool, sorted(cfg.agents))
    actor = commands.Actor(agent_id=agent.id, role=agent.role)
    out: dict[str, Any] = {"now": now, "day_start": since, "version": cfg.version,
                           "supervisor": actor.supervises,
                           "queues": _queue_rows(cfg, snap, now, day, backlog)}
    items: list[dict[str, Any]] | None = None
    if actor.supervises:
        view = await supervisor_view(state, cfg, snap, actor, now)
        items = view["active"]
        out["queue_names"] = view["queue_names"]
    out["agents"] = _agent_rows(cfg, snap, now, names, today, items)
    return JSON(out)


class PresenceBody(msgspec.Struct, forbid_unknown_fields=True):
    status: str


@agent_route("presence.set_others", write=True)
async def set_presence(request: Request, state: HubState, agent: Agent) -> Response:
    """A supervisor sets an agent's chosen status (away, offline, …) as the agent would."""
    agent_id = pk(request, "agent_id")
    body = await read_json(request, PresenceBody, state.settings.http_max_body)
    if not await agents_store.agent_exists(state.pool, agent_id):
        raise NotFound("no such agent")
    await set_agent_status(state.redis, state.settings, agent_id, body.status)
    return JSON({"ok": True, "agent_id": agent_id, "status": body.status})


routes = [
    Route("/board", board_page),
    Route("/api/v1/board", board_snapshot),
    Route("/api/v1/board/agents/{agent_id:pk}/presence", set_presence, methods=["POST"]),
]
