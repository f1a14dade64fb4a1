"""The SLA timer loop: fire due wake-ups from Redis, each by one worker at a time, and
again by another if the first dies (docs/sla.md "Timers").

One loop per worker process, any number of processes. Each turn it claims up to
``batch`` due members (``hub.sla.schedule.claim_due``: expired leases come back first),
calls ``fire(member, due)`` for each, and releases the leases of those that returned.
Then it sleeps until the earliest due or lease expiry the claim reported, woken early
by a nudge (``schedule_wakeups`` publishes the earliest due it wrote) that is earlier
than that. No scan of conversations; ``max_sleep_s`` only bounds a sleep whose nudge was
lost (the pub/sub connection dropped).

Contract for ``fire``: delivery is **at least once**. A member fires again if ``fire``
raises (after its lease expires) or if the worker dies or overruns the lease before
releasing it. ``fire`` must therefore be idempotent (the clock code applies
``hub.sla.rules.clock.tick`` under a compare-and-set, and emits signals only when its
write wins): at-least-once delivery into an idempotent callback is exactly once in
effect. Two workers never hold a lease on the same member at once, so ``fire`` runs
concurrently for one member only after a lease expired (a callback slower than
``lease_s``): keep ``lease_s`` well above the callback's worst time plus the clock skew
between worker hosts (each claim judges dues and leases by its own ``now``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from hub.config import Settings
from hub.sla.schedule import TimerKeys, claim_due, parse_nudge, release, timer_keys

log = logging.getLogger("omnihub.sla_timers")

Fire = Callable[[str, float], Awaitable[None]]
Clock = Callable[[], float]

LEASE_S = 30.0
BATCH = 200
MAX_SLEEP_S = 5.0
_REDIS_ERRORS = (OSError, ConnectionError, aioredis.RedisError)


class SlaTimerLoop:
    """Claims, fires and releases due wake-ups until ``stop`` is set."""

    def __init__(self, redis: aioredis.Redis, keys: TimerKeys, fire: Fire, *,
                 lease_s: float = LEASE_S, batch: int = BATCH,
                 max_sleep_s: float = MAX_SLEEP_S, clock: Clock = time.time,
                 name: str | None = None) -> None:
        self.redis = redis
        self.keys = keys
        self.fire = fire
        self.lease_s = lease_s
        self.batch = batch
        self.max_sleep_s = max_sleep_s
        self.clock = clock
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._turns = itertools.count()
        self._wake = asyncio.Event()
        self._sleep_until: float | None = None
        self.fired = 0
        self.failed = 0

    @property
    def sleeping(self) -> bool:
        """True while the loop waits for its next due or a nudge (between turns)."""
        return self._sleep_until is not None

    def _token(self) -> str:
        # One token per claim: a release ends only the leases of its own claim.
        return f"{self.name}:{next(self._turns)}"

    async def fire_due(self) -> float | None:
        """One turn: claim, fire, release. Returns when to look again (None: nothing
        scheduled); a full batch returns ``now`` (more may be due)."""
        token = self._token()
        claim = await claim_due(self.redis, self.keys, self.clock(), self.lease_s,
                                self.batch, token)
        if claim.reclaimed:
            log.info("sla timers: %d expired leases back in the due set", claim.reclaimed)
        if not claim.due:
            return claim.next_at
        results = await asyncio.gather(*(self.fire(m, due) for m, due in claim.due),
                                       return_exceptions=True)
        done = []
        for (member, due), result in zip(claim.due, results, strict=True):
            if isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                self.failed += 1
                # Left leased: it fires again once the lease expires.
                log.warning("sla timer %s (due %s) failed, retried after the lease: %r",
                            member, due, result)
            else:
                done.append(member)
        self.fired += len(done)
        await release(self.redis, self.keys, done, token)
        if len(claim.due) >= self.batch:
            return self.clock()
        return claim.next_at

    async def run(self, stop: asyncio.Event) -> None:
        pubsub = self.redis.pubsub()
        await pubsub.subscribe(self.keys.nudge)  # before the first claim: no nudge is lost
        listener = asyncio.create_task(self._listen(pubsub, stop), name="sla-nudges")
        stopper = asyncio.create_task(stop.wait(), name="sla-stop")
        try:
            await self._loop(stop, stopper)
        finally:
            listener.cancel()
            stopper.cancel()
            for task in (listener, stopper):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _loop(self, stop: asyncio.Event, stopper: asyncio.Task[bool]) -> None:
        delay = 0.1
        while not stop.is_set():
            self._wake.clear()
            try:
                next_at = await self.fire_due()
                delay = 0.1
            except _REDIS_ERRORS as exc:
                log.warning("sla timer turn failed, retrying in %.1fs: %r", delay, exc)
                next_at = self.clock() + delay
                delay = min(delay * 2, 5.0)
            now = self.clock()
            wait = self.max_sleep_s if next_at is None else min(self.max_sleep_s,
                                                                next_at - now)
            if wait <= 0:
                continue
            self._sleep_until = now + wait
            woke = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({woke, stopper}, timeout=wait,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                woke.cancel()
                self._sleep_until = None

    async def _listen(self, pubsub: aioredis.client.PubSub, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except _REDIS_ERRORS as exc:
                log.warning("sla nudge channel failed, retrying: %r", exc)
                self._wake.set()  # a nudge may have been lost: look once
                await asyncio.sleep(0.5)
                continue
            if msg is None:
                continue
            due = parse_nudge(msg.get("data"))
            until = self._sleep_until
            # Wake for anything earlier than the current sleep; while a turn runs
            # (`until` None) remember it, so the next sleep is skipped.
            if due is None or until is None or due < until:
                self._wake.set()


async def run_sla_timers(settings: Settings, fire: Fire, *, stop: asyncio.Event,
                         lease_s: float = LEASE_S, batch: int = BATCH,
                         name: str | None = None) -> None:
    """Run one timer loop until ``stop`` is set, with its own Redis client."""
    redis = aioredis.from_url(settings.redis_url, decode_responses=False)  # type: ignore[no-untyped-call]
    try:
        loop = SlaTimerLoop(redis, timer_keys(settings), fire, lease_s=lease_s, batch=batch,
                            name=name)
        log.info("sla timers %s started", loop.name)
        await loop.run(stop)
    finally:
        await redis.aclose()
