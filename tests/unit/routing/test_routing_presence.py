"""Presence transitions from heartbeats: online -> (grace) -> away -> offline, chosen
statuses, reconnects, and what routing does when presence changes."""

from __future__ import annotations

import pytest

from hub.routing import AgentRuntime, RouterState, decide
from hub.routing.config import PresenceConfig
from hub.routing.decisions import PresenceChange, RescindOffer
from hub.routing.presence import (
    connect,
    derive_presence,
    disconnect,
    heartbeat,
    next_presence_change,
    set_status,
)
from tests.fixtures.routing_state import add_item, make_config, offered_to, step

CFG = PresenceConfig(heartbeat_timeout_s=45, away_grace_s=30, offline_after_s=600)


def test_unknown_or_never_connected_agent_is_offline() -> None:
    assert derive_presence(None, CFG, 100) == "offline"
    assert derive_presence(AgentRuntime(id=1), CFG, 100) == "offline"


def test_clean_disconnect_grace_then_away_then_offline() -> None:
    a = connect(AgentRuntime(id=1), 0)
    assert derive_presence(a, CFG, 10) == "online"
    a = disconnect(a, 100)
    assert derive_presence(a, CFG, 100) == "online"  # grace: a reload does not flap
    assert derive_presence(a, CFG, 129.9) == "online"
    assert derive_presence(a, CFG, 130) == "away"  # auto-away
    assert derive_presence(a, CFG, 699.9) == "away"
    assert derive_presence(a, CFG, 700) == "offline"
    assert next_presence_change(a, CFG, 100) == 130
    assert next_presence_change(a, CFG, 130) == 700
    assert next_presence_change(a, CFG, 700) is None


def test_silent_socket_counts_as_lost_after_heartbeat_timeout() -> None:
    a = heartbeat(connect(AgentRuntime(id=1), 0), 10)
    assert derive_presence(a, CFG, 54) == "online"
    assert next_presence_change(a, CFG, 20) == 55  # heartbeat deadline
    # lost at 55; grace until 85, away until 655.
    assert derive_presence(a, CFG, 84) == "online"
    assert derive_presence(a, CFG, 85) == "away"
    assert derive_presence(a, CFG, 655) == "offline"
    assert derive_presence(heartbeat(a, 90), CFG, 91) == "online"  # back


def test_reconnect_within_grace_keeps_online() -> None:
    a = disconnect(connect(AgentRuntime(id=1), 0), 50)
    a = connect(a, 60)
    assert derive_presence(a, CFG, 100) == "online"
    assert a.disconnected_at is None


@pytest.mark.parametrize(("status", "presence"),
                         [("available", "online"), ("away", "away"), ("busy", "busy"),
                          ("offline", "offline")])
def test_chosen_status(status: str, presence: str) -> None:
    a = set_status(connect(AgentRuntime(id=1), 0), status)  # type: ignore[arg-type]
    assert derive_presence(a, CFG, 1) == presence


def test_chosen_busy_survives_grace_then_auto_away() -> None:
    a = disconnect(set_status(connect(AgentRuntime(id=1), 0), "busy"), 10)
    assert derive_presence(a, CFG, 20) == "busy"
    assert derive_presence(a, CFG, 40) == "away"


def test_decide_announces_presence_changes_once() -> None:
    cfg = make_config([{"id": "q"}], [{"id": 1, "queues": ["q"]}])
    state = RouterState(agents={1: connect(AgentRuntime(id=1), 0)})
    state, decisions = step(cfg, state, 1)
    assert decisions == [PresenceChange(agent_id=1, presence="online")]
    state, decisions = step(cfg, state, 2)
    assert decisions == []
    state = RouterState(agents={1: disconnect(state.agents[1], 3)}, items=state.items)
    state, decisions = step(cfg, state, 40, keep_alive=False)
    assert decisions == [PresenceChange(agent_id=1, presence="away")]
    state, decisions = step(cfg, state, 700, keep_alive=False)
    assert decisions == [PresenceChange(agent_id=1, presence="offline")]


def test_only_online_agents_get_offers_and_pending_offers_are_rescinded() -> None:
    cfg = make_config([{"id": "q"}], [{"id": 1, "queues": ["q"]}, {"id": 2, "queues": ["q"]}],
                      offers={"timeout_s": 120})
    agents = {1: connect(AgentRuntime(id=1, published="online"), 0),
              2: set_status(connect(AgentRuntime(id=2, published="busy"), 0), "busy")}
    state = add_item(cfg, RouterState(agents=agents), 1, 0)
    state, decisions = step(cfg, state, 1)
    assert offered_to(decisions) == {1: [1]}
    # Agent 1 closes the inbox; after the grace they are away and the offer is withdrawn.
    state = RouterState(agents={**state.agents, 1: disconnect(state.agents[1], 2)},
                        items=state.items)
    assert [d for d in decide(cfg, state, 20) if isinstance(d, RescindOffer)] == []
    state, decisions = step(cfg, state, 33, keep_alive=False)
    assert RescindOffer(item_id=1, agent_id=1, reason="agent_unavailable") in decisions
    assert offered_to(decisions) == {}  # agent 2 is busy: nobody to offer to
    assert state.items[1].status == "queued"
