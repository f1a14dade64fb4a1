"""Every strategy (round robin, least busy, longest idle, sticky with fallback), skill
and language requirements, and priority with ageing."""

from __future__ import annotations

from typing import Any

from msgspec.structs import replace

from hub.routing import RouterState, accept, apply, complete, decline
from hub.routing.config import CompiledConfig
from hub.routing.state import AgentRuntime
from tests.fixtures.routing_state import add_item, give, make_config, offered_to, online, step


def one_queue(strategy: str, n: int = 3, **queue: Any) -> CompiledConfig:
    return make_config([{"id": "q", "strategy": strategy, **queue}],
                       [{"id": i, "queues": ["q"]} for i in range(1, n + 1)])


def serve(cfg: CompiledConfig, state: RouterState, item_id: int, now: float
          ) -> tuple[RouterState, list[int]]:
    """Queue one item, offer it, the offered agent accepts and completes at once."""
    state = add_item(cfg, state, item_id, now)
    state, decisions = step(cfg, state, now)
    agents = offered_to(decisions).get(item_id, [])
    for agent in agents[:1]:
        state = apply(cfg, state, accept(cfg, state, item_id, agent, now), now)
        state = apply(cfg, state, complete(cfg, state, item_id, agent, now), now)
    return state, agents


def test_round_robin_rotates_and_keeps_its_cursor_in_state() -> None:
    cfg = one_queue("round_robin")
    state = RouterState(agents=online(1, 2, 3))
    order = []
    for i in range(7):
        state, agents = serve(cfg, state, i, float(i))
        order += agents
        assert state.rr_cursor["q"] == agents[0]
    assert order == [1, 2, 3, 1, 2, 3, 1]


def test_round_robin_skips_a_full_agent_without_losing_the_rotation() -> None:
    cfg = one_queue("round_robin")
    state = RouterState(agents=online(1, 2, 3), rr_cursor={"q": 1})
    state = give(cfg, state, 100, 2, channel="voice")  # agent 2 is on a call (full)
    state, agents = serve(cfg, state, 1, 1.0)
    assert agents == [3]
    state, agents = serve(cfg, state, 2, 2.0)
    assert agents == [1]


def test_round_robin_several_items_in_one_decide() -> None:
    cfg = one_queue("round_robin")
    state = RouterState(agents=online(1, 2, 3), rr_cursor={"q": 2})
    for i in range(4):
        state = add_item(cfg, state, i, 0.0)
    state, decisions = step(cfg, state, 1.0)
    assert offered_to(decisions) == {0: [3], 1: [1], 2: [2], 3: [3]}
    assert state.rr_cursor == {"q": 3}


def test_least_busy_prefers_the_lowest_share_of_capacity() -> None:
    cfg = make_config([{"id": "q", "strategy": "least_busy"}],
                      [{"id": 1, "queues": ["q"]}, {"id": 2, "queues": ["q"]},
                       {"id": 3, "queues": ["q"], "capacity": 120}])
    state = RouterState(agents=online(1, 2, 3))
    state = give(cfg, state, 101, 1)
    state = give(cfg, state, 102, 1)  # agent 1: 40/60
    state = give(cfg, state, 103, 2)  # agent 2: 20/60
    state = give(cfg, state, 104, 3)  # agent 3: 20/120, the lowest share
    state, agents = serve(cfg, state, 1, 1.0)
    assert agents == [3]
    state = give(cfg, state, 106, 3)  # agent 3: 40/120, same share as 20/60
    state, agents = serve(cfg, state, 2, 2.0)
    assert agents == [2]  # tie on share: fewer units in use


def test_longest_idle_prefers_the_agent_free_the_longest() -> None:
    cfg = one_queue("longest_idle")
    agents = online(1, 2, 3)
    agents[1] = replace(agents[1], last_freed_at=50.0)
    agents[2] = replace(agents[2], last_freed_at=10.0, last_assigned_at=5.0)
    agents[3] = replace(agents[3], last_assigned_at=30.0)
    state = give(cfg, RouterState(agents=agents), 100, 2)  # agent 2 is working
    state, got = serve(cfg, state, 1, 60.0)
    assert got == [3]  # free agents first; 3 idle since 30, 1 since 50
    state, got = serve(cfg, state, 2, 61.0)
    assert got == [1]  # 3 was just freed at 60
    # A never-used agent beats everyone.
    state = replace(state, agents={**state.agents, 4: AgentRuntime(
        id=4, connected=True, last_heartbeat_at=61.0, published="online")})
    cfg4 = one_queue("longest_idle", n=4)
    state, got = serve(cfg4, state, 3, 62.0)
    assert got == [4]


# ---- sticky ----------------------------------------------------------------------------


def sticky_cfg(**sticky: Any) -> CompiledConfig:
    return one_queue("sticky", sticky={"timeout_s": 60, "fallback": "round_robin", **sticky})


def test_sticky_offers_the_customers_last_agent() -> None:
    cfg = sticky_cfg()
    state = add_item(cfg, RouterState(agents=online(1, 2, 3)), 1, 0.0, last_agent_id=3)
    state, decisions = step(cfg, state, 0.0)
    assert offered_to(decisions) == {1: [3]}


def test_sticky_waits_while_the_last_agent_is_full_then_falls_back() -> None:
    cfg = sticky_cfg()
    state = give(cfg, RouterState(agents=online(1, 2, 3)), 100, 3, channel="voice")
    state = add_item(cfg, state, 1, 0.0, last_agent_id=3)
    state, decisions = step(cfg, state, 0.0)
    assert offered_to(decisions) == {}
    state, decisions = step(cfg, state, 59.0)
    assert offered_to(decisions) == {}
    state, decisions = step(cfg, state, 60.0)
    assert offered_to(decisions) == {1: [1]}  # fallback: round robin


def test_sticky_falls_back_at_once_when_the_agent_is_offline_or_declined() -> None:
    cfg = sticky_cfg()
    state = add_item(cfg, RouterState(agents=online(1, 2)), 1, 0.0, last_agent_id=3)
    state, decisions = step(cfg, state, 0.0)
    assert offered_to(decisions) == {1: [1]}

    state = add_item(cfg, RouterState(agents=online(1, 2, 3)), 2, 0.0, last_agent_id=3)
    state, decisions = step(cfg, state, 0.0)
    assert offered_to(decisions) == {2: [3]}
    state = apply(cfg, state, decline(cfg, state, 2, 3, 1.0), 1.0)
    state, decisions = step(cfg, state, 1.0)
    assert offered_to(decisions) == {2: [1]}


def test_sticky_without_waiting_falls_back_when_the_agent_is_full() -> None:
    cfg = sticky_cfg(wait_if_busy=False)
    state = give(cfg, RouterState(agents=online(1, 2, 3)), 100, 3, channel="voice")
    state = add_item(cfg, state, 1, 0.0, last_agent_id=3)
    state, decisions = step(cfg, state, 0.0)
    assert offered_to(decisions) == {1: [1]}


def test_sticky_without_a_last_agent_uses_the_fallback() -> None:
    cfg = sticky_cfg(fallback="least_busy")
    state = give(cfg, RouterState(agents=online(1, 2)), 100, 1)
    state = add_item(cfg, state, 1, 0.0)
    state, decisions = step(cfg, state, 0.0)
    assert offered_to(decisions) == {1: [2]}


# ---- skills and languages -------------------------------------------------------------


def skilled_cfg(**queue: Any) -> CompiledConfig:
    return make_config(
        [{"id": "q", "strategy": "round_robin", **queue}],
        [{"id": 1, "queues": ["q"], "skills": {"tv": 1}, "languages": ["en"]},
         {"id": 2, "queues": ["q"], "skills": {"tv": 3, "billing": 2}, "languages": ["de"]},
         {"id": 3, "queues": ["q"], "skills": {"billing": 1}}])  # any language


def offer_for(cfg: CompiledConfig, **attrs: Any) -> list[int]:
    state = add_item(cfg, RouterState(agents=online(1, 2, 3)), 1, 0.0, attrs=attrs)
    state, decisions = step(cfg, state, 0.0)
    return offered_to(decisions).get(1, [])


def test_item_skill_levels_are_requirements() -> None:
    cfg = skilled_cfg(offers={"mode": "broadcast", "broadcast_size": 3})
    assert offer_for(cfg, skills={"tv": 2}) == [2]
    assert offer_for(cfg, skills={"tv": 1}) == [1, 2]
    assert offer_for(cfg, skills=["billing"]) == [2, 3]
    assert offer_for(cfg, skills={"tv": 5}) == []


def test_queue_skill_requirements_and_languages() -> None:
    cfg = skilled_cfg(requires_skills={"billing": 1},
                      offers={"mode": "broadcast", "broadcast_size": 3})
    assert offer_for(cfg) == [2, 3]
    assert offer_for(cfg, language="de") == [2, 3]  # 3 speaks anything
    assert offer_for(cfg, language="en") == [3]
    no_lang = skilled_cfg(match_language=False, match_item_skills=False,
                          offers={"mode": "broadcast", "broadcast_size": 3})
    assert offer_for(no_lang, language="fr", skills={"tv": 9}) == [1, 2, 3]


# ---- priority and ageing --------------------------------------------------------------


def test_higher_priority_first_and_ageing_prevents_starvation() -> None:
    cfg = make_config([{"id": "q"}], [{"id": 1, "queues": ["q"], "capacity": 20}],
                      ageing={"every_s": 10, "step": 1, "max_boost": 50})
    agents = online(1)
    state = add_item(cfg, RouterState(agents=agents), 1, 0.0, priority=0)
    state = add_item(cfg, state, 2, 5.0, priority=2)
    state, decisions = step(cfg, state, 5.0)
    assert offered_to(decisions) == {2: [1]}  # 2 > 0 + 0

    state = RouterState(agents=agents)
    state = add_item(cfg, state, 1, 0.0, priority=0)
    state = add_item(cfg, state, 2, 29.0, priority=2)
    state, decisions = step(cfg, state, 30.0)
    assert offered_to(decisions) == {1: [1]}  # 0 + 3 (aged 30 s) > 2 + 0
    state = RouterState(agents=agents)
    state = add_item(cfg, state, 1, 0.0, priority=0)
    state = add_item(cfg, state, 2, 20.0, priority=2)
    state, decisions = step(cfg, state, 20.0)
    assert offered_to(decisions) == {1: [1]}  # 0 + 2 == 2 + 0: the older goes first


def test_ageing_is_capped_and_queue_priority_counts() -> None:
    cfg = make_config([{"id": "low"}, {"id": "high", "priority": 5}],
                      [{"id": 1, "queues": ["low", "high"], "capacity": 20}],
                      ageing={"every_s": 10, "step": 1, "max_boost": 3})
    state = add_item(cfg, RouterState(agents=online(1)), 1, 0.0, queue="low")
    state = add_item(cfg, state, 2, 999.0, queue="high")
    state, decisions = step(cfg, state, 1000.0)
    assert offered_to(decisions) == {2: [1]}  # 0 + min(3, 100) < 5 + 0
