"""SLA timer workers as real OS processes (tests/fixtures/sla_timer_proc.py) sharing the
session's Valkey and the test's Postgres database.

- Three workers fire 2,000 wake-ups (half scheduled while they run): every one fires,
  none twice in effect, and none is even attempted twice (no lease expired, and two
  workers never hold the same member).
- A worker SIGKILLed while it holds leases: its members still fire, by another worker,
  once the lease has expired.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

from hub.config import Settings
from hub.sla.schedule import TimerKeys, schedule_wakeups, timer_keys
from tests.fixtures.helpers import eventually
from tests.fixtures.sla_timer_proc import create_tables

ROOT = Path(__file__).resolve().parents[3]


def spawn(settings: Settings, logs: Path, name: str, lease_s: float,
          mode: str = "ok") -> subprocess.Popen[bytes]:
    with open(logs / f"{name}.log", "wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "tests.fixtures.sla_timer_proc", settings.redis_url,
             settings.database_url, settings.key_prefix, name, str(lease_s), mode],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


async def count(db: asyncpg.Pool, sql: str, *args: object) -> int:
    return int(await db.fetchval(sql, *args))


async def leases_empty(redis: aioredis.Redis, keys: TimerKeys) -> bool:
    return await redis.exists(keys.due, keys.lease, keys.held) == 0


async def test_three_workers_fire_2000_dues_each_once_in_effect(
        redis: aioredis.Redis, settings: Settings, db: asyncpg.Pool,
        tmp_path: Path) -> None:
    await create_tables(db)
    keys = timer_keys(settings)
    rng = random.Random(13)
    now = time.time()
    early = [(f"conv:{i}", now - rng.uniform(0, 5)) for i in range(1000)]
    await schedule_wakeups(redis, keys, early)
    procs = [spawn(settings, tmp_path, f"w{i}", lease_s=120) for i in range(3)]
    try:
        # The other half arrives while the workers run, some due a little later: the
        # sleeping workers are woken by nudges.
        later = time.time()
        late = [(f"conv:{i}", later + rng.uniform(-1, 1.5)) for i in range(1000, 2000)]
        for start in range(0, 1000, 100):
            await schedule_wakeups(redis, keys, late[start:start + 100])

        async def all_fired() -> bool:
            return await count(db, "SELECT count(*) FROM sla_test_fired") == 2000

        await eventually(all_fired, timeout=120)
        await eventually(lambda: leases_empty(redis, keys), timeout=30)
        rows = await db.fetch("SELECT member, due FROM sla_test_fired")
        assert {(r["member"], r["due"]) for r in rows} == set(early + late)
        assert await count(db, "SELECT count(*) FROM sla_test_attempts") == 2000
        assert all(p.poll() is None for p in procs), "a worker process died"
    finally:
        stop_all(procs)
    for i, p in enumerate(procs):
        assert p.returncode == 0, (tmp_path / f"w{i}.log").read_text()


async def test_a_killed_workers_leases_are_fired_by_another_worker(
        redis: aioredis.Redis, settings: Settings, db: asyncpg.Pool,
        tmp_path: Path) -> None:
    await create_tables(db)
    keys = timer_keys(settings)
    now = time.time()
    items = [(f"conv:{i}", now - i / 100) for i in range(50)]
    await schedule_wakeups(redis, keys, items)
    doomed = spawn(settings, tmp_path, "doomed", lease_s=1.0, mode="hang")
    procs = [doomed]
    try:
        async def doomed_holds_all() -> bool:
            return await count(db, "SELECT count(*) FROM sla_test_attempts "
                                   "WHERE worker = 'doomed'") == 50

        await eventually(doomed_holds_all, timeout=60)
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
        assert await redis.zcard(keys.lease) == 50  # its leases outlive it
        procs.append(spawn(settings, tmp_path, "rescuer", lease_s=30))

        async def all_fired() -> bool:
            return await count(db, "SELECT count(*) FROM sla_test_fired") == 50

        await eventually(all_fired, timeout=60)
        await eventually(lambda: leases_empty(redis, keys), timeout=30)
        rows = await db.fetch("SELECT member, due, worker FROM sla_test_fired")
        assert {(r["member"], r["due"]) for r in rows} == set(items)
        assert {r["worker"] for r in rows} == {"rescuer"}
    finally:
        stop_all(procs)
