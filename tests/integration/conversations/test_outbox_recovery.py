"""Crash windows of the delivery path: committed-but-unpublished outbox rows, published-
but-undeleted rows, poison ingest entries, ingest trimming, and outbound delivery."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest
from arq import Retry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hub.conversations.pipeline import GROUP, Pipeline, ensure_group
from hub.outbox import OutboxSweeper, Publisher, write_outbox
from hub.schema import Envelope, Identity, QueueStats, encode
from tests.fixtures.helpers import agent_http, login
from tests.fixtures.ports import running_uvicorn
from workers.main import MAX_TRIES, deliver_message


def _event(n: int) -> QueueStats:
    return QueueStats(queue="support", inbox="web", depth=n, oldest_wait_s=0.0)


async def _events(redis, settings) -> list[dict]:
    return [json.loads(e[b"e"]) for _, e in await redis.xrange(settings.events_stream)]


async def test_committed_but_unpublished_rows_are_published_once(settings, db, redis):
    async with db.acquire() as conn, conn.transaction():
        await write_outbox(conn, [_event(1), _event(2)])  # commit, then "crash"
    await db.execute("UPDATE event_outbox SET created_at = now() - interval '1 minute'")
    publisher = Publisher(redis, settings)
    sweeper = OutboxSweeper(db, redis, publisher, settings)
    assert await sweeper.sweep_once() == 2
    assert await sweeper.sweep_once() == 0
    assert [e["depth"] for e in await _events(redis, settings)] == [1, 2]
    assert await db.fetchval("SELECT count(*) FROM event_outbox") == 0


async def test_published_but_undeleted_rows_are_not_published_again(settings, db, redis):
    publisher = Publisher(redis, settings)
    async with db.acquire() as conn, conn.transaction():
        rows = await write_outbox(conn, [_event(7)])
    await publisher.publish(rows)  # published, then "crash" before the DELETE
    await db.execute("UPDATE event_outbox SET created_at = now() - interval '1 minute'")
    await OutboxSweeper(db, redis, publisher, settings).sweep_once()
    assert [e["depth"] for e in await _events(redis, settings)] == [7]
    assert await db.fetchval("SELECT count(*) FROM event_outbox") == 0


async def test_poison_entries_are_dead_lettered_and_valid_ones_stored(settings, seeded, db,
                                                                      redis):
    await ensure_group(redis, settings.ingest_stream, GROUP)
    good = Envelope(channel="api", channel_account="api", provider_id="ok-1",
                    sender=Identity(kind="external", value="c1"), text="fine",
                    received_at=datetime.now(UTC))
    wrong_inbox = Envelope(channel="chat", channel_account="api", provider_id="x",
                           sender=Identity(kind="external", value="c1"), text="x",
                           received_at=datetime.now(UTC))
    for data in (b"{garbage", encode(good), b'{"type":"envelope","v":1}', encode(wrong_inbox)):
        await redis.xadd(settings.ingest_stream, {"env": data})
    pipeline = Pipeline(settings, db, redis)
    resp = await redis.xreadgroup(GROUP, "t", {settings.ingest_stream: ">"}, count=10)
    await pipeline.handle_safely(resp[0][1])
    assert await db.fetchval("SELECT count(*) FROM messages") == 1
    dead = await redis.xrange(settings.dead_letter_stream)
    assert len(dead) == 3
    assert any(b"not a chat inbox" in f[b"reason"] for _, f in dead)
    assert (await redis.xpending(settings.ingest_stream, GROUP))["pending"] == 0
    # Trimming keeps nothing that is acknowledged by every group.
    await pipeline.trim_ingest()
    assert await redis.xlen(settings.ingest_stream) <= 1


async def test_trim_keeps_entries_still_pending(settings, seeded, db, redis):
    await ensure_group(redis, settings.ingest_stream, GROUP)
    ids = [await redis.xadd(settings.ingest_stream, {"env": b"{}"}) for _ in range(3)]
    # Read all three but acknowledge none: a consumer that died holding them.
    await redis.xreadgroup(GROUP, "dead", {settings.ingest_stream: ">"}, count=10)
    await Pipeline(settings, db, redis).trim_ingest()
    assert [i for i, _ in await redis.xrange(settings.ingest_stream)] == ids


# ---- outbound delivery against a fake webhook receiver over real HTTP ----------------


class FakeReceiver:
    def __init__(self) -> None:
        self.calls: list[tuple[dict, str]] = []
        self.status = 200

    async def hook(self, request: Request) -> JSONResponse:
        self.calls.append((await request.json(), request.headers.get("idempotency-key", "")))
        return JSONResponse({"ok": self.status < 300}, status_code=self.status)


@pytest.fixture
async def receiver():
    fake = FakeReceiver()
    app = Starlette(routes=[Route("/hook", fake.hook, methods=["POST"])])
    async with running_uvicorn(app) as port:
        fake.url = f"{port.base_url}/hook"
        yield fake


async def _api_reply(hub, db, text: str) -> int:
    from tests.fixtures.helpers import api_post, new_id

    r = await api_post(hub.base_url, hub.seed["api_token"],
                       {"source_id": "crm-7", "text": "hello", "message_id": new_id()})
    assert r.status_code == 202
    async with asyncio.timeout(10):
        while (cid := await db.fetchval("SELECT id FROM conversations")) is None:
            await asyncio.sleep(0.02)
    cookie = await login(hub.base_url)
    async with agent_http(hub.base_url, cookie) as client:
        r = await client.post(f"/api/v1/conversations/{cid}/messages", json={"text": text})
        assert r.status_code == 201
        msg = r.json()["message"]
    assert msg["status"] == "queued"
    return int(msg["id"])


async def test_api_reply_is_delivered_once_with_status_events(hub, db, redis, receiver):
    await db.execute("UPDATE inboxes SET webhook_url = $1 WHERE slug = 'api'", receiver.url)
    mid = await _api_reply(hub, db, "Your router ships today.")
    async with httpx.AsyncClient() as http:
        ctx = {"pool": db, "publisher": Publisher(redis, hub.settings), "http": http,
               "settings": hub.settings, "job_try": 1}
        assert await deliver_message(ctx, mid) == "sent"
        assert await deliver_message(ctx, mid) == "not queued (already handled)"
    assert len(receiver.calls) == 1
    payload, key = receiver.calls[0]
    assert payload["text"] == "Your router ships today." and payload["recipient"] == "external:crm-7"
    assert key == await db.fetchval("SELECT provider_id FROM messages WHERE id = $1", mid)
    assert await db.fetchval("SELECT status FROM messages WHERE id = $1", mid) == "sent"
    statuses = [e for e in await _events(redis, hub.settings) if e["type"] == "message.status"]
    assert [(e["message_id"], e["status"]) for e in statuses] == [(mid, "sent")]


async def test_failing_receiver_retries_then_marks_failed(hub, db, redis, receiver):
    await db.execute("UPDATE inboxes SET webhook_url = $1 WHERE slug = 'api'", receiver.url)
    receiver.status = 503
    mid = await _api_reply(hub, db, "retry me")
    async with httpx.AsyncClient() as http:
        ctx = {"pool": db, "publisher": Publisher(redis, hub.settings), "http": http,
               "settings": hub.settings, "job_try": 1}
        with pytest.raises(Retry):
            await deliver_message(ctx, mid)
        assert await db.fetchval("SELECT status FROM messages WHERE id = $1", mid) == "queued"
        ctx["job_try"] = MAX_TRIES
        assert await deliver_message(ctx, mid) == "failed"
    row = await db.fetchrow("SELECT status, status_error FROM messages WHERE id = $1", mid)
    assert row["status"] == "failed" and row["status_error"] == "HTTP 503"
    assert len(receiver.calls) == 2
