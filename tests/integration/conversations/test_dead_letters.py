"""Only content Postgres refused is dead-lettered; a bug in our persistence code keeps the
entry pending and retries it until the bug is fixed. A dead letter raises an alarm (ERROR
log, counter, /healthz) and ``omnihub deadletters`` lists, shows, replays and drops them;
a replay is stored exactly once. Real Postgres, Valkey and the live hub; the command runs
as a real subprocess."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

import hub.conversations.pipeline as pipeline_module
from hub.config import Settings
from hub.conversations.dead_letters import (
    dead_letter_stats,
    get_dead_letter,
    list_dead_letters,
    replay_all_dead_letters,
    replay_dead_letter,
)
from hub.conversations.pipeline import GROUP, Pipeline, ensure_group
from hub.errors import BadInput, NotFound
from hub.schema import Envelope, Identity, encode, encode_envelope
from tests.fixtures.helpers import eventually


def envelope(provider_id: str, inbox: str = "api", text: str = "hello") -> Envelope:
    return Envelope(channel="api", channel_account=inbox, provider_id=provider_id,
                    sender=Identity(kind="external", value="crm-1"), text=text,
                    received_at=datetime.now(UTC))


async def pending(redis: Any, settings: Settings) -> int:
    return int((await redis.xpending(settings.ingest_stream, GROUP))["pending"])


async def messages(db: Any) -> int:
    return int(await db.fetchval("SELECT count(*) FROM messages"))


# ---- a bug is not the entry's fault ------------------------------------------------------


class Bug:
    """Patches a persistence step to raise ``kind`` for batches holding ``provider_id``
    (every batch when None) until ``fixed``."""

    def __init__(self, monkeypatch: Any, kind: type[Exception], provider_id: str | None
                 ) -> None:
        self.kind, self.provider_id = kind, provider_id
        self.fixed, self.hits = False, 0
        self.real = pipeline_module.persist_inbound_batch
        monkeypatch.setattr(pipeline_module, "persist_inbound_batch", self.persist)

    async def persist(self, conn: Any, good: Any, *args: Any, **kw: Any) -> Any:
        if not self.fixed and (self.provider_id is None or any(
                env.provider_id == self.provider_id for _, env in good)):
            self.hits += 1
            raise self.kind("a bug in a persistence step")
        return await self.real(conn, good, *args, **kw)


class RunningPipeline:
    """The consumer and the maintenance loop (reclaim), as ``run_pipeline`` runs them."""

    def __init__(self, settings: Settings, db: Any, redis: Any) -> None:
        self.pipeline = Pipeline(settings, db, redis)
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> RunningPipeline:
        self.tasks = [asyncio.create_task(self.pipeline.consume_forever(self.stop)),
                      asyncio.create_task(self.pipeline.maintain_forever(self.stop))]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@pytest.mark.parametrize("kind", [KeyError, ValueError, TypeError])
async def test_a_persistence_bug_keeps_the_entry_pending_until_fixed(
        settings, seeded, db, redis, monkeypatch, caplog, kind):
    bug = Bug(monkeypatch, kind, None)
    await ensure_group(redis, settings.ingest_stream, GROUP)
    await redis.xadd(settings.ingest_stream, {"env": encode_envelope(envelope("bug-1"))})

    async def retried() -> bool:
        return bug.hits >= 4

    async with RunningPipeline(settings, db, redis):
        # Retried (with backoff), never dead-lettered, never acknowledged.
        await eventually(retried)
        assert await redis.xlen(settings.dead_letter_stream) == 0
        assert await pending(redis, settings) == 1
        assert await messages(db) == 0
        assert any(r.levelno == logging.ERROR and "a bug" in str(r.exc_info)
                   for r in caplog.records)
        # The bug is fixed: the same entry is stored once and acknowledged.
        bug.fixed = True
        await eventually(lambda: messages(db))
        await eventually(lambda: _drained(redis, settings))
    assert await messages(db) == 1
    assert await redis.xlen(settings.dead_letter_stream) == 0


async def test_a_bug_in_one_entry_does_not_hold_up_the_others(
        settings, seeded, db, redis, monkeypatch):
    bug = Bug(monkeypatch, KeyError, "bug-1")
    await ensure_group(redis, settings.ingest_stream, GROUP)
    for pid in ("ok-1", "bug-1", "ok-2"):
        await redis.xadd(settings.ingest_stream, {"env": encode_envelope(envelope(pid))})

    async def stored(n: int) -> bool:
        return await messages(db) >= n

    async with RunningPipeline(settings, db, redis):
        await eventually(lambda: stored(2))
        await redis.xadd(settings.ingest_stream, {"env": encode_envelope(envelope("ok-3"))})
        await eventually(lambda: stored(3))  # later entries keep flowing

        async def only_the_bug_pending() -> bool:  # ok-3 is acked just after its commit
            return await pending(redis, settings) == 1

        await eventually(only_the_bug_pending)
        assert bug.hits >= 1
        assert await redis.xlen(settings.dead_letter_stream) == 0
        bug.fixed = True
        await eventually(lambda: stored(4))  # the reclaim loop retries it
        await eventually(lambda: _drained(redis, settings))
    assert sorted(r["provider_id"] for r in await db.fetch(
        "SELECT provider_id FROM messages")) == ["bug-1", "ok-1", "ok-2", "ok-3"]
    assert await redis.xlen(settings.dead_letter_stream) == 0


async def _drained(redis: Any, settings: Settings) -> bool:
    return await pending(redis, settings) == 0


async def test_content_postgres_refuses_is_still_dead_lettered_with_an_alarm(
        settings, seeded, db, redis, caplog):
    """What the pipeline still dead-letters (here an unknown inbox) is counted and logged
    at ERROR, and the valid entry of the same batch is stored."""
    await ensure_group(redis, settings.ingest_stream, GROUP)
    await redis.xadd(settings.ingest_stream, {"env": encode(envelope("gone-1", inbox="gone"))})
    await redis.xadd(settings.ingest_stream, {"env": encode(envelope("ok-1"))})
    resp = await redis.xreadgroup(GROUP, "t", {settings.ingest_stream: ">"}, count=10)
    await Pipeline(settings, db, redis).handle_safely(resp[0][1])
    assert await messages(db) == 1
    assert await dead_letter_stats(redis, settings) == {"waiting": 1, "total": 1}
    assert any(r.levelno == logging.ERROR and "dead-lettered" in r.getMessage()
               for r in caplog.records)
    assert await pending(redis, settings) == 0


# ---- replay ----------------------------------------------------------------------------------


async def _dead(redis: Any, settings: Settings, data: bytes, reason: str = "X") -> str:
    sid = await redis.xadd(settings.dead_letter_stream,
                           {"entry": "1-0", "reason": reason, "env": data})
    await redis.incr(settings.dead_letter_total)
    return str(sid.decode())


async def test_replay_is_stored_exactly_once_and_removes_the_dead_letter(hub, db, redis):
    settings = hub.settings
    # Dead-lettered because its inbox did not exist yet; an operator creates it.
    env = envelope("late-1", inbox="late")
    await redis.xadd(settings.ingest_stream, {"env": encode(env)})
    await eventually(lambda: redis.xlen(settings.dead_letter_stream))
    [dead] = await list_dead_letters(redis, settings)
    assert "unknown inbox" in dead.reason
    assert dead.summary()["envelope"]["provider_id"] == "late-1"
    async with httpx.AsyncClient(base_url=hub.base_url) as client:
        health = (await client.get("/healthz")).json()
    assert health["dead_letters"] == {"waiting": 1, "total": 1}
    await db.execute("INSERT INTO inboxes (slug, name, channel, default_queue)"
                     " VALUES ('late', 'Late', 'api', 'support')")

    # A replay that crashed after its re-add and before the delete: replayed twice.
    await redis.xadd(settings.ingest_stream, {"env": dead.env})
    new_id = await replay_dead_letter(redis, settings, dead.id)
    assert new_id
    assert await redis.xlen(settings.dead_letter_stream) == 0
    await eventually(lambda: messages(db))
    await eventually(lambda: _drained(redis, settings))
    await asyncio.sleep(0.2)
    assert await db.fetchval("SELECT count(*) FROM messages WHERE provider_id = 'late-1'") == 1
    assert await redis.xlen(settings.dead_letter_stream) == 0
    with pytest.raises(NotFound):
        await replay_dead_letter(redis, settings, dead.id)


async def test_replaying_what_main_lost_to_a_nul_stores_it(hub, db, redis):
    """Entries dead-lettered by the NUL bug before the fix are recovered by a replay."""
    settings = hub.settings
    data = encode(envelope("nul-1", text="lost\x00 once"))  # as main wrote it
    assert b"\\u0000" in data
    await _dead(redis, settings, data, "CharacterNotInRepertoireError: ...")
    junk = await _dead(redis, settings, b"{garbage", "undecodable")
    replayed, refused = await replay_all_dead_letters(redis, settings)
    assert len(replayed) == 1 and [r[0] for r in refused] == [junk]
    text = await eventually(lambda: db.fetchval(
        "SELECT text FROM messages WHERE provider_id = 'nul-1'"))
    assert text == "lost\ufffd once"
    # The junk stays until dropped: replay refuses it, nothing is lost silently.
    assert (await get_dead_letter(redis, settings, junk)).env == b"{garbage"
    with pytest.raises(BadInput):
        await replay_dead_letter(redis, settings, junk)
    with pytest.raises(BadInput):
        await get_dead_letter(redis, settings, "not-an-id")


# ---- the command -----------------------------------------------------------------------------


async def omnihub(settings: Settings, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "REDIS_URL": settings.redis_url,
           "OMNIHUB_KEY_PREFIX": settings.key_prefix, "OMNIHUB_LOG_LEVEL": "WARNING"}
    env.pop("DATABASE_URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "web.cli", "deadletters", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_omnihub_deadletters_command(hub, db, redis):
    settings = hub.settings
    good = await _dead(redis, settings, encode(envelope("cli-1", text="from the cli")),
                       "CharacterNotInRepertoireError: 0x00")
    junk = await _dead(redis, settings, b"{garbage", "undecodable: truncated")

    code, out, _ = await omnihub(settings, "stats")
    assert code == 0 and json.loads(out) == {"waiting": 2, "total": 2}
    code, out, _ = await omnihub(settings, "list")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["id"] for r in rows] == [good, junk]
    assert rows[0]["envelope"]["provider_id"] == "cli-1" and rows[1]["envelope"] is None
    code, out, _ = await omnihub(settings, "show", good)
    shown = json.loads(out)
    assert code == 0 and shown["env"]["text"] == "from the cli"
    assert shown["reason"].startswith("CharacterNotInRepertoireError")
    code, _, err = await omnihub(settings, "show", "9-9")
    assert code == 1 and "no dead letter" in err

    code, out, err = await omnihub(settings, "replay", "--all")
    assert code == 1  # the junk was refused, and kept
    assert json.loads(out)["replayed"] == good
    assert json.loads(err.splitlines()[-1])["refused"] == junk
    await eventually(lambda: db.fetchval(
        "SELECT count(*) FROM messages WHERE provider_id = 'cli-1'"))
    code, out, _ = await omnihub(settings, "drop", junk)
    assert code == 0 and json.loads(out) == {"dropped": junk}
    code, out, _ = await omnihub(settings, "stats")
    assert json.loads(out) == {"waiting": 0, "total": 2}
    await asyncio.sleep(0.2)
    assert await db.fetchval("SELECT count(*) FROM messages WHERE provider_id = 'cli-1'") == 1
