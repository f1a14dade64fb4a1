"""A pipeline consumer SIGKILLed mid-batch loses and duplicates nothing: a second
consumer reclaims its pending entries (XAUTOCLAIM) and idempotent writes plus the
outbox make every message exist once with exactly one message.created event."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import UTC, datetime

import pytest

from hub.schema import Envelope, Identity, encode

pytestmark = pytest.mark.slow

N = 3000

_RUNNER = """
import asyncio, sys
from hub.config import settings_from_env
from hub.conversations.pipeline import run_pipeline
import os
settings = settings_from_env(os.environ)
asyncio.run(run_pipeline(settings))
"""


def _spawn(settings, consumer: str) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "OMNIHUB_KEY_PREFIX": settings.key_prefix,
        "OMNIHUB_CONSUMER_NAME": consumer,
        "OMNIHUB_CLAIM_IDLE_MS": "500",
        "OMNIHUB_PIPELINE_BATCH": "50",
        "OMNIHUB_SECRET_KEY": settings.secret_key,
    }
    return asyncio.create_subprocess_exec(sys.executable, "-c", _RUNNER, env=env)


async def _stored(db) -> int:
    return await db.fetchval("SELECT count(*) FROM messages")


async def _wait_for(pred, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not await pred():
            await asyncio.sleep(0.02)


async def test_killed_consumers_lose_and_duplicate_nothing(settings, seeded, db, redis):
    now = datetime.now(UTC)
    async with redis.pipeline(transaction=False) as pipe:
        for i in range(N):
            env = Envelope(channel="api", channel_account="api", provider_id=f"kill-{i}",
                           sender=Identity(kind="external", value=f"cust-{i % 97}"),
                           text=f"message {i}", received_at=now)
            pipe.xadd(settings.ingest_stream, {"env": encode(env)})
        await pipe.execute()

    # Kill a consumer twice at different points, then let a third finish the job.
    for name, fraction in (("victim-1", 0.2), ("victim-2", 0.55)):
        proc = await _spawn(settings, name)
        target = int(N * fraction)
        await _wait_for(lambda t=target: _gt(db, t), 60)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

    survivor = await _spawn(settings, "survivor")
    try:
        async def done() -> bool:
            pending = (await redis.xpending(settings.ingest_stream, "pipeline"))["pending"]
            outbox = await db.fetchval("SELECT count(*) FROM event_outbox")
            return await _stored(db) == N and pending == 0 and outbox == 0
        await _wait_for(done, 90)
    finally:
        survivor.send_signal(signal.SIGTERM)
        await survivor.wait()

    assert await db.fetchval("SELECT count(DISTINCT provider_id) FROM messages") == N
    events = await redis.xrange(settings.events_stream)
    created = [json.loads(e[b"e"])["message"]["provider_id"] for _, e in events
               if json.loads(e[b"e"])["type"] == "message.created"]
    assert len(created) == N and len(set(created)) == N
    # One contact per sender, one open conversation per contact.
    assert await db.fetchval("SELECT count(*) FROM contacts WHERE seed_key LIKE 'external:%'") == 97
    assert await db.fetchval(
        "SELECT count(*) FROM conversations WHERE inbox = 'api'") == 97


async def _gt(db, target: int) -> bool:
    return await _stored(db) > target
