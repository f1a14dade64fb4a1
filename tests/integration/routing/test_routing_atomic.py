"""The atomic layer (Lua over real Valkey) against the reference ``apply``.

- Equivalence: random rounds from the property tests (arrivals, decide, accepts,
  declines, completions, cancels, picks, reassigns, transfers, presence changes, racing,
  stale, lagging and partial deciders) are recorded on the pure core, then replayed
  through the scripts: every decision gets the same outcome (applied, or refused with
  the same code and reason) and after every batch ``load_state`` equals the pure state,
  the load counters equal the loads it implies, the holder index matches and no
  violation was recorded.
- Examples: broadcast first-accept-wins, all-or-nothing offers, wrap-up expiry,
  presence from stored heartbeats, NOSCRIPT fallback, refusals change nothing.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from msgspec.structs import replace

from hub.config import Settings
from hub.errors import Conflict, NotFound
from hub.routing import AgentRuntime, CompiledConfig, RouterState, apply, decide, enqueue
from hub.routing.atomic import (
    Applied,
    Outcome,
    Refused,
    apply_all_atomically,
    apply_atomically,
    route_once,
)
from hub.routing.decisions import (
    AcceptOffer,
    AnyDecision,
    AssignItem,
    AutoReply,
    CancelItem,
    CompleteItem,
    DeclineOffer,
    EndWrapup,
    Escalate,
    ExpireOffer,
    OfferItem,
    OfferTarget,
    PresenceChange,
    RescindOffer,
    TransferItem,
)
from hub.routing.presence import connect, disconnect, set_status
from hub.routing.store import (
    counted_loads,
    load_state,
    num,
    read_held,
    read_loads,
    read_peaks,
    read_violations,
    router_keys,
    save_presence,
)
from tests.fixtures.routing_model import World, configs, play_round, rounds
from tests.fixtures.routing_state import make_config, online

_prefixes = itertools.count(1)


def scoped(settings: Settings) -> Settings:
    """A fresh key prefix under the test's own (cleaned up by the fixture)."""
    return replace(settings, key_prefix=f"{settings.key_prefix}x{next(_prefixes)}:")


async def seed_agents(redis: aioredis.Redis, settings: Settings,
                      agents: dict[int, AgentRuntime]) -> None:
    """Write agents completely (presence inputs plus the fields the scripts own)."""
    key = router_keys(settings).agents
    for agent in agents.values():
        await save_presence(redis, settings, agent)
        values = {f"{agent.id}:pub": agent.published}
        if agent.last_assigned_at is not None:
            values[f"{agent.id}:la"] = num(agent.last_assigned_at)
        if agent.last_freed_at is not None:
            values[f"{agent.id}:lf"] = num(agent.last_freed_at)
        await redis.hset(key, mapping=values)  # type: ignore[arg-type]


def _presence_inputs(agent: AgentRuntime) -> tuple[Any, ...]:
    return (agent.status, agent.connected, agent.last_heartbeat_at, agent.disconnected_at)


async def assert_consistent(redis: aioredis.Redis, settings: Settings,
                            expected: RouterState) -> None:
    got = await load_state(redis, settings)
    assert got.rr_cursor == expected.rr_cursor
    assert got.agents == expected.agents
    assert set(got.items) == set(expected.items)
    for item_id, item in expected.items.items():
        assert got.items[item_id] == item, (item_id, got.items[item_id], item)
    loads = {a: (ld.units, {c: n for c, n in ld.per_channel.items() if n})
             for a, ld in counted_loads(expected).items()}
    stored = {a: (ld.units, {c: n for c, n in ld.per_channel.items() if n})
              for a, ld in (await read_loads(redis, settings)).items()}
    assert stored == loads
    held = {i.id: i.agent_id for i in expected.items.values() if i.agent_id is not None}
    assert await read_held(redis, settings) == held
    assert await read_violations(redis, settings) == {}


# ---- equivalence with the reference apply --------------------------------------------


@dataclass
class Batch:
    agents: dict[int, AgentRuntime]  # the pure state's agents before the batch
    now: float
    decisions: list[AnyDecision]
    codes: list[tuple[str, str] | None]  # None: applied, else (code, reason)
    after: RouterState


@dataclass
class Recorder(World):
    """The property tests' world, logging every batch of decisions and its outcomes."""

    log: list[Batch] = field(default_factory=list)
    echo: bool = True

    def run(self, decisions: list[AnyDecision]) -> list[tuple[AnyDecision, str]]:
        agents, codes, rejected = self.state.agents, [], []
        for d in decisions:
            try:
                self.state = apply(self.cfg, self.state, d, self.now)
            except (Conflict, NotFound) as exc:
                codes.append((exc.code, exc.reason))
                rejected.append((d, exc.code))
                continue
            codes.append(None)
            if isinstance(d, CompleteItem | CancelItem):
                self.finished.add(d.item_id)
        self.log.append(Batch(agents, self.now, list(decisions), codes, self.state))
        if self.echo and decisions:  # the same batch again, as a second process would
            self.echo = False
            self.run(decisions)
            self.echo = True
        return rejected


async def replay(redis: aioredis.Redis, settings: Settings, cfg: CompiledConfig,
                 start: RouterState, log: list[Batch]) -> None:
    await seed_agents(redis, settings, start.agents)
    written = {a.id: _presence_inputs(a) for a in start.agents.values()}
    for batch in log:
        for agent in batch.agents.values():  # socket events between batches
            if written.get(agent.id) != _presence_inputs(agent):
                await save_presence(redis, settings, agent)
                written[agent.id] = _presence_inputs(agent)
        outcomes = await apply_all_atomically(redis, settings, cfg, batch.decisions, batch.now)
        for d, code, outcome in zip(batch.decisions, batch.codes, outcomes, strict=True):
            got = (outcome.code, outcome.reason) if isinstance(outcome, Refused) else None
            assert got == code, (d, code, outcome)
        await assert_consistent(redis, settings, batch.after)


@hsettings(max_examples=40, deadline=None,
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                  HealthCheck.function_scoped_fixture])
@given(cfg=configs(), script=st.lists(rounds, min_size=5, max_size=20))
async def test_scripts_match_the_reference_apply(redis: aioredis.Redis, settings: Settings,
                                                 cfg: CompiledConfig,
                                                 script: list[tuple[Any, ...]]) -> None:
    start = RouterState(agents=online(*cfg.agents))
    world = Recorder(cfg, start)
    for rnd in script:
        play_round(world, rnd)
    for _ in range(2):
        play_round(world, ([], 61, ["accept"] * 6, None))
    await replay(redis, scoped(settings), cfg, start, world.log)


# ---- arbitrary decisions, stale or not --------------------------------------------------

RANDOM_CFG = make_config(
    [{"id": "q"}, {"id": "r"}], [{"id": a, "queues": ["q", "r"]} for a in (1, 2, 3, 4)],
    presence={"heartbeat_timeout_s": 10, "away_grace_s": 5, "offline_after_s": 30})
items_ = st.integers(1, 5)
agents_ = st.integers(1, 4)
opt_agent = st.none() | agents_
limit_ = st.none() | st.integers(0, 3)
cap_ = st.integers(0, 90)
targets_ = st.lists(st.builds(OfferTarget, agent_id=agents_, queue=st.sampled_from(["q", "r"]),
                              capacity=cap_, channel_limit=limit_), max_size=3)


@st.composite
def any_decision(draw: st.DrawFn, now: float) -> AnyDecision:
    """Any decision with small ids, valid or not (times around ``now``)."""
    item, agent = draw(items_), draw(agents_)
    later = now + draw(st.integers(-10, 40)) / 2
    kind = draw(st.sampled_from(["enqueue", "offer", "offer", "accept", "accept", "decline",
                                 "expire", "rescind", "escalate", "auto_reply", "transfer",
                                 "assign", "complete", "complete", "end", "cancel",
                                 "presence"]))
    if kind == "enqueue":
        return enqueue(RANDOM_CFG, item_id=item, channel=draw(st.sampled_from(
            ["chat", "email", "voice"])), created_at=now, priority=draw(st.integers(0, 3)),
            attrs={"topic": "x", "n": 1.5} if draw(st.booleans()) else None,
            last_agent_id=draw(opt_agent), queue=draw(st.sampled_from(["q", "r"])))
    if kind == "offer":
        rr = draw(st.booleans())
        return OfferItem(item_id=item, channel="chat", weight=20, step=0,
                         targets=tuple(draw(targets_)), offered_at=now, expires_at=later,
                         rr_queue="q" if rr else None, rr_agent=agent if rr else None)
    simple: dict[str, Any] = {"accept": AcceptOffer, "decline": DeclineOffer,
                              "expire": ExpireOffer, "end": EndWrapup}
    if kind in simple:
        return simple[kind](item_id=item, agent_id=agent)  # type: ignore[no-any-return]
    if kind == "rescind":
        return RescindOffer(item_id=item, agent_id=agent, reason="agent_unavailable")
    if kind == "escalate":
        return Escalate(item_id=item, from_step=draw(st.integers(0, 2)),
                        to_step=draw(st.integers(0, 2)), queues=("q",))
    if kind == "auto_reply":
        return AutoReply(item_id=item, queue="q", message="closed")
    if kind == "transfer":
        return TransferItem(item_id=item, to_queue=draw(st.sampled_from(["q", "r"])),
                            from_agent=draw(opt_agent))
    if kind == "assign":
        return AssignItem(item_id=item, agent_id=agent, from_agent=draw(opt_agent),
                          capacity=draw(cap_), channel_limit=draw(limit_),
                          force=draw(st.booleans()))
    if kind == "complete":
        return CompleteItem(item_id=item, agent_id=agent,
                            wrapup_until=None if draw(st.booleans()) else later)
    if kind == "cancel":
        return CancelItem(item_id=item)
    return PresenceChange(agent_id=agent,
                          presence=draw(st.sampled_from(["online", "away", "busy", "offline"])))


@st.composite
def guided(draw: st.DrawFn, state: RouterState, now: float) -> AnyDecision | None:
    """A decision that is likely valid for ``state`` (deep paths: wrap-up, re-assign)."""
    if not state.items:
        return None
    item = state.items[draw(st.sampled_from(sorted(state.items)))]
    pending = [o.agent_id for o in item.pending()]
    someone = draw(st.sampled_from(pending)) if pending else draw(agents_)
    later = now + draw(st.integers(-4, 40)) / 2
    kind = draw(st.sampled_from(["decide", "accept", "accept", "assign", "complete", "end",
                                 "cancel", "transfer", "expire"]))
    if kind == "decide":
        made = decide(RANDOM_CFG, state, now)
        return draw(st.sampled_from(made)) if made else None
    if kind == "accept":
        return AcceptOffer(item_id=item.id, agent_id=someone)
    if kind == "expire":
        return ExpireOffer(item_id=item.id, agent_id=someone)
    if kind == "assign":
        return AssignItem(item_id=item.id, agent_id=someone, from_agent=item.agent_id,
                          capacity=draw(cap_), channel_limit=draw(limit_))
    if kind == "transfer":
        return TransferItem(item_id=item.id, to_queue="r", from_agent=item.agent_id)
    if kind == "cancel":
        return CancelItem(item_id=item.id)
    holder = item.agent_id if item.agent_id is not None else someone
    if kind == "end":
        return EndWrapup(item_id=item.id, agent_id=holder)
    return CompleteItem(item_id=item.id, agent_id=holder,
                        wrapup_until=None if draw(st.integers(0, 3)) == 0 else later)


def socket_event(agent: AgentRuntime, kind: str, now: float) -> AgentRuntime:
    if kind == "connect":
        return connect(agent, now)
    if kind == "disconnect":
        return disconnect(agent, now)
    return set_status(agent, kind)  # type: ignore[arg-type]


@hsettings(max_examples=40, deadline=None,
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                  HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_arbitrary_decisions_match_the_reference_apply(
        redis: aioredis.Redis, settings: Settings, data: st.DataObject) -> None:
    settings = scoped(settings)
    cfg = RANDOM_CFG
    state = RouterState(agents=online(1, 2, 3))
    await seed_agents(redis, settings, state.agents)
    now = 0.0
    for _ in range(data.draw(st.integers(5, 50), label="steps")):
        now += data.draw(st.integers(0, 8), label="dt") / 2
        if data.draw(st.integers(0, 5), label="socket?") == 0:
            agent_id = data.draw(agents_, label="agent")
            kind = data.draw(st.sampled_from(["connect", "disconnect", "available", "busy",
                                              "away"]), label="event")
            agent = socket_event(state.agents.get(agent_id) or AgentRuntime(id=agent_id),
                                 kind, now)
            state = replace(state, agents={**state.agents, agent_id: agent})
            await save_presence(redis, settings, agent)
            continue
        d = None
        if data.draw(st.booleans(), label="guided?"):
            d = data.draw(guided(state, now), label="guided")
        if d is None:
            d = data.draw(any_decision(now), label="decision")
        try:
            state = apply(cfg, state, d, now)
            want: tuple[str, str] | None = None
        except (Conflict, NotFound) as exc:
            want = (exc.code, exc.reason)
        out = await apply_atomically(redis, settings, cfg, d, now)
        got = (out.code, out.reason) if isinstance(out, Refused) else None
        assert got == want, (d, now)
        await assert_consistent(redis, settings, state)


# ---- examples -------------------------------------------------------------------------


def cfg_broadcast() -> CompiledConfig:
    return make_config([{"id": "q", "strategy": "round_robin"}],
                       [{"id": i, "queues": ["q"]} for i in (1, 2, 3)],
                       offers={"timeout_s": 30, "mode": "broadcast", "broadcast_size": 3},
                       wrapup_s={"chat": 10})


async def started(redis: aioredis.Redis, settings: Settings, cfg: CompiledConfig,
                  n_items: int, now: float = 0.0) -> None:
    await seed_agents(redis, settings, online(*cfg.agents, at=now))
    for i in range(1, n_items + 1):
        out = await apply_atomically(redis, settings, cfg,
                                     enqueue(cfg, item_id=i, channel="chat", created_at=now),
                                     now)
        assert isinstance(out, Applied)


async def test_broadcast_first_accept_wins_and_others_are_rescinded(
        redis: aioredis.Redis, settings: Settings) -> None:
    cfg = cfg_broadcast()
    await started(redis, settings, cfg, 1)
    outs = await route_once(redis, settings, cfg, 1.0)
    offers = [o.decision for o in outs if isinstance(o.decision, OfferItem)]
    assert [len(d.targets) for d in offers] == [3]
    assert all(isinstance(o, Applied) for o in outs)
    assert await route_once(redis, settings, cfg, 1.0) == []  # nothing left to do
    assert {a: ld.units for a, ld in (await read_loads(redis, settings)).items()} == {
        1: 20, 2: 20, 3: 20}
    first = await apply_atomically(redis, settings, cfg, AcceptOffer(item_id=1, agent_id=2), 2.0)
    assert isinstance(first, Applied)
    assert first.ended == ((2, "accepted"), (1, "rescinded"), (3, "rescinded"))
    second = await apply_atomically(redis, settings, cfg, AcceptOffer(item_id=1, agent_id=3), 2.0)
    assert isinstance(second, Refused) and second.code == "offer_gone"
    assert isinstance(second.error(), Conflict)
    state = await load_state(redis, settings)
    assert state.items[1].agent_id == 2 and state.items[1].status == "assigned"
    assert {a: ld.units for a, ld in (await read_loads(redis, settings)).items()} == {2: 20}
    assert await read_held(redis, settings) == {1: 2}
    assert await read_violations(redis, settings) == {}


async def test_offer_is_all_or_nothing_and_a_refusal_changes_nothing(
        redis: aioredis.Redis, settings: Settings) -> None:
    cfg = cfg_broadcast()
    await started(redis, settings, cfg, 4)
    fill = [OfferItem(item_id=i, channel="chat", weight=20, step=0, offered_at=0.0,
                      expires_at=30.0, targets=(OfferTarget(agent_id=3, queue="q",
                                                            capacity=60),))
            for i in (1, 2, 3)]
    assert all(isinstance(o, Applied)
               for o in await apply_all_atomically(redis, settings, cfg, fill, 0.0))
    before = await load_state(redis, settings)
    both = OfferItem(item_id=4, channel="chat", weight=20, step=0, offered_at=0.0,
                     expires_at=30.0, rr_queue="q", rr_agent=3,
                     targets=(OfferTarget(agent_id=1, queue="q", capacity=60),
                              OfferTarget(agent_id=3, queue="q", capacity=60)))
    out = await apply_atomically(redis, settings, cfg, both, 0.0)
    assert isinstance(out, Refused) and (out.code, out.reason) == (
        "over_capacity", "agent 3 has no room")
    assert await load_state(redis, settings) == before  # agent 1 got nothing, no cursor
    assert (await read_peaks(redis, settings))[3].units == 60
    gone = await apply_atomically(redis, settings, cfg, AcceptOffer(item_id=9, agent_id=1), 0.0)
    assert isinstance(gone, Refused) and gone.missing and isinstance(gone.error(), NotFound)


async def test_wrapup_holds_capacity_until_it_ends(redis: aioredis.Redis,
                                                   settings: Settings) -> None:
    cfg = make_config([{"id": "q"}], [{"id": 1, "queues": ["q"], "capacity": 20}],
                      wrapup_s={"chat": 10})
    await started(redis, settings, cfg, 2)
    target = (OfferTarget(agent_id=1, queue="q", capacity=20),)
    offer1 = OfferItem(item_id=1, channel="chat", weight=20, step=0, offered_at=0.0,
                       expires_at=30.0, targets=target)
    offer2 = replace(offer1, item_id=2)
    steps: list[AnyDecision] = [offer1, AcceptOffer(item_id=1, agent_id=1),
                                CompleteItem(item_id=1, agent_id=1, wrapup_until=10.0)]
    assert all(isinstance(o, Applied)
               for o in await apply_all_atomically(redis, settings, cfg, steps, 1.0))
    during = await apply_atomically(redis, settings, cfg, offer2, 9.5)
    assert isinstance(during, Refused) and during.code == "over_capacity"
    early = await apply_atomically(redis, settings, cfg, EndWrapup(item_id=1, agent_id=1), 9.5)
    assert isinstance(early, Refused) and early.code == "in_wrapup"
    # At wrapup_until the item no longer counts, even before EndWrapup removes it.
    after = await apply_atomically(redis, settings, cfg, offer2, 10.0)
    assert isinstance(after, Applied)
    end = await apply_atomically(redis, settings, cfg, EndWrapup(item_id=1, agent_id=1), 10.0)
    assert isinstance(end, Applied) and end.released == 1
    state = await load_state(redis, settings)
    assert set(state.items) == {2} and state.agents[1].last_freed_at == 10.0
    assert {a: ld.units for a, ld in (await read_loads(redis, settings)).items()} == {1: 20}


async def test_presence_is_derived_from_stored_heartbeats(redis: aioredis.Redis,
                                                          settings: Settings) -> None:
    cfg = make_config([{"id": "q"}], [{"id": 1, "queues": ["q"]}],
                      presence={"heartbeat_timeout_s": 10, "away_grace_s": 5,
                                "offline_after_s": 100})
    await started(redis, settings, cfg, 1)
    agent = connect(AgentRuntime(id=1), 0.0)
    await save_presence(redis, settings, agent)
    offer = OfferItem(item_id=1, channel="chat", weight=20, step=0, offered_at=0.0,
                      expires_at=1000.0, targets=(OfferTarget(agent_id=1, queue="q",
                                                              capacity=60),))
    # Heartbeats stop at 0: lost at 10, still online during the 5 s grace, away at 15.
    late = await apply_atomically(redis, settings, cfg, offer, 15.0)
    assert isinstance(late, Refused) and late.reason == "agent 1 is away"
    await save_presence(redis, settings, disconnect(agent, 20.0))
    gone = await apply_atomically(redis, settings, cfg, offer, 120.0)
    assert isinstance(gone, Refused) and gone.reason == "agent 1 is offline"
    ok = await apply_atomically(redis, settings, cfg, offer, 14.9)
    assert isinstance(ok, Applied)  # the stored disconnect at 20 is in the future
    assert (await load_state(redis, settings)).agents[1] == replace(
        disconnect(agent, 20.0), published="online")


async def test_reassign_and_decline_keep_counters_exact(redis: aioredis.Redis,
                                                        settings: Settings) -> None:
    cfg = cfg_broadcast()
    await started(redis, settings, cfg, 2)
    one = (OfferTarget(agent_id=1, queue="q", capacity=60),)
    steps: list[AnyDecision] = [
        OfferItem(item_id=1, channel="chat", weight=20, step=0, offered_at=0.0,
                  expires_at=5.0, targets=one),
        DeclineOffer(item_id=1, agent_id=1),
        OfferItem(item_id=2, channel="chat", weight=20, step=0, offered_at=0.0,
                  expires_at=5.0, targets=one),
        AssignItem(item_id=2, agent_id=3, capacity=60),  # a pick rescinds agent 1's offer
        AssignItem(item_id=2, agent_id=2, from_agent=3, reason="reassign", capacity=60),
        AssignItem(item_id=2, agent_id=2, from_agent=3, reason="reassign", capacity=60),
    ]
    outs: list[Outcome] = await apply_all_atomically(redis, settings, cfg, steps, 1.0)
    assert [o.code if isinstance(o, Refused) else "ok" for o in outs] == [
        "ok", "ok", "ok", "ok", "ok", "holder_changed"]
    assert isinstance(outs[3], Applied) and outs[3].ended == ((1, "rescinded"),)
    assert isinstance(outs[4], Applied) and outs[4].released == 3
    expire = await apply_atomically(redis, settings, cfg, ExpireOffer(item_id=1, agent_id=1),
                                    6.0)
    assert isinstance(expire, Refused) and expire.code == "offer_gone"
    assert {a: ld.units for a, ld in (await read_loads(redis, settings)).items()} == {2: 20}
    assert await read_held(redis, settings) == {2: 2}


async def test_noscript_falls_back_to_eval(redis: aioredis.Redis, settings: Settings) -> None:
    cfg = cfg_broadcast()
    await started(redis, settings, cfg, 2)
    await redis.script_flush()
    out = await apply_atomically(redis, settings, cfg, CancelItem(item_id=1), 0.0)
    assert isinstance(out, Applied)
    await redis.script_flush()
    outs = await apply_all_atomically(redis, settings, cfg,
                                      [CancelItem(item_id=2), CancelItem(item_id=2)], 0.0)
    assert isinstance(outs[0], Applied) and isinstance(outs[1], Refused)
    assert (await load_state(redis, settings)).items == {}


async def test_cancel_frees_offers_holders_and_wrapups(redis: aioredis.Redis,
                                                       settings: Settings) -> None:
    cfg = cfg_broadcast()
    await started(redis, settings, cfg, 3)
    two = (OfferTarget(agent_id=1, queue="q", capacity=60),
           OfferTarget(agent_id=2, queue="q", capacity=60))
    offer = OfferItem(item_id=1, channel="chat", weight=20, step=0, offered_at=0.0,
                      expires_at=30.0, targets=two)
    steps: list[AnyDecision] = [
        offer, replace(offer, item_id=2), AcceptOffer(item_id=2, agent_id=1),
        replace(offer, item_id=3), AcceptOffer(item_id=3, agent_id=2),
        CompleteItem(item_id=3, agent_id=2, wrapup_until=20.0),
    ]
    assert all(isinstance(o, Applied)
               for o in await apply_all_atomically(redis, settings, cfg, steps, 1.0))
    outs = await apply_all_atomically(redis, settings, cfg,
                                      [CancelItem(item_id=i) for i in (1, 2, 3)], 5.0)
    assert [(o.ended, o.released) for o in outs if isinstance(o, Applied)] == [
        (((1, "rescinded"), (2, "rescinded")), None), ((), 1), ((), 2)]
    state = await load_state(redis, settings)
    assert state.items == {}
    assert state.agents[1].last_freed_at == 5.0  # it held item 2
    assert state.agents[2].last_freed_at is None  # item 3 was already finished
    assert await read_loads(redis, settings) == {}
    assert await read_held(redis, settings) == {}
    assert await redis.zcard(router_keys(settings).wrap) == 0
