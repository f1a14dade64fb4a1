"""Builders shared by the routing tests (pure: no servers, no clock).

Kept in a ``test_routing_*`` module so it lives with them; the few tests here check
the builders themselves.
"""

from __future__ import annotations

from typing import Any

from msgspec.structs import replace

from hub.routing import (
    AgentRuntime,
    AnyDecision,
    CompiledConfig,
    RouterState,
    apply,
    apply_all,
    decide,
    enqueue,
    load_config,
)
from hub.routing.decisions import OfferItem
from hub.routing.expr import Value
from hub.routing.state import loads

# Heartbeats never lapse in these tests (a silent socket would take 11 days); clean
# disconnects still go away after 30 s and offline after 600 s.
PRESENCE = {"heartbeat_timeout_s": 1e6, "away_grace_s": 30, "offline_after_s": 600}


def make_config(queues: list[dict[str, Any]], agents: list[dict[str, Any]] | None = None,
                **top: Any) -> CompiledConfig:
    """A config from plain dicts (version 1 unless given)."""
    data: dict[str, Any] = {"version": 1, "presence": PRESENCE, "queues": queues,
                            "agents": agents or []}
    data.update(top)
    return load_config(data)


def online(*ids: int, at: float = 0.0, **fields: Any) -> dict[int, AgentRuntime]:
    """Connected agents with a fresh heartbeat and ``online`` already published."""
    return {i: AgentRuntime(id=i, connected=True, last_heartbeat_at=at, published="online",
                            **fields) for i in ids}


def alive(state: RouterState, now: float) -> RouterState:
    """Every connected agent sends a heartbeat at ``now``."""
    agents = {i: replace(a, last_heartbeat_at=now) if a.connected else a
              for i, a in state.agents.items()}
    return replace(state, agents=agents)


def add_item(cfg: CompiledConfig, state: RouterState, item_id: int, now: float,
             channel: str = "chat", attrs: dict[str, Value] | None = None,
             **kw: Any) -> RouterState:
    return apply(cfg, state, enqueue(cfg, item_id=item_id, channel=channel, created_at=now,
                                     attrs=attrs, **kw), now)


def give(cfg: CompiledConfig, state: RouterState, item_id: int, agent_id: int,
         channel: str = "chat", at: float = 0.0) -> RouterState:
    """An item already assigned to ``agent_id`` (it uses their capacity)."""
    item = enqueue(cfg, item_id=item_id, channel=channel, created_at=at).item
    items = {**state.items, item_id: replace(item, agent_id=agent_id, assigned_at=at)}
    return replace(state, items=items)


def step(cfg: CompiledConfig, state: RouterState, now: float,
         keep_alive: bool = True) -> tuple[RouterState, list[AnyDecision]]:
    """decide + apply; every decision of a fresh decide must apply cleanly."""
    if keep_alive:
        state = alive(state, now)
    decisions = decide(cfg, state, now)
    state, applied, rejected = apply_all(cfg, state, decisions, now)
    assert not rejected, rejected
    return state, applied


def offers_in(decisions: list[AnyDecision]) -> list[OfferItem]:
    return [d for d in decisions if isinstance(d, OfferItem)]


def offered_to(decisions: list[AnyDecision]) -> dict[int, list[int]]:
    """item id -> agent ids offered, from a decision list."""
    return {d.item_id: [t.agent_id for t in d.targets] for d in offers_in(decisions)}


def units_used(state: RouterState, agent_id: int, now: float) -> int:
    load = loads(state, now).get(agent_id)
    return load.units if load is not None else 0


def test_make_config_and_step() -> None:
    cfg = make_config([{"id": "q"}], [{"id": 1, "queues": ["q"]}])
    state = add_item(cfg, RouterState(agents=online(1)), 7, 0.0)
    state, decisions = step(cfg, state, 1.0)
    assert offered_to(decisions) == {7: [1]}
    assert units_used(state, 1, 1.0) == 20
