"""Three OS processes hammer the same agents and queues through the atomic layer.

Each process (this module run with ``python -m``) loops for a few seconds: heartbeats
for the agents whose sockets it owns (and sometimes makes one busy for a moment, which
rescinds their offers), new work items, ``load_state`` + ``decide`` + applying the
decisions (sometimes from a stale snapshot, as a lagging process would), accepts and
declines of pending offers (several agents of one broadcast at once), completions,
cancels, picks, reassigns and transfers. Then, from Redis:

- no agent ever exceeded capacity or a channel cap: the per-agent peaks the scripts
  recorded stay within the config, and the violation counters are empty;
- no item was ever held by two agents (the scripts' holder index never disagreed);
- no item was lost: every item that arrived is queued, offered, assigned or in wrap-up,
  or was completed / cancelled; the load counters equal the loads the state implies.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from hub.config import Settings
from hub.errors import Conflict, Forbidden, NotFound
from hub.routing import (
    Actor,
    AgentRuntime,
    CompiledConfig,
    RouterState,
    accept,
    cancel,
    complete,
    decide,
    decline,
    enqueue,
    load_config,
    pick,
    reassign,
    transfer,
)
from hub.routing.atomic import Applied, RouterScript
from hub.routing.decisions import AnyDecision, CancelItem, CompleteItem, EndWrapup
from hub.routing.presence import connect, heartbeat, set_status
from hub.routing.state import loads
from hub.routing.store import (
    counted_loads,
    load_state,
    read_held,
    read_loads,
    read_peaks,
    read_violations,
    save_presence,
)

WORKERS = 3
DURATION_S = 6.0
AGENTS = tuple(range(1, 7))
CONFIG: dict[str, Any] = {
    "version": 1,
    "capacity": {"units": 60, "max_per_channel": {"voice": 1}},
    "offers": {"timeout_s": 0.6, "reoffer_cooldown_s": 0.2},
    "presence": {"heartbeat_timeout_s": 2, "away_grace_s": 0.3, "offline_after_s": 5},
    "wrapup_s": {"default": 0.2},
    "queues": [
        {"id": "sales", "filter": 'topic == "sales"', "strategy": "round_robin",
         "offers": {"timeout_s": 0.6, "mode": "broadcast", "broadcast_size": 3}},
        {"id": "support", "strategy": "least_busy",
         "escalation": [{"queues": ["support"], "timeout_s": 0.5},
                        {"queues": ["support", "sales"]}]},
    ],
    "agents": [
        {"id": 1, "queues": ["sales"]},
        {"id": 2, "queues": ["sales", "support"], "capacity": 40},
        {"id": 3, "queues": ["sales", "support"], "max_per_channel": {"chat": 2}},
        {"id": 4, "queues": ["support"], "capacity": 80},
        {"id": 5, "queues": ["support"], "capacity": 24},
        {"id": 6, "queues": ["sales", "support"]},
    ],
}
CHANNELS = ("chat", "chat", "email", "voice", "sms")
MAX_ITEMS = 40
BOSS = Actor(agent_id=99, role="supervisor")


def config() -> CompiledConfig:
    return load_config(CONFIG)


# ---- the worker process ----------------------------------------------------------------


class Worker:
    def __init__(self, redis: aioredis.Redis, settings: Settings, index: int, seed: int) -> None:
        self.redis, self.settings, self.index = redis, settings, index
        self.cfg = config()
        self.script = RouterScript(settings, self.cfg)
        self.rng = random.Random(seed)
        self.next_id = index * 1_000_000
        self.mine = [a for a in AGENTS if a % WORKERS == index]  # sockets this process holds
        self.agents = {a: AgentRuntime(id=a) for a in self.mine}
        self.busy_until: dict[int, float] = {}
        self.stale: RouterState | None = None
        self.stats: Counter[str] = Counter()

    async def run(self, items: list[AnyDecision], now: float) -> list[AnyDecision]:
        """Apply atomically; returns the decisions that took effect."""
        done: list[AnyDecision] = []
        for outcome in await self.script.call_all(self.redis, items, now):
            if isinstance(outcome, Applied):
                done.append(outcome.decision)
                self.stats["applied:" + type(outcome.decision).__name__] += 1
            else:
                self.stats["refused:" + outcome.code] += 1
        gone = [d.item_id for d in done if isinstance(d, CancelItem | EndWrapup)
                or (isinstance(d, CompleteItem) and d.wrapup_until is None)]
        if gone:
            await self.redis.sadd(self.settings.key_prefix + "mp:finished", *gone)
        return done

    async def command(self, make: Any, now: float) -> None:
        try:
            d = make()
        except (Conflict, Forbidden, NotFound):
            self.stats["dry-run refused"] += 1
            return
        await self.run([d], now)

    async def sockets(self, now: float) -> None:
        for a in self.mine:
            agent = self.agents[a]
            if not agent.connected:
                agent = connect(agent, now)
            agent = heartbeat(agent, now)
            until = self.busy_until.get(a)
            if until is not None and now >= until:
                del self.busy_until[a]
                agent = set_status(agent, "available")
            elif until is None and self.rng.random() < 0.003:
                self.busy_until[a] = now + 0.2
                agent = set_status(agent, "busy")
            self.agents[a] = agent
            await save_presence(self.redis, self.settings, agent)

    async def arrivals(self, state: RouterState, now: float) -> None:
        for _ in range(self.rng.randint(0, 2)):
            if len(state.items) >= MAX_ITEMS:
                return
            self.next_id += 1
            attrs: dict[str, Any] = {"topic": self.rng.choice(["sales", "help"])}
            d = enqueue(self.cfg, item_id=self.next_id, channel=self.rng.choice(CHANNELS),
                        created_at=now, attrs=attrs, priority=self.rng.randint(0, 2))
            if await self.run([d], now):
                await self.redis.sadd(self.settings.key_prefix + "mp:arrived",
                                      self.next_id)

    async def answer(self, state: RouterState, now: float) -> None:
        cfg, rng = self.cfg, self.rng
        for item in list(state.items.values()):
            for o in item.pending():  # every agent of a broadcast tries: one wins
                roll = rng.random()
                if roll < 0.6:
                    await self.command(lambda i=item.id, a=o.agent_id: accept(
                        cfg, state, i, a, now), now)
                elif roll < 0.75:
                    await self.command(lambda i=item.id, a=o.agent_id: decline(
                        cfg, state, i, a, now), now)
            if item.status == "assigned" and rng.random() < 0.3:
                holder = item.agent_id
                assert holder is not None
                await self.command(lambda i=item.id, a=holder: complete(
                    cfg, state, i, a, now), now)

    async def chaos(self, state: RouterState, now: float) -> None:
        cfg, rng = self.cfg, self.rng
        if not state.items:
            return
        item = state.items[rng.choice(sorted(state.items))]
        roll = rng.random()
        if roll < 0.03:
            await self.command(lambda: cancel(cfg, state, item.id, now), now)
        elif roll < 0.08:
            actor = Actor(agent_id=rng.choice(AGENTS), role="agent")
            await self.command(lambda: pick(cfg, state, actor, item.id, now), now)
        elif roll < 0.11:
            await self.command(lambda: reassign(cfg, state, BOSS, item.id,
                                                rng.choice(AGENTS), now), now)
        elif roll < 0.14:
            await self.command(lambda: transfer(cfg, state, BOSS, item.id,
                                                rng.choice(["sales", "support"]), now), now)

    async def loop(self, duration: float) -> None:
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            now = time.time()
            await self.sockets(now)
            state = await load_state(self.redis, self.settings)
            await self.arrivals(state, now)
            state = await load_state(self.redis, self.settings)
            view = self.stale if self.stale is not None and self.rng.random() < 0.2 else state
            await self.run(decide(self.cfg, view, now), now)
            self.stale = state
            now = time.time()
            state = await load_state(self.redis, self.settings)
            await self.answer(state, now)
            await self.chaos(state, now)
            self.stats["rounds"] += 1


async def worker_main(url: str, prefix: str, index: int, duration: float, seed: int) -> None:
    redis = aioredis.from_url(url)
    try:
        worker = Worker(redis, Settings(redis_url=url, key_prefix=prefix), index, seed)
        await worker.loop(duration)
        print(json.dumps(dict(worker.stats)))
    finally:
        await redis.aclose()


# ---- the test ---------------------------------------------------------------------------


def spawn(settings: Settings, index: int) -> subprocess.Popen[str]:
    root = Path(__file__).resolve().parents[3]
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.routing.test_routing_multiprocess", settings.redis_url,
         settings.key_prefix, str(index), str(DURATION_S), str(1000 + index)],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


async def wait_all(procs: list[subprocess.Popen[str]]) -> list[dict[str, int]]:
    stats = []
    try:
        for proc in procs:
            out, err = await asyncio.to_thread(proc.communicate, timeout=DURATION_S + 25)
            assert proc.returncode == 0, err[-3000:]
            stats.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return stats


async def test_three_processes_hammering_the_same_agents(redis: aioredis.Redis,
                                                         settings: Settings) -> None:
    cfg = config()
    procs = [spawn(settings, i) for i in range(WORKERS)]
    stats = await wait_all(procs)
    total: Counter[str] = Counter()
    for s in stats:
        total.update(s)
    # Real contention happened: every process worked, offers raced and were refused.
    assert all(s["rounds"] >= 20 for s in stats), stats
    assert total["applied:AcceptOffer"] >= 20 and total["applied:CompleteItem"] >= 10, total
    assert total["refused:offer_gone"] + total["refused:offered"] > 0, total  # lost races
    assert total["refused:over_capacity"] + total["refused:item_gone"] > 0, total

    assert await read_violations(redis, settings) == {}
    for agent_id, peak in (await read_peaks(redis, settings)).items():
        assert peak.units <= cfg.capacity(agent_id), (agent_id, peak)
        for channel, count in peak.per_channel.items():
            limit = cfg.channel_limit(agent_id, channel)
            assert limit is None or count <= limit, (agent_id, channel, count)

    state = await load_state(redis, settings)
    arrived = {int(x) for x in await redis.smembers(settings.key_prefix + "mp:arrived")}
    finished = {int(x) for x in await redis.smembers(settings.key_prefix + "mp:finished")}
    assert arrived and finished
    assert set(state.items) <= arrived  # nothing appeared from nowhere
    assert arrived - set(state.items) == finished  # nothing lost, nothing finished twice
    assert not finished & set(state.items)
    for item in state.items.values():
        assert item.status in ("queued", "offered", "assigned", "wrapup")
        assert item.queue in cfg.queues
        pending = [o.agent_id for o in item.pending()]
        assert len(pending) == len(set(pending))
        assert item.agent_id is None or not pending  # a held item has no live offer
        assert len(pending) <= cfg.offer_settings(item.queue).broadcast_size
    held = {i.id: i.agent_id for i in state.items.values() if i.agent_id is not None}
    assert await read_held(redis, settings) == held
    stored = {a: (ld.units, {c: n for c, n in ld.per_channel.items() if n})
              for a, ld in (await read_loads(redis, settings)).items()}
    assert stored == {a: (ld.units, dict(ld.per_channel))
                      for a, ld in counted_loads(state).items()}
    # And what each agent holds now (offers, items, unfinished wrap-ups) fits.
    for agent_id, load in loads(state, time.time()).items():
        assert load.units <= cfg.capacity(agent_id), (agent_id, load)


if __name__ == "__main__":
    url, prefix, index, duration, seed = sys.argv[1:6]
    asyncio.run(worker_main(url, prefix, int(index), float(duration), int(seed)))
