"""Escalation: cumulative step timeouts (A for 60 s, then A+B, then overflow), every
path through the chain, relaxed skills, step boosts and transfers restarting it."""

from __future__ import annotations

from typing import Any

from msgspec.structs import replace

from hub.routing import Actor, RouterState, apply, next_wakeup, transfer
from hub.routing.config import CompiledConfig, EscalationStep
from hub.routing.decisions import Escalate, TransferItem
from hub.routing.escalation import chain_end, effective_priority, step_at
from tests.fixtures.routing_state import add_item, give, make_config, offered_to, online, step

CHAIN = [{"queues": ["a"], "timeout_s": 60},
         {"queues": ["a", "b"], "timeout_s": 120},
         {"queues": ["overflow"]}]


def chain_cfg(agents: list[dict[str, Any]], **queue: Any) -> CompiledConfig:
    return make_config([{"id": "a", "escalation": CHAIN, **queue}, {"id": "b"},
                        {"id": "overflow"}], agents, offers={"timeout_s": 500})


def escalations(decisions: list[Any]) -> list[tuple[int, int]]:
    return [(d.from_step, d.to_step) for d in decisions if isinstance(d, Escalate)]


def test_step_timeouts_are_cumulative() -> None:
    steps = tuple(EscalationStep(queues=tuple(s["queues"]), timeout_s=s.get("timeout_s"))
                  for s in CHAIN)
    assert [step_at(steps, age) for age in (0, 59.9, 60, 179.9, 180, 1e9)] == [0, 0, 1, 1, 2, 2]
    cfg = chain_cfg([])
    assert chain_end(cfg, "a") == 180
    assert chain_end(cfg, "b") == 0


def test_path_first_queue_answers_at_once() -> None:
    cfg = chain_cfg([{"id": 1, "queues": ["a"]}, {"id": 2, "queues": ["b"]}])
    state = add_item(cfg, RouterState(agents=online(1, 2)), 1, 0.0)
    state, decisions = step(cfg, state, 0.0)
    assert offered_to(decisions) == {1: [1]}


def test_path_second_step_adds_queue_b_after_60s() -> None:
    cfg = chain_cfg([{"id": 1, "queues": ["a"]}, {"id": 2, "queues": ["b"]}])
    state = give(cfg, RouterState(agents=online(1, 2)), 100, 1, channel="voice")  # A is full
    state = add_item(cfg, state, 1, 0.0)
    state, decisions = step(cfg, state, 0.0)
    assert decisions == []
    assert next_wakeup(cfg, state, 0.0) == 60.0
    state, decisions = step(cfg, state, 59.0)
    assert decisions == []
    state, decisions = step(cfg, state, 60.0)
    assert escalations(decisions) == [(0, 1)]
    assert offered_to(decisions) == {1: [2]}
    assert decisions[-1].targets[0].queue == "b"  # type: ignore[union-attr]


def test_path_overflow_after_the_whole_chain() -> None:
    cfg = chain_cfg([{"id": 3, "queues": ["overflow"]}])
    state = add_item(cfg, RouterState(agents=online(3)), 1, 0.0)
    state, decisions = step(cfg, state, 60.0)
    assert escalations(decisions) == [(0, 1)] and offered_to(decisions) == {}
    assert next_wakeup(cfg, state, 60.0) == 180.0
    state, decisions = step(cfg, state, 180.0)
    assert escalations(decisions) == [(1, 2)]
    assert offered_to(decisions) == {1: [3]}
    assert next_wakeup(cfg, state, 180.0) == 680.0  # only the offer's expiry is left


def test_a_late_decide_jumps_straight_to_the_current_step() -> None:
    cfg = chain_cfg([{"id": 3, "queues": ["overflow"]}])
    state = add_item(cfg, RouterState(agents=online(3)), 1, 0.0)
    state, decisions = step(cfg, state, 500.0)
    assert escalations(decisions) == [(0, 2)]
    assert offered_to(decisions) == {1: [3]}
    assert state.items[1].step == 2


def test_unanswered_offer_in_step_one_then_step_two_agent() -> None:
    cfg = make_config([{"id": "a", "escalation": CHAIN}, {"id": "b"}, {"id": "overflow"}],
                      [{"id": 1, "queues": ["a"]}, {"id": 2, "queues": ["b"]}],
                      offers={"timeout_s": 20, "reoffer_cooldown_s": 1000})
    state = add_item(cfg, RouterState(agents=online(1, 2)), 1, 0.0)
    state, decisions = step(cfg, state, 0.0)
    assert offered_to(decisions) == {1: [1]}
    state, decisions = step(cfg, state, 20.0)
    assert offered_to(decisions) == {}  # timed out; nobody else in step 0
    state, decisions = step(cfg, state, 60.0)
    assert offered_to(decisions) == {1: [2]}


def test_relaxed_step_drops_skill_requirements() -> None:
    chain = [{"queues": ["a"], "timeout_s": 30}, {"queues": ["a"], "relax_skills": True}]
    cfg = make_config([{"id": "a", "escalation": chain}],
                      [{"id": 1, "queues": ["a"], "skills": {"tv": 1}}])
    state = add_item(cfg, RouterState(agents=online(1)), 1, 0.0, attrs={"skills": {"tv": 3}})
    state, decisions = step(cfg, state, 0.0)
    assert offered_to(decisions) == {}
    state, decisions = step(cfg, state, 30.0)
    assert offered_to(decisions) == {1: [1]}


def test_last_step_with_a_timeout_is_kept() -> None:
    chain = [{"queues": ["a"], "timeout_s": 10}, {"queues": ["b"], "timeout_s": 10}]
    cfg = make_config([{"id": "a", "escalation": chain}, {"id": "b"}])
    state = add_item(cfg, RouterState(), 1, 0.0)
    state, decisions = step(cfg, state, 1000.0)
    assert escalations(decisions) == [(0, 1)]
    assert next_wakeup(cfg, state, 1000.0) is None


def test_step_priority_boost() -> None:
    chain = [{"queues": ["a"], "timeout_s": 10}, {"queues": ["a"], "priority_boost": 7}]
    cfg = make_config([{"id": "a", "escalation": chain}], ageing={"step": 0})
    state = add_item(cfg, RouterState(), 1, 0.0, priority=1)
    item = state.items[1]
    assert effective_priority(cfg, item, 5.0) == 1
    assert effective_priority(cfg, item, 10.0) == 8


def test_transfer_restarts_the_chain_in_the_new_queue() -> None:
    cfg = chain_cfg([{"id": 3, "queues": ["overflow"]}])
    state = add_item(cfg, RouterState(agents=online(3)), 1, 0.0)
    state, _ = step(cfg, state, 100.0)
    assert state.items[1].step == 1
    boss = Actor(agent_id=9, role="supervisor")
    state = apply(cfg, state, transfer(cfg, state, boss, 1, "a", 150.0), 150.0)
    item = state.items[1]
    assert (item.queue, item.step, item.enqueued_at) == ("a", 0, 150.0)
    state, decisions = step(cfg, state, 329.0)
    assert escalations(decisions) == [(0, 1)] and offered_to(decisions) == {}
    state, decisions = step(cfg, state, 330.0)
    assert offered_to(decisions) == {1: [3]}


def test_removed_queue_items_move_to_the_default_queue() -> None:
    cfg = chain_cfg([{"id": 3, "queues": ["overflow"]}])
    state = add_item(cfg, RouterState(agents=online(3)), 1, 0.0)
    state = replace(state, items={1: replace(state.items[1], queue="gone")})
    state, decisions = step(cfg, state, 10.0)
    assert decisions[0] == TransferItem(item_id=1, to_queue="a", reason="config")
    assert state.items[1].queue == "a"
