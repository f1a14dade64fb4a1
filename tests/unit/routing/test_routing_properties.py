"""Property tests of the pure decision core (hypothesis).

- no agent over capacity, no item held by two agents, no item lost -- under random
  arrivals, accepts, declines, completions, cancels, picks, reassigns, transfers,
  disconnects and two deciders racing on one snapshot;
- round-robin fairness: equal agents' assignment counts differ by at most 1;
- no starvation: with enough capacity every item is offered by the time its last
  escalation step begins, even when decide only runs at arrivals and at next_wakeup.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.routing import (
    CompiledConfig,
    RouterState,
    accept,
    apply,
    apply_all,
    complete,
    decide,
    enqueue,
    next_wakeup,
)
from hub.routing.decisions import OfferItem
from hub.routing.escalation import chain_end
from tests.fixtures.routing_model import CHANNELS, World, configs, play_round, rounds
from tests.fixtures.routing_state import alive, make_config, online

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

@FAST
@given(cfg=configs(), script=st.lists(rounds, min_size=3, max_size=25))
def test_no_over_capacity_no_double_holder_no_loss(cfg: CompiledConfig,
                                                  script: list[tuple[Any, ...]]) -> None:
    world = World(cfg, RouterState(agents=online(*cfg.agents)))
    for rnd in script:
        play_round(world, rnd)
    for _ in range(3):  # drain: nothing breaks and nothing disappears
        play_round(world, ([], 61, ["accept"] * 6, None))


@FAST
@given(n_agents=st.integers(2, 6), channel=st.sampled_from(["chat", "email", "voice"]),
       batches=st.lists(st.integers(1, 14), min_size=1, max_size=12))
def test_round_robin_is_fair_between_equal_agents(n_agents: int, channel: str,
                                                 batches: list[int]) -> None:
    cfg = make_config([{"id": "q", "strategy": "round_robin"}],
                      [{"id": i, "queues": ["q"]} for i in range(1, n_agents + 1)])
    state = RouterState(agents=online(*range(1, n_agents + 1)))
    counts = dict.fromkeys(range(1, n_agents + 1), 0)
    item_id, now = 0, 0.0
    for batch in batches:
        for _ in range(batch):
            item_id += 1
            state = apply(cfg, state, enqueue(cfg, item_id=item_id, channel=channel,
                                              created_at=now), now)
        while state.items:
            now += 1
            state = alive(state, now)
            offers = [d for d in decide(cfg, state, now) if isinstance(d, OfferItem)]
            assert offers
            for d in offers:
                state = apply(cfg, state, d, now)
                agent = d.targets[0].agent_id
                state = apply(cfg, state, accept(cfg, state, d.item_id, agent, now), now)
                state = apply(cfg, state, complete(cfg, state, d.item_id, agent, now), now)
                counts[agent] += 1
            assert max(counts.values()) - min(counts.values()) <= 1, counts


@FAST
@given(cfg=configs(roomy=True),
       arrivals=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 2),
                                   st.sampled_from(CHANNELS), st.integers(0, 6)),
                         min_size=1, max_size=8))
def test_no_item_starves_past_its_escalation_chain(
        cfg: CompiledConfig, arrivals: list[tuple[int, int, str, int]]) -> None:
    queues = list(cfg.queue_order)
    plan = sorted((float(t), i + 1, queues[q % len(queues)], ch, last)
                  for i, (t, q, ch, last) in enumerate(arrivals))
    deadline = {i: t + chain_end(cfg, q) for t, i, q, _, _ in plan}
    horizon = max(deadline.values()) + 1
    state = RouterState(agents=online(*cfg.agents))
    first_offer: dict[int, float] = {}
    now, todo = plan[0][0], list(plan)
    while True:
        while todo and todo[0][0] == now:
            t, i, q, ch, last = todo.pop(0)
            state = apply(cfg, state, enqueue(cfg, item_id=i, channel=ch, created_at=t,
                                              queue=q, last_agent_id=last or None), now)
        state = alive(state, now)
        state, applied, rejected = apply_all(cfg, state, decide(cfg, state, now), now)
        assert not rejected
        for d in applied:
            if isinstance(d, OfferItem):
                first_offer.setdefault(d.item_id, now)
        for i, due in deadline.items():
            if due <= now:
                assert i in first_offer and first_offer[i] <= due, (i, due, first_offer)
        # Like the pipeline: run again at the next arrival or wake-up, whichever is first.
        wake = next_wakeup(cfg, state, now)
        later = ([todo[0][0]] if todo else []) + ([wake] if wake is not None else [])
        if not later or min(later) > horizon:
            break
        assert min(later) > now
        now = min(later)
    assert set(first_offer) == set(deadline)
