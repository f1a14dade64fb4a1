"""The router as a long-lived task (``omnihub router``; several may run at once).

One loop per process, woken by (a) the Redis channel ``<prefix>router:wake`` (web
commands, socket presence changes, config swaps), (b) the events stream (new or
changed work items and conversations: the items are reconciled into Redis), and
(c) ``next_wakeup`` (offer timeouts, escalation steps, wrap-up ends, presence grace,
business hours opening/closing). Each turn:

1. swap to a newer config if the version key moved;
2. reconcile the work items named by new events (all of them every ``resync_s``);
3. snapshot, ``decide``, apply through the atomic layer (the Lua script journals
   every applied decision);
4. persist the journal to Postgres + outbox and publish (hub/routing/persist.py);
5. push ``queue.stats`` when the numbers changed (at most every ``stats_min_s``) and
   every ``stats_every_s`` (one process at a time, by a short Redis lease).

Correctness never depends on how many processes run this: the atomic layer re-checks
every decision, the journal is persisted under a row lock, and refusals are normal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import redis.asyncio as aioredis

from hub.channels_table import AVAILABILITY_PROBE
from hub.config import Settings
from hub.outbox import Publisher
from hub.routing.atomic import Applied, RouterScript
from hub.routing.config import CompiledConfig
from hub.routing.configstore import ConfigCache, ensure_config, wake_channel
from hub.routing.decide import decide
from hub.routing.decisions import OfferItem
from hub.routing.persist import (
    POSTGRES_ERRORS,
    deliver_all,
    open_router_pool,
    persist_journal,
    work_items_of_conversations,
)
from hub.routing.presence import derive_presence
from hub.routing.reconcile import reconcile
from hub.routing.state import RouterState, fits, loads
from hub.routing.stats import queue_stats
from hub.routing.store import load_state
from hub.routing.wakeup import next_wakeup
from hub.schema import (
    ConversationAssigned,
    ConversationStatusChanged,
    Message,
    QueueStats,
    WorkItemCreated,
    WorkItemUpdated,
    decode_event,
)

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger("omnihub.router")

# Infrastructure failures a turn retries after a pause (database or Redis restarting).
_TURN_ERRORS: tuple[type[Exception], ...] = (
    OSError, ConnectionError, TimeoutError, *POSTGRES_ERRORS, aioredis.RedisError)

Deliver = Callable[[Message], Awaitable[None]]


async def wake_router(redis: aioredis.Redis, settings: Settings, why: str = "event") -> None:
    """Ask every router process to run a turn now (cheap; coalesced by the loops)."""
    await redis.publish(wake_channel(settings), why.encode())


def board(cfg: CompiledConfig, state: RouterState, now: float) -> list[QueueStats]:
    """The ``queue.stats`` numbers of every configured queue at ``now``."""
    stats = queue_stats(cfg, state, now)
    load = loads(state, now)
    presence = {a: derive_presence(state.agents.get(a), cfg.raw.presence, now)
                for a in cfg.agents}
    probe = cfg.weight(AVAILABILITY_PROBE)
    out = []
    for q in cfg.queue_order:
        members = cfg.members.get(q, ())
        online = [a for a in members if presence[a] == "online"]
        room = [a for a in online
                if fits(load.get(a), AVAILABILITY_PROBE, probe, cfg.capacity(a),
                        cfg.channel_limit(a, AVAILABILITY_PROBE))]
        s = stats[q]
        out.append(QueueStats(queue=q, inbox="", depth=s.waiting,
                              oldest_wait_s=round(s.oldest_wait_s, 1), offered=s.offered,
                              assigned=s.assigned, agents_available=len(room),
                              agents_online=len(online)))
    return out


class RouterService:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis, *,
                 config_text: str | None = None, deliver: Deliver | None = None,
                 resync_s: float = 5.0, stats_every_s: float = 5.0,
                 stats_min_s: float = 1.0, max_sleep_s: float = 2.0) -> None:
        self.settings = settings
        self.pool = pool
        self.redis = redis
        self.publisher = Publisher(redis, settings)
        self.config_text = config_text
        self.deliver = deliver
        self.resync_s = resync_s
        self.stats_every_s = stats_every_s
        self.stats_min_s = stats_min_s
        self.max_sleep_s = max_sleep_s
        self.configs = ConfigCache(pool, redis, settings)
        self.me = f"{socket.gethostname()}-{os.getpid()}-{id(self)}"
        self._wake = asyncio.Event()
        self._items: set[int] = set()
        self._convs: set[int] = set()
        self._last_resync = 0.0
        self._stats_sent: dict[str, tuple[int, int, int, int, int]] = {}
        self._stats_at = 0.0
        self._stats_full_at = 0.0
        # Events this process persisted itself: the watcher need not reconcile them.
        self._own: dict[tuple[str, int, object], int] = {}
        self.turns = 0

    # ---- wake-ups ----------------------------------------------------------------

    async def _listen(self, stop: asyncio.Event) -> None:
        pubsub = self.redis.pubsub()
        await pubsub.subscribe(wake_channel(self.settings))
        try:
            while not stop.is_set():
                try:
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                except (OSError, ConnectionError) as exc:
                    log.warning("router wake channel failed, retrying: %r", exc)
                    await asyncio.sleep(0.5)
                    continue
                if msg is not None:
                    self._wake.set()
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _watch_events(self, stop: asyncio.Event) -> None:
        """Work items and conversations that changed: reconcile them at the next turn."""
        stream = self.settings.events_stream
        last = "$"
        while not stop.is_set():
            try:
                resp = await self.redis.xread({stream: last}, count=500, block=1000)
            except (OSError, ConnectionError) as exc:
                log.warning("router events reader failed, retrying: %r", exc)
                await asyncio.sleep(0.5)
                continue
            if not resp:
                continue
            for sid, fields in resp[0][1]:
                last = sid.decode() if isinstance(sid, bytes) else str(sid)
                try:
                    event = decode_event(fields[b"e"])
                except Exception:
                    continue
                if self._mine(event):
                    continue
                if isinstance(event, WorkItemCreated | WorkItemUpdated):
                    self._items.add(event.work_item.id)
                elif isinstance(event, ConversationAssigned | ConversationStatusChanged):
                    self._convs.add(event.conversation_id)
                else:
                    continue
                self._wake.set()

    @staticmethod
    def _own_key(event: object) -> tuple[str, int, object] | None:
        if isinstance(event, WorkItemUpdated):
            return ("w", event.work_item.id, (event.work_item.status, event.work_item.agent_id))
        if isinstance(event, ConversationAssigned):
            return ("c", event.conversation_id, event.agent_id)
        return None

    def _mine(self, event: object) -> bool:
        key = self._own_key(event)
        if key is None or key not in self._own:
            return False
        self._own[key] -= 1
        if not self._own[key]:
            del self._own[key]
        return True

    # ---- one turn ----------------------------------------------------------------

    async def turn(self) -> float | None:
        """One routing turn; returns the next instant worth a turn (None: only events)."""
        cfg = await self.configs.get()
        now = time.time()
        items, self._items = self._items, set()
        convs, self._convs = self._convs, set()
        if convs:
            items.update(await work_items_of_conversations(self.pool, list(convs)))
        if now - self._last_resync >= self.resync_s:
            self._last_resync = now
            await reconcile(self.pool, self.redis, self.settings, cfg, now)
        elif items:
            await reconcile(self.pool, self.redis, self.settings, cfg, now, items)
        state = await load_state(self.redis, self.settings)
        decisions = decide(cfg, state, now)
        wakeups = [next_wakeup(cfg, state, now)]
        if decisions:
            outcomes = await RouterScript(self.settings, cfg).call_all(self.redis, decisions, now)
            # The new offers' expiries; the rest of the snapshot's wake-ups still hold or
            # come earlier (an early turn costs little). The board catches up next turn.
            wakeups += [o.decision.expires_at for o in outcomes
                        if isinstance(o, Applied) and isinstance(o.decision, OfferItem)]
        await self.persist()
        await self.push_stats(cfg, state, now)
        self.turns += 1
        future = [t for t in wakeups if t is not None]
        return min(future) if future else None

    async def persist(self) -> None:
        while True:
            result = await persist_journal(self.pool, self.redis, self.settings, self.publisher)
            for event in result.events:
                if (key := self._own_key(event)) is not None:
                    self._own[key] = self._own.get(key, 0) + 1
            if len(self._own) > 10_000:  # events we never saw again (trimmed, restarted)
                self._own.clear()
            await deliver_all(self.deliver, result.messages)
            if result.entries < 500:
                return

    async def push_stats(self, cfg: CompiledConfig, state: RouterState, now: float) -> None:
        if now - self._stats_at < self.stats_min_s:
            return
        full = now - self._stats_full_at >= self.stats_every_s
        rows = board(cfg, state, now)
        changed = [s for s in rows if self._stats_sent.get(s.queue) != _numbers(s)]
        send = rows if full else changed
        if not send or not await self._stats_lease():
            return
        for s in send:
            await self.publisher.publish_ephemeral(s)
            self._stats_sent[s.queue] = _numbers(s)
        self._stats_at = now
        if full:
            self._stats_full_at = now

    async def _stats_lease(self) -> bool:
        """Only one process pushes the board at a time (a lease a few periods long)."""
        key = self.settings.key_prefix + "{rt}:stats-lease"
        ms = int(self.stats_every_s * 3000)
        if await self.redis.set(key, self.me, nx=True, px=ms):
            return True
        holder = await self.redis.get(key)
        if holder is not None and holder.decode() == self.me:
            await self.redis.pexpire(key, ms)
            return True
        return False

    # ---- the loop ----------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        await ensure_config(self.pool, self.redis, self.settings, self.config_text)
        async with asyncio.TaskGroup() as tg:
            listen = tg.create_task(self._listen(stop))
            watch = tg.create_task(self._watch_events(stop))
            try:
                await self._loop(stop)
            finally:
                listen.cancel()
                watch.cancel()

    async def _loop(self, stop: asyncio.Event) -> None:
        delay = 0.1
        while not stop.is_set():
            self._wake.clear()
            try:
                wakeup = await self.turn()
                delay = 0.1
            except _TURN_ERRORS as exc:
                log.warning("router turn failed, retrying in %.1fs: %r", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            sleep = self.max_sleep_s
            if wakeup is not None:
                sleep = max(0.0, min(sleep, wakeup - time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=sleep)
            if not stop.is_set() and self._wake.is_set():
                await asyncio.sleep(0.005)  # coalesce a burst of wake-ups into one turn


def _numbers(s: QueueStats) -> tuple[int, int, int, int, int]:
    return (s.depth, s.offered, s.assigned, s.agents_available, s.agents_online)


async def run_router(settings: Settings, *, stop: asyncio.Event | None = None,
                     config_text: str | None = None, deliver: Deliver | None = None) -> None:
    """Run one router loop until ``stop`` is set (the ``omnihub router`` command)."""
    stop = stop or asyncio.Event()
    pool = await open_router_pool(settings)
    redis = aioredis.from_url(settings.redis_url, decode_responses=False)  # type: ignore[no-untyped-call]
    try:
        service = RouterService(settings, pool, redis, config_text=config_text, deliver=deliver)
        log.info("router %s started", service.me)
        await service.run(stop)
    finally:
        await redis.aclose()
        await pool.close()
