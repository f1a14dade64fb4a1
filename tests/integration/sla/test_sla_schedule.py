"""The SLA due set in Redis (hub/sla/schedule.py), against the session's Valkey.

``now`` is a parameter of every claim, so lease expiry is tested by passing a later
``now``, not by waiting."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from hub.config import Settings
from hub.errors import BadInput
from hub.sla.schedule import (
    TimerKeys,
    claim_due,
    release,
    schedule_wakeups,
    timer_keys,
)
from tests.fixtures.helpers import eventually
from workers.sla_timers import SlaTimerLoop

T0 = 1_800_000_000.0


async def dues(redis: aioredis.Redis, keys: TimerKeys) -> dict[str, float]:
    return {m.decode(): s for m, s in await redis.zrange(keys.due, 0, -1, withscores=True)}


async def test_claims_come_earliest_first_in_batches_of_the_limit(
        redis: aioredis.Redis, settings: Settings) -> None:
    keys = timer_keys(settings)
    items = [(f"conv:{i}", T0 + (7 * i) % 10 + 0.25) for i in range(10)]
    assert await schedule_wakeups(redis, keys, items) == 10
    order = [m for m, _ in sorted(items, key=lambda x: x[1])]
    got: list[tuple[str, float]] = []
    for n in range(4):
        claim = await claim_due(redis, keys, T0 + 20, 30, 3, f"w:{n}")
        assert len(claim.due) == (3 if n < 3 else 1)
        got += claim.due
    assert [m for m, _ in got] == order
    assert dict(got) == dict(items)  # the exact floats come back
    nothing = await claim_due(redis, keys, T0 + 20, 30, 3, "w:9")
    assert nothing.due == []
    assert nothing.next_at == T0 + 50  # only leases left: the earliest expiry


async def test_members_not_yet_due_stay_and_next_at_is_the_earliest_due_or_expiry(
        redis: aioredis.Redis, settings: Settings) -> None:
    keys = timer_keys(settings)
    await schedule_wakeups(redis, keys, [("conv:1", T0 + 5), ("conv:2", T0 + 9)])
    claim = await claim_due(redis, keys, T0, 30, 10, "w:1")
    assert claim.due == [] and claim.next_at == T0 + 5
    claim = await claim_due(redis, keys, T0 + 5, 30, 10, "w:2")  # due at exactly now
    assert claim.due == [("conv:1", T0 + 5)] and claim.next_at == T0 + 9
    # A lease expiring before the next due is the next instant: the holder may die.
    claim = await claim_due(redis, keys, T0 + 5, 2, 10, "w:3")
    assert claim.due == [] and claim.next_at == T0 + 9
    await schedule_wakeups(redis, keys, [("conv:3", T0 + 6)])
    claim = await claim_due(redis, keys, T0 + 6, 2, 10, "w:4")
    assert claim.due == [("conv:3", T0 + 6)] and claim.next_at == T0 + 8


async def test_rescheduling_keeps_the_earliest_unless_replacing(
        redis: aioredis.Redis, settings: Settings) -> None:
    keys = timer_keys(settings)
    await schedule_wakeups(redis, keys, [("conv:1", T0 + 100), ("conv:2", T0 + 100)])
    await schedule_wakeups(redis, keys, [("conv:1", T0 + 50), ("conv:2", T0 + 500)])
    assert await dues(redis, keys) == {"conv:1": T0 + 50, "conv:2": T0 + 100}
    # Within one call too: the earliest of a member's wake-ups wins.
    await schedule_wakeups(redis, keys, [("conv:3", T0 + 9), ("conv:3", T0 + 3)])
    assert (await dues(redis, keys))["conv:3"] == T0 + 3
    await schedule_wakeups(redis, keys, [("conv:1", T0 + 700)], replace=True)
    assert (await dues(redis, keys))["conv:1"] == T0 + 700


async def test_bad_members_and_dues_are_refused_and_nothing_is_written(
        redis: aioredis.Redis, settings: Settings) -> None:
    keys = timer_keys(settings)
    for bad in [("conv 1", T0), ("", T0), ("conv:1|x", T0), ("conv:1", float("nan")),
                ("conv:1", float("inf")), ("conv:1", -5.0), ("conv:1", True),
                ("conv:1", "soon"), (123, T0), ("conv:1", 1e300)]:
        with pytest.raises(BadInput) as err:
            await schedule_wakeups(redis, keys, [("conv:9", T0), bad])  # type: ignore[list-item]
        assert err.value.code == "bad_timer"
    assert await redis.exists(keys.due) == 0
    with pytest.raises(BadInput):
        await claim_due(redis, keys, T0, 0, 10, "w:1")
    with pytest.raises(BadInput):
        await claim_due(redis, keys, T0, 30, 10, "w|1")
    with pytest.raises(BadInput):
        await claim_due(redis, keys, float("nan"), 30, 10, "w:1")
    with pytest.raises(BadInput):
        await release(redis, keys, ["not a member"], "w:1")


async def test_a_leased_member_is_not_claimed_again_until_its_lease_expires(
        redis: aioredis.Redis, settings: Settings) -> None:
    keys = timer_keys(settings)
    await schedule_wakeups(redis, keys, [("conv:1", T0), ("conv:2", T0 + 1)])
    first = await claim_due(redis, keys, T0 + 2, 10, 1, "a:1")
    assert first.due == [("conv:1", T0)]
    # Rescheduled while leased: it waits in the due set, skipped by other claims.
    await schedule_wakeups(redis, keys, [("conv:1", T0 + 1.5)])
    second = await claim_due(redis, keys, T0 + 2, 10, 10, "b:1")
    assert second.due == [("conv:2", T0 + 1)]
    assert second.next_at == T0 + 12  # conv:1 is due but leased: look at its expiry
    # The holder dies; after the lease the member comes back at its due and is fired.
    third = await claim_due(redis, keys, T0 + 12.5, 10, 10, "c:1")
    assert third.reclaimed == 2  # conv:1 (a's) and conv:2 (b's, never released)
    assert third.due == [("conv:1", T0), ("conv:2", T0 + 1)]  # the earliest due is kept
    # A stale holder's release ends nothing; the new holder's does.
    assert await release(redis, keys, ["conv:1", "conv:2"], "a:1") == 0
    assert await release(redis, keys, ["conv:1", "conv:2"], "b:1") == 0
    assert await release(redis, keys, ["conv:1", "conv:2"], "c:1") == 2
    assert await redis.exists(keys.lease, keys.held) == 0
    assert await dues(redis, keys) == {}


async def test_release_nudges_for_a_member_rescheduled_while_leased(
        redis: aioredis.Redis, settings: Settings) -> None:
    keys = timer_keys(settings)
    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.nudge)
    try:
        await schedule_wakeups(redis, keys, [("conv:1", T0)])
        assert (await claim_due(redis, keys, T0, 10, 10, "a:1")).due == [("conv:1", T0)]
        await schedule_wakeups(redis, keys, [("conv:1", T0 + 3)])
        assert await release(redis, keys, ["conv:1"], "a:1") == 1
        seen: list[float] = []

        async def nudges() -> bool:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if msg is not None:
                seen.append(float(msg["data"]))
            return len(seen) == 3

        await eventually(nudges)
        assert seen == [T0, T0 + 3, T0 + 3]  # two schedules, then the release
        assert (await claim_due(redis, keys, T0 + 3, 10, 10, "b:1")).due == [
            ("conv:1", T0 + 3)]
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]


async def test_a_sleeping_loop_wakes_for_an_earlier_wakeup_and_retries_a_failure(
        redis: aioredis.Redis, settings: Settings) -> None:
    """The loop sleeps until a due 50 minutes away; a schedule's nudge for an earlier
    due must wake it. A callback that raises fires again once its lease expires."""
    keys = timer_keys(settings)
    fired: list[tuple[str, float]] = []
    early: list[str] = []
    failed_once: set[str] = set()

    async def fire(member: str, due: float) -> None:
        if time.time() < due:  # never before its due: tick would find nothing due
            early.append(member)
        if member == "conv:flaky" and member not in failed_once:
            failed_once.add(member)
            raise RuntimeError("the database is away")
        fired.append((member, due))

    loop = SlaTimerLoop(redis, keys, fire, lease_s=0.5, max_sleep_s=3600)
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    try:
        await schedule_wakeups(redis, keys, [("conv:later", time.time() + 3000)])
        await eventually(lambda: _sleeping(loop))  # until conv:later, 50 minutes away
        now = time.time()
        await schedule_wakeups(redis, keys, [("conv:1", now), ("conv:flaky", now + 0.05)])

        async def all_fired() -> bool:
            return sorted(m for m, _ in fired) == ["conv:1", "conv:flaky"]

        await eventually(all_fired)
        assert dict(fired) == {"conv:1": now, "conv:flaky": now + 0.05}
        assert loop.failed == 1 and loop.fired == 2 and early == []
        assert [m.decode() for m in await redis.zrange(keys.due, 0, -1)] == ["conv:later"]
        assert await redis.exists(keys.lease, keys.held) == 0
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def _sleeping(loop: SlaTimerLoop) -> bool:
    return loop.sleeping


