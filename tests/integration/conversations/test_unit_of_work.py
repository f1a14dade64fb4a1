"""hub/unit_of_work.py: events leave after commit and after the connection is back in the
pool, never on error; and no module publishes a state change's events by hand."""

from __future__ import annotations

import asyncio
import pathlib
import re

import asyncpg
import pytest

from hub.outbox import Publisher
from hub.schema import BotChanged
from hub.unit_of_work import unit_of_work

ROOT = pathlib.Path(__file__).resolve().parents[3]
# The helper itself, and the outbox (the definition, and the sweeper that republishes
# rows a crashed process committed: no state change there).
ALLOWED = {"hub/unit_of_work.py", "hub/outbox.py"}


def test_no_call_site_publishes_by_hand():
    offenders = []
    for top in ("hub", "channels", "web", "workers", "bench", "examples"):
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel in ALLOWED:
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if re.search(r"\bpublish_committed\(", line):
                    offenders.append(f"{rel}:{n}")
    assert offenders == [], "publish through hub.unit_of_work, not by hand: " + ", ".join(offenders)


def _event(bot_id: int) -> BotChanged:
    return BotChanged(bot_id=bot_id, active=True, change="updated", by_agent_id=1)


async def test_publishes_after_commit_with_the_connection_back(settings, db, redis):
    # One connection in the pool: publishing (which deletes the published rows through
    # the pool) would wait forever if the unit of work still held it.
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        async with asyncio.timeout(20):
            async with unit_of_work(pool, Publisher(redis, settings)) as uow, \
                    uow.transaction() as conn:
                await conn.execute("CREATE TABLE uow_probe (x int)")
                await uow.emit([_event(7)])
                assert await redis.xlen(settings.events_stream) == 0  # not before commit
    finally:
        await pool.close()
    entries = await redis.xrange(settings.events_stream)
    assert len(entries) == 1 and b"bot.changed" in b"".join(entries[0][1].values())
    assert await db.fetchval("SELECT count(*) FROM event_outbox") == 0
    assert await db.fetchval("SELECT to_regclass('uow_probe') IS NOT NULL")


async def test_error_rolls_back_and_publishes_nothing(settings, db, redis):
    with pytest.raises(LookupError):
        async with unit_of_work(db, Publisher(redis, settings)) as uow, \
                uow.transaction() as conn:
            await conn.execute("CREATE TABLE uow_probe (x int)")
            await uow.emit([_event(8)])
            raise LookupError("boom")
    assert await redis.xlen(settings.events_stream) == 0
    assert await db.fetchval("SELECT count(*) FROM event_outbox") == 0
    assert not await db.fetchval("SELECT to_regclass('uow_probe') IS NOT NULL")


async def test_emit_outside_the_transaction_is_refused(settings, db, redis):
    async with unit_of_work(db, Publisher(redis, settings)) as uow:
        with pytest.raises(RuntimeError):
            await uow.emit([_event(9)])
        async with uow.transaction():
            pass
        with pytest.raises(RuntimeError):
            await uow.emit([_event(9)])
        with pytest.raises(RuntimeError):
            async with uow.transaction():
                pass
    assert await redis.xlen(settings.events_stream) == 0
