"""The offer state machine (pending -> accepted / declined / timed_out / rescinded),
re-offers, broadcast offers, manual pick, supervisor reassign and transfer, completion
and cancellation, and the atomic layer's precondition checks."""

from __future__ import annotations

import pytest
from msgspec.structs import replace

from hub.errors import Conflict, Forbidden, NotFound
from hub.routing import (
    Actor,
    RouterState,
    accept,
    apply,
    apply_all,
    cancel,
    complete,
    decide,
    decline,
    decode_decisions,
    encode_decisions,
    next_wakeup,
    pick,
    pickable,
    queue_stats,
    reassign,
    transfer,
)
from hub.routing.config import CompiledConfig
from hub.routing.decisions import (
    AssignItem,
    EndWrapup,
    ExpireOffer,
    OfferItem,
    OfferTarget,
    RescindOffer,
)
from tests.fixtures.routing_state import (
    add_item,
    give,
    make_config,
    offered_to,
    online,
    step,
    units_used,
)


def cfg3(**offers: object) -> CompiledConfig:
    return make_config([{"id": "q", "strategy": "round_robin"}, {"id": "other"}],
                       [{"id": 1, "queues": ["q"]}, {"id": 2, "queues": ["q"]},
                        {"id": 3, "queues": ["q"]}, {"id": 4, "queues": ["other"]}],
                       offers={"timeout_s": 30, "reoffer_cooldown_s": 60, **offers},
                       wrapup_s={"chat": 15})


def offered(cfg: CompiledConfig, n_items: int = 1) -> RouterState:
    state = RouterState(agents=online(1, 2, 3, 4))
    for i in range(1, n_items + 1):
        state = add_item(cfg, state, i, 0.0)
    state, _ = step(cfg, state, 0.0)
    return state


def statuses(state: RouterState, item_id: int) -> list[tuple[int, str]]:
    return [(o.agent_id, o.status) for o in state.items[item_id].offers]


def test_accept_assigns_the_item() -> None:
    cfg = cfg3()
    state = offered(cfg)
    assert state.items[1].status == "offered"
    state = apply(cfg, state, accept(cfg, state, 1, 1, 5.0), 5.0)
    item = state.items[1]
    assert (item.status, item.agent_id, item.assigned_at) == ("assigned", 1, 5.0)
    assert statuses(state, 1) == [(1, "accepted")]
    assert state.agents[1].last_assigned_at == 5.0
    assert decide(cfg, state, 6.0) == []


def test_decline_offers_the_next_agent_never_the_decliner() -> None:
    cfg = cfg3()
    state = offered(cfg)
    state = apply(cfg, state, decline(cfg, state, 1, 1, 2.0), 2.0)
    assert state.items[1].status == "queued"
    state, decisions = step(cfg, state, 2.0)
    assert offered_to(decisions) == {1: [2]}
    state = apply(cfg, state, decline(cfg, state, 1, 2, 3.0), 3.0)
    state, decisions = step(cfg, state, 3.0)
    assert offered_to(decisions) == {1: [3]}
    assert statuses(state, 1) == [(1, "declined"), (2, "declined"), (3, "pending")]


def test_decliner_gets_it_again_only_when_alone_and_after_the_cooldown() -> None:
    cfg = make_config([{"id": "q"}], [{"id": 1, "queues": ["q"]}],
                      offers={"reoffer_cooldown_s": 60})
    state = add_item(cfg, RouterState(agents=online(1)), 1, 0.0)
    state, _ = step(cfg, state, 0.0)
    state = apply(cfg, state, decline(cfg, state, 1, 1, 10.0), 10.0)
    state, decisions = step(cfg, state, 69.0)
    assert offered_to(decisions) == {}
    assert next_wakeup(cfg, state, 69.0) == 70.0
    state, decisions = step(cfg, state, 70.0)
    assert offered_to(decisions) == {1: [1]}


def test_timeout_expires_the_offer_and_moves_on() -> None:
    cfg = cfg3()
    state = offered(cfg)
    state, decisions = step(cfg, state, 29.9)
    assert decisions == []
    state, decisions = step(cfg, state, 30.0)
    assert decisions[0] == ExpireOffer(item_id=1, agent_id=1)
    assert offered_to(decisions) == {1: [2]}
    assert statuses(state, 1) == [(1, "timed_out"), (2, "pending")]
    with pytest.raises(Conflict, match="no pending offer"):
        accept(cfg, state, 1, 1, 30.0)


def test_accept_at_expiry_is_refused() -> None:
    cfg = cfg3()
    state = offered(cfg)
    with pytest.raises(Conflict) as info:
        accept(cfg, state, 1, 1, 30.0)
    assert info.value.code == "offer_expired"
    with pytest.raises(Conflict):
        accept(cfg, state, 1, 2, 1.0)  # not offered to 2
    with pytest.raises(NotFound):
        accept(cfg, state, 99, 1, 1.0)


def test_broadcast_first_accept_wins_and_the_rest_are_rescinded() -> None:
    cfg = cfg3(mode="broadcast", broadcast_size=3)
    state = offered(cfg)
    assert statuses(state, 1) == [(1, "pending"), (2, "pending"), (3, "pending")]
    assert all(units_used(state, a, 1.0) == 20 for a in (1, 2, 3))
    a2 = accept(cfg, state, 1, 2, 4.0)
    a3 = accept(cfg, state, 1, 3, 4.0)  # computed on the same snapshot: a race
    state, applied, rejected = apply_all(cfg, state, [a2, a3], 4.0)
    assert applied == [a2] and rejected == [(a3, "offer_gone")]
    assert statuses(state, 1) == [(1, "rescinded"), (2, "accepted"), (3, "rescinded")]
    assert [units_used(state, a, 4.0) for a in (1, 2, 3)] == [0, 20, 0]


def test_broadcast_partial_decline_keeps_the_other_offers() -> None:
    cfg = cfg3(mode="broadcast", broadcast_size=2)
    state = offered(cfg)
    state = apply(cfg, state, decline(cfg, state, 1, 1, 2.0), 2.0)
    assert state.items[1].status == "offered"
    state, decisions = step(cfg, state, 2.0)
    assert decisions == []  # one offer round at a time
    state = apply(cfg, state, decline(cfg, state, 1, 2, 3.0), 3.0)
    state, decisions = step(cfg, state, 3.0)
    assert offered_to(decisions) == {1: [3]}  # the only one who has not refused


def test_manual_pick_from_a_permitted_queue() -> None:
    cfg = cfg3()
    state = offered(cfg, n_items=1)  # offered to agent 1
    me = Actor(agent_id=2, role="agent")
    assert [i.id for i in pickable(cfg, state, me, 1.0)] == [1]
    assert pickable(cfg, state, Actor(agent_id=4, role="agent"), 1.0) == []
    d = pick(cfg, state, me, 1, 1.0)
    assert d == AssignItem(item_id=1, agent_id=2, reason="pick", capacity=60)
    state = apply(cfg, state, d, 1.0)
    assert statuses(state, 1) == [(1, "rescinded")]
    assert state.items[1].agent_id == 2
    with pytest.raises(Conflict, match="already assigned"):
        pick(cfg, state, Actor(agent_id=3, role="agent"), 1, 2.0)


def test_manual_pick_refusals() -> None:
    cfg = cfg3()
    state = add_item(cfg, RouterState(agents=online(1, 2, 3, 4)), 1, 0.0)
    with pytest.raises(Forbidden):
        pick(cfg, state, Actor(agent_id=4, role="agent"), 1, 1.0)
    state = give(cfg, state, 100, 3, channel="voice")
    with pytest.raises(Conflict) as info:
        pick(cfg, state, Actor(agent_id=3, role="agent"), 1, 1.0)
    assert info.value.code == "over_capacity"
    with pytest.raises(Forbidden, match="no routing profile"):
        pick(cfg, state, Actor(agent_id=9, role="supervisor"), 1, 1.0)


def test_supervisor_reassigns_within_capacity_or_by_force() -> None:
    cfg = cfg3()
    state = give(cfg, RouterState(agents=online(1, 2, 3, 4)), 1, 1)
    state = give(cfg, state, 100, 2, channel="voice")
    boss = Actor(agent_id=9, role="supervisor")
    with pytest.raises(Forbidden):
        reassign(cfg, state, Actor(agent_id=1, role="agent"), 1, 3, 1.0)
    with pytest.raises(Conflict):
        reassign(cfg, state, boss, 1, 2, 1.0)
    forced = apply(cfg, state, reassign(cfg, state, boss, 1, 2, 1.0, force=True), 1.0)
    assert forced.items[1].agent_id == 2
    d = reassign(cfg, state, boss, 1, 4, 1.0)  # any agent, even outside the queue
    state = apply(cfg, state, d, 1.0)
    assert state.items[1].agent_id == 4 and state.agents[1].last_freed_at == 1.0
    with pytest.raises(Conflict, match="held by 4, not 1"):
        apply(cfg, state, d, 2.0)  # stale: computed when agent 1 held it


def test_transfer_to_a_queue() -> None:
    cfg = cfg3()
    state = give(cfg, RouterState(agents=online(1, 2, 3, 4)), 1, 1)
    with pytest.raises(Forbidden):
        transfer(cfg, state, Actor(agent_id=2, role="agent"), 1, "other", 1.0)
    with pytest.raises(NotFound):
        transfer(cfg, state, Actor(agent_id=1, role="agent"), 1, "nope", 1.0)
    d = transfer(cfg, state, Actor(agent_id=1, role="agent"), 1, "other", 1.0)
    assert d.reason == "agent" and d.from_agent == 1
    state = apply(cfg, state, d, 1.0)
    assert (state.items[1].queue, state.items[1].status) == ("other", "queued")
    state, decisions = step(cfg, state, 1.0)
    assert offered_to(decisions) == {1: [4]}


def test_complete_wrapup_holds_capacity_then_ends() -> None:
    cfg = cfg3()
    state = offered(cfg)
    state = apply(cfg, state, accept(cfg, state, 1, 1, 1.0), 1.0)
    with pytest.raises(Conflict):
        complete(cfg, state, 1, 2, 5.0)
    state = apply(cfg, state, complete(cfg, state, 1, 1, 5.0), 5.0)
    assert state.items[1].status == "wrapup" and state.items[1].wrapup_until == 20.0
    assert units_used(state, 1, 19.9) == 20 and units_used(state, 1, 20.0) == 0
    with pytest.raises(Conflict):
        complete(cfg, state, 1, 1, 6.0)
    state, decisions = step(cfg, state, 20.0)
    assert decisions == [EndWrapup(item_id=1, agent_id=1)]
    assert 1 not in state.items and state.agents[1].last_freed_at == 20.0


def test_complete_without_wrapup_removes_the_item() -> None:
    cfg = make_config([{"id": "q"}], [{"id": 1, "queues": ["q"]}])
    state = give(cfg, RouterState(agents=online(1)), 1, 1, channel="email")
    state = apply(cfg, state, complete(cfg, state, 1, 1, 5.0), 5.0)
    assert state.items == {}


def test_cancel_withdraws_everywhere() -> None:
    cfg = cfg3(mode="broadcast", broadcast_size=3)
    state = offered(cfg)
    state = apply(cfg, state, cancel(cfg, state, 1, 2.0), 2.0)
    assert state.items == {} and units_used(state, 1, 2.0) == 0
    with pytest.raises(NotFound):
        cancel(cfg, state, 1, 3.0)


def test_queue_stats() -> None:
    cfg = cfg3()
    state = offered(cfg, n_items=2)  # offered to 1 and 2
    state = apply(cfg, state, accept(cfg, state, 2, 2, 5.0), 5.0)
    state = add_item(cfg, state, 3, 6.0, queue="other")
    stats = queue_stats(cfg, state, 10.0)
    assert (stats["q"].waiting, stats["q"].offered, stats["q"].assigned) == (1, 1, 1)
    assert stats["q"].oldest_wait_s == 10.0
    assert (stats["other"].waiting, stats["other"].oldest_wait_s) == (1, 4.0)


def test_decisions_travel_as_json() -> None:
    cfg = cfg3()
    state = add_item(cfg, RouterState(agents=online(1, 2, 3, 4)), 1, 0.0)
    decisions = decide(cfg, state, 0.0)
    decisions.append(RescindOffer(item_id=1, agent_id=1, reason="x"))
    assert decode_decisions(encode_decisions(decisions)) == decisions


# ---- the atomic layer's preconditions --------------------------------------------------


def offer(item_id: int, *agents: int, capacity: int = 60) -> OfferItem:
    return OfferItem(item_id=item_id, channel="chat", weight=20, step=0,
                     targets=tuple(OfferTarget(agent_id=a, queue="q", capacity=capacity)
                                   for a in agents),
                     offered_at=0.0, expires_at=30.0)


def test_apply_refuses_a_second_offer_round_and_stale_offers() -> None:
    cfg = cfg3()
    state = add_item(cfg, RouterState(agents=online(1, 2, 3, 4)), 1, 0.0)
    state = apply(cfg, state, offer(1, 1), 0.0)
    with pytest.raises(Conflict, match="already has a pending offer"):
        apply(cfg, state, offer(1, 2), 0.0)
    state2 = add_item(cfg, state, 2, 0.0)
    with pytest.raises(Conflict, match="no room"):
        apply(cfg, state2, offer(2, 1, capacity=39), 0.0)
    offline = replace(state2, agents={**state2.agents, 2: replace(state2.agents[2],
                                                                 status="offline")})
    with pytest.raises(Conflict, match="agent 2 is offline"):
        apply(cfg, offline, offer(2, 2), 0.0)
    with pytest.raises(Conflict, match="distinct"):
        apply(cfg, state2, offer(2, 3, 3), 0.0)
    with pytest.raises(Conflict, match="has not expired"):
        apply(cfg, state, ExpireOffer(item_id=1, agent_id=1), 29.0)


def test_two_deciders_on_one_snapshot_never_double_book() -> None:
    cfg = cfg3()
    state = RouterState(agents=online(1, 2, 3, 4))
    for i in range(1, 5):
        state = add_item(cfg, state, i, 0.0)
    first, second = decide(cfg, state, 0.0), decide(cfg, state, 0.0)
    state, applied, rejected = apply_all(cfg, state, first + second, 0.0)
    assert applied == first
    assert {code for _, code in rejected} == {"offered"}
    assert all(len(i.pending()) == 1 for i in state.items.values())
