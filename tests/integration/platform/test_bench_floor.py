"""The benchmarks' floors must do the work they claim, or the ratios lie: concurrent
XADDs are coalesced yet every body lands once, each caller gets its own entry id, and a
Redis failure reaches every waiting caller instead of hanging it."""

from __future__ import annotations

import asyncio
import contextlib

import redis.asyncio as aioredis

from bench.floor import CoalescedXadd


async def test_coalesced_xadd_writes_every_body_once_with_its_own_id(redis, settings):
    stream = settings.key_prefix + "floor"
    xadd = CoalescedXadd(redis, stream, b"d")
    writer = asyncio.create_task(xadd.run())
    try:
        bodies = [f"m{i}".encode() for i in range(200)]
        ids = await asyncio.gather(*(xadd.add(b) for b in bodies))
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
    entries = await redis.xrange(stream)
    assert [e[1][b"d"] for e in entries] == bodies
    assert list(ids) == [e[0] for e in entries]


async def test_coalesced_xadd_fails_every_waiter_when_redis_is_gone(settings):
    dead = aioredis.from_url("redis://127.0.0.1:1/0")  # nothing listens on port 1
    xadd = CoalescedXadd(dead, settings.key_prefix + "floor", b"d")
    writer = asyncio.create_task(xadd.run())
    try:
        results = await asyncio.gather(*(xadd.add(b"x") for _ in range(5)),
                                       return_exceptions=True)
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        await dead.aclose()
    assert len(results) == 5
    assert all(isinstance(r, aioredis.ConnectionError) for r in results)
