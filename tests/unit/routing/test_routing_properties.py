"""Property tests of the pure decision core (hypothesis).

- no agent over capacity, no item held by two agents, no item lost -- under random
  arrivals, accepts, declines, completions, cancels, picks, reassigns, transfers,
  disconnects and two deciders racing on one snapshot;
- round-robin fairness: equal agents' assignment counts differ by at most 1;
- no starvation: with enough capacity every item is offered by the time its last
  escalation step begins, even when decide only runs at arrivals and at next_wakeup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from hub.errors import Conflict, Forbidden, NotFound
from hub.routing import (
    Actor,
    AnyDecision,
    CompiledConfig,
    RouterState,
    accept,
    apply,
    apply_all,
    cancel,
    complete,
    decide,
    decline,
    enqueue,
    next_wakeup,
    pick,
    reassign,
    transfer,
)
from hub.routing.decisions import CancelItem, CompleteItem, OfferItem
from hub.routing.escalation import chain_end
from hub.routing.presence import connect, disconnect, set_status
from hub.routing.state import loads
from tests.test_routing_support import alive, make_config, online

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
CHANNELS = ["chat", "email", "voice", "sms"]
STRATEGIES = ["round_robin", "least_busy", "longest_idle", "sticky"]


@st.composite
def configs(draw: st.DrawFn, *, roomy: bool = False) -> CompiledConfig:
    """A random config: 1-3 queues with random escalation chains and strategies."""
    qids = [f"q{i}" for i in range(draw(st.integers(1, 3)))]
    queues: list[dict[str, Any]] = []
    for qid in qids:
        n_steps = draw(st.integers(0, 3))
        steps = []
        for s in range(n_steps):
            timeout = draw(st.integers(1, 90))
            last = s == n_steps - 1
            steps.append({"queues": draw(st.lists(st.sampled_from(qids), min_size=1,
                                                  unique=True)),
                          "timeout_s": None if last and draw(st.booleans()) else timeout})
        strategy = draw(st.sampled_from(STRATEGIES))
        queue: dict[str, Any] = {"id": qid, "strategy": strategy, "escalation": steps}
        if strategy == "sticky":
            queue["sticky"] = {"timeout_s": draw(st.integers(1, 90)),
                               "wait_if_busy": draw(st.booleans()),
                               "fallback": draw(st.sampled_from(STRATEGIES[:3]))}
        queues.append(queue)
    agents = []
    for i in range(1, draw(st.integers(2, 5)) + 1):
        mine = draw(st.lists(st.sampled_from(qids), min_size=0 if roomy else 1, unique=True))
        agent: dict[str, Any] = {"id": i, "queues": mine}
        if roomy:
            agent["capacity"] = 100_000
        else:
            agent["capacity"] = draw(st.integers(12, 80))
            if draw(st.booleans()):
                agent["max_per_channel"] = {"chat": draw(st.integers(0, 3))}
        agents.append(agent)
    if roomy:  # early steps may have nobody, but every chain's last step has someone
        for queue in queues:
            last = queue["escalation"][-1]["queues"] if queue["escalation"] else [queue["id"]]
            if not any(q in a["queues"] for a in agents for q in last):
                lucky = agents[draw(st.integers(0, len(agents) - 1))]
                lucky["queues"] = [*lucky["queues"], last[0]]
    mode = draw(st.sampled_from(["single", "broadcast"]))
    return make_config(
        queues, agents,
        offers={"timeout_s": draw(st.integers(5, 60)), "mode": mode,
                "broadcast_size": draw(st.integers(1, 3)),
                "reoffer_cooldown_s": draw(st.integers(0, 60))},
        wrapup_s={"default": draw(st.integers(0, 30))})


arrival = st.tuples(st.sampled_from(CHANNELS), st.integers(0, 3), st.integers(0, 6),
                    st.integers(0, 2))
extra = st.one_of(
    st.none(),
    st.tuples(st.sampled_from(["complete", "complete", "cancel", "race", "stale", "lagging",
                               "partial"]), st.integers(0, 50)),
    st.tuples(st.sampled_from(["pick", "reassign"]), st.integers(1, 6), st.integers(0, 50)),
    st.tuples(st.just("transfer"), st.integers(0, 50), st.integers(0, 2)),
    st.tuples(st.sampled_from(["disconnect", "connect", "busy", "available"]),
              st.integers(1, 6)),
)
# One round: arrivals, time passes, decide, agents answer the pending offers, one more event.
rounds = st.tuples(st.lists(arrival, max_size=3), st.integers(0, 40),
                   st.lists(st.sampled_from(["accept", "decline", "ignore"]), max_size=6),
                   extra)


@dataclass
class World:
    cfg: CompiledConfig
    state: RouterState
    now: float = 0.0
    arrived: set[int] = field(default_factory=set)
    finished: set[int] = field(default_factory=set)
    history: list[RouterState] = field(default_factory=list)  # older views

    def run(self, decisions: list[AnyDecision]) -> list[tuple[AnyDecision, str]]:
        self.state, applied, rejected = apply_all(self.cfg, self.state, decisions, self.now)
        for d in applied:
            if isinstance(d, CompleteItem | CancelItem):
                self.finished.add(d.item_id)
        return rejected

    def command(self, make: Any) -> None:
        try:
            self.run([make()])
        except (Conflict, Forbidden, NotFound):
            pass

    def check(self) -> None:
        cfg, state = self.cfg, self.state
        # No agent over capacity (units and per-channel caps).
        for agent_id, load in loads(state, self.now).items():
            assert load.units <= cfg.capacity(agent_id), (agent_id, load)
            for channel, count in load.per_channel.items():
                limit = cfg.channel_limit(agent_id, channel)
                assert limit is None or count <= limit, (agent_id, channel, count)
        # No item held by two agents.
        for item in state.items.values():
            pending = [o.agent_id for o in item.pending()]
            assert len(pending) == len(set(pending))
            if item.agent_id is not None:
                assert pending == [], item
            else:
                size = cfg.offer_settings(item.queue).broadcast_size
                single = cfg.offer_settings(item.queue).mode == "single"
                assert len(pending) <= (1 if single else size), item
        # No item lost: every arrived item is still routed or was completed/cancelled.
        assert set(state.items) <= self.arrived
        assert self.arrived - set(state.items) <= self.finished
        for item in state.items.values():
            assert item.status in ("queued", "offered", "assigned", "wrapup")
            assert item.queue in cfg.queues


def _nth(seq: list[Any], n: int) -> Any:
    return seq[n % len(seq)] if seq else None


def play_round(world: World, rnd: tuple[Any, ...]) -> None:
    arrivals, dt, answers, event = rnd
    cfg = world.cfg
    world.history.append(world.state)
    world.now += dt
    now = world.now
    for channel, priority, last, skill in arrivals:
        item_id = len(world.arrived) + 1
        world.arrived.add(item_id)
        attrs: dict[str, Any] = {"skills": {"tv": skill}} if skill else {}
        world.run([enqueue(cfg, item_id=item_id, channel=channel, created_at=now,
                           attrs=attrs, priority=priority, last_agent_id=last or None)])
    world.state = alive(world.state, now)
    assert world.run(decide(cfg, world.state, now)) == []  # a fresh decide always applies
    world.check()
    state = world.state
    offers = [(i.id, o.agent_id) for i in state.items.values() for o in i.pending()]
    for (item_id, agent_id), answer in zip(offers, answers, strict=False):
        fn = {"accept": accept, "decline": decline}.get(answer)
        if fn is not None:  # on the snapshot: broadcast accepts race each other
            world.command(lambda f=fn, i=item_id, a=agent_id: f(cfg, state, i, a, now))
        world.check()
    if event is not None:
        play_event(world, event)
        world.check()


def play_event(world: World, op: tuple[Any, ...]) -> None:
    cfg, state, now = world.cfg, world.state, world.now
    kind = op[0]
    items = sorted(state.items.values(), key=lambda i: i.id)
    boss = Actor(agent_id=99, role="supervisor")
    if kind == "race":  # two deciders on one snapshot
        world.run(decide(cfg, state, now) + decide(cfg, state, now))
    elif kind == "stale" and world.history:  # a decider with an older view
        old = world.history[-1 - op[1] % len(world.history)]
        world.run(decide(cfg, alive(old, now), now))
    elif kind == "lagging":  # a decider that missed every offer and assignment
        blind = {i.id: replace(i, agent_id=None, wrapup_until=None, offers=())
                 for i in items}
        world.run(decide(cfg, replace(state, items=blind), now))
    elif kind == "partial":  # a decider that sees only the waiting items
        waiting = {i.id: i for i in items if i.status == "queued"}
        world.run(decide(cfg, replace(state, items=waiting), now))
    elif kind in ("complete", "cancel"):
        chosen = _nth([i for i in items if i.status == "assigned"] if kind == "complete"
                      else items, op[1])
        if chosen is not None:
            world.command(lambda: complete(cfg, state, chosen.id, chosen.agent_id, now)
                          if kind == "complete" else cancel(cfg, state, chosen.id, now))
    elif kind in ("pick", "reassign"):
        chosen = _nth(items, op[2])
        if chosen is not None and kind == "pick":
            actor = Actor(agent_id=op[1], role="agent")
            world.command(lambda: pick(cfg, state, actor, chosen.id, now))
        elif chosen is not None:
            world.command(lambda: reassign(cfg, state, boss, chosen.id, op[1], now))
    elif kind == "transfer":
        chosen = _nth(items, op[1])
        if chosen is not None:
            target = _nth(list(cfg.queue_order), op[2])
            world.command(lambda: transfer(cfg, state, boss, chosen.id, target, now))
    elif kind in ("disconnect", "connect", "busy", "available"):
        agent = state.agents.get(op[1])
        if agent is not None:
            agent = (disconnect(agent, now) if kind == "disconnect"
                     else connect(agent, now) if kind == "connect"
                     else set_status(agent, kind))
            world.state = replace(state, agents={**state.agents, op[1]: agent})


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
