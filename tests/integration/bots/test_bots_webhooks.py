"""Bot webhooks and the stuck-bot fallback against the live hub, a real arq worker and a
fake bot receiver over real HTTP on 127.0.0.1 (docs/bots.md "Webhooks", "Stuck bots").

The receiver answers from a script (status, headers) so the tests drive retries,
Retry-After, permanent refusals and exhaustion; every request it records is checked
against the documented signature algorithm, computed here from scratch."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
import pytest_asyncio
from arq.connections import ArqRedis
from arq.worker import create_worker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from examples.echo_bot import GREETING
from examples.webhook_bot import WebhookBot
from hub.config import Settings
from hub.outbox import Publisher
from tests.conftest import LiveHub
from tests.fixtures.bots import ADMIN, bot_ws, make_bot
from tests.fixtures.helpers import (
    agent_http,
    eventually,
    login,
    new_id,
    recv_json,
    recv_until,
    widget_ws,
)
from tests.fixtures.ports import ReservedPort, refused_port, running_uvicorn
from workers.bot_fallback import fallback_reason, sweep_stuck_bots
from workers.main import make_worker_settings


@pytest_asyncio.fixture
async def settings(settings: Settings) -> Settings:
    # Fast retries and a short grace so the tests run in seconds.
    return msgspec.structs.replace(settings, bot_webhook_retry_base_s=0.2,
                                   bot_webhook_max_attempts=3, bot_unreachable_grace_s=1.0)


@dataclass
class Seen:
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class FakeBot:
    """A bot's webhook endpoint: records each request, answers from ``script``."""

    reserved: ReservedPort = field(default_factory=ReservedPort)
    seen: list[Seen] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.reserved.base_url}/hook"

    async def hook(self, request: Request) -> Response:
        self.seen.append(Seen(dict(request.headers), await request.body(), time.monotonic()))
        if self.script:
            status, headers = self.script.pop(0)
            return JSONResponse({"scripted": status}, status_code=status, headers=headers)
        return JSONResponse({"ok": True})


@pytest_asyncio.fixture
async def fake_bot() -> AsyncIterator[FakeBot]:
    bot = FakeBot()
    async with running_uvicorn(Starlette(routes=[Route("/hook", bot.hook, methods=["POST"])]),
                               bot.reserved):
        yield bot


@pytest_asyncio.fixture
async def worker(hub: LiveHub) -> AsyncIterator[None]:
    """The real arq worker (our jobs, the bot events consumer), in this event loop;
    without crons: the tests run the sweeps themselves."""
    w = create_worker(make_worker_settings(hub.settings), handle_signals=False,
                      poll_delay=0.02, cron_jobs=[])
    task = asyncio.create_task(w.async_run())
    try:
        yield
    finally:
        await w.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def documented_signature_ok(headers: dict[str, str], body: bytes, secret: str) -> bool:
    """docs/bots.md, recomputed: t=<unix>,v1=hex(HMAC-SHA256(secret, "<t>." + body))."""
    parts = [p.split("=", 1) for p in headers["x-omnihub-signature"].split(",")]
    t = next(v for k, v in parts if k == "t")
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return abs(time.time() - int(t)) < 60 and any(
        hmac.compare_digest(mac, v) for k, v in parts if k == "v1")


async def say(hub: LiveHub, text: str, origin: str = "https://shop.example"):
    widget = await widget_ws(hub.ws_url, origin)
    await recv_json(widget)
    await widget.send(json.dumps({"type": "message", "client_id": new_id(), "text": text}))
    return widget


async def deliveries(db: asyncpg.Pool, bot_id: int) -> list[asyncpg.Record]:
    return await db.fetch("SELECT * FROM bot_deliveries WHERE bot_id = $1 ORDER BY stream_pos",
                          bot_id)


def sweep_ctx(db: asyncpg.Pool, redis: Any, settings: Settings) -> dict[str, Any]:
    return {"pool": db, "redis": ArqRedis(connection_pool=redis.connection_pool),
            "settings": settings, "publisher": Publisher(redis, settings)}


async def test_example_webhook_bot_round_trip(hub, db, worker):
    port = ReservedPort()
    bot_id, token, secret = await make_bot(hub, "Hooky",
                                           webhook_url=f"{port.base_url}/omnihub")
    example = WebhookBot(hub.base_url, token, secret, "sales")
    async with running_uvicorn(example.app, port):
        widget = await say(hub, "hello over webhooks")

        def bot_said(text):
            return lambda f: (f.get("type") == "event"
                              and f["event"]["type"] == "message.created"
                              and f["event"]["message"]["author"]["kind"] == "bot"
                              and text in f["event"]["message"]["text"])
        await recv_until(widget, bot_said(GREETING), timeout=20)
        await recv_until(widget, bot_said("You said: hello over webhooks"), timeout=20)
        await widget.send(json.dumps({"type": "message", "client_id": new_id(),
                                      "text": "an agent please"}))
        await recv_until(widget, bot_said("Connecting you"), timeout=20)

        async def handed():
            return await db.fetchrow("SELECT status, queue, attributes FROM work_items"
                                     " WHERE status = 'queued' AND bot_id = $1", bot_id)
        item = await eventually(handed, timeout=20)
        assert item["queue"] == "sales"
        assert json.loads(item["attributes"])["handoff_reason"].startswith("customer asked")
        # The hand-off itself reaches the bot as its last event for the conversation.
        rows = await eventually(lambda: _all_done(db, bot_id, 4), timeout=20)
        assert [(r["event_type"], r["held"]) for r in rows] == [
            ("workitem.created", True), ("message.created", True),
            ("message.created", True), ("workitem.updated", False)]
        assert {r["status"] for r in rows} == {"delivered"}
        # Admins read the log over REST.
        admin = await login(hub.base_url, ADMIN)
        async with agent_http(hub.base_url, admin) as client:
            log = (await client.get(f"/api/v1/bots/{bot_id}/deliveries")).json()["deliveries"]
        assert len(log) == 4 and {d["status"] for d in log} == {"delivered"}
        assert all(d["attempts"] == 1 and d["http_status"] == 200 for d in log)
        await widget.close()


async def _all_done(db, bot_id: int, n: int):
    rows = await deliveries(db, bot_id)
    if len(rows) == n and all(r["status"] in ("delivered", "failed") for r in rows):
        return rows
    return None


async def test_signed_retried_in_order_then_delivered(hub, db, worker, fake_bot):
    bot_id, _, secret = await make_bot(hub, "Retry", webhook_url=fake_bot.url)
    # A live socket: the stuck-bot rules are not what this test is about.
    sock = await bot_ws(hub, (await _rotate(hub, bot_id)))
    await recv_json(sock)
    fake_bot.script = [(503, {}), (429, {"Retry-After": "1"})]
    widget = await say(hub, "first")
    for text in ("second", "third"):
        await widget.send(json.dumps({"type": "message", "client_id": new_id(),
                                      "text": text}))
    rows = await eventually(lambda: _all_done(db, bot_id, 4), timeout=30)
    assert {r["status"] for r in rows} == {"delivered"}
    head = rows[0]
    assert (head["event_type"], head["attempts"], head["http_status"]) == (
        "workitem.created", 3, 200)
    assert all(r["attempts"] == 1 for r in rows[1:])
    # Three tries of the first delivery, same delivery id, then the rest in order.
    ids = [s.headers["x-omnihub-delivery"] for s in fake_bot.seen]
    assert ids[:3] == [str(head["delivery_id"])] * 3
    assert ids[3:] == [str(r["delivery_id"]) for r in rows[1:]]
    texts = [s.json["event"]["message"]["text"] for s in fake_bot.seen
             if s.json["type"] == "message.created"]
    assert texts == ["first", "second", "third"]
    for s in fake_bot.seen:
        assert documented_signature_ok(s.headers, s.body, secret)
        assert not documented_signature_ok(s.headers, s.body + b" ", secret)
        assert s.headers["x-omnihub-event"] == s.json["type"]
        assert s.json["id"] == s.headers["x-omnihub-delivery"]
        assert s.json["bot_id"] == bot_id
    await sock.close()
    await widget.close()


async def _rotate(hub, bot_id: int) -> str:
    admin = await login(hub.base_url, ADMIN)
    async with agent_http(hub.base_url, admin) as client:
        return (await client.post(f"/api/v1/bots/{bot_id}/token", json={})).json()["token"]


async def test_permanent_refusal_is_not_retried_and_the_sweep_hands_off(
        hub, db, redis, worker, fake_bot):
    bot_id, token, _ = await make_bot(hub, "Refused", webhook_url=fake_bot.url)
    fake_bot.script = [(400, {})]
    widget = await say(hub, "will you answer?")
    rows = await eventually(lambda: _all_done(db, bot_id, 2), timeout=20)
    first, second = rows
    assert (first["status"], first["attempts"], first["http_status"], first["last_error"]) == (
        "failed", 1, 400, "HTTP 400")
    # The next event of the conversation still went out (the line is not blocked).
    assert (second["status"], second["attempts"]) == ("delivered", 1)
    assert len(fake_bot.seen) == 2
    # The bot answered after the failure: it is alive, the sweep leaves it in charge.
    conv = first["conversation_id"]
    async with httpx.AsyncClient(base_url=hub.base_url) as client:
        r = await client.post(f"/api/v1/bot/conversations/{conv}/messages",
                              headers={"Authorization": f"Bearer {token}"},
                              json={"text": "I am here", "client_id": "alive-1"})
        assert r.status_code == 201
    ctx = sweep_ctx(db, redis, hub.settings)
    assert await sweep_stuck_bots(ctx) == 0
    # Another refused delivery, no reply since, no socket: humans get it, once.
    fake_bot.script = [(404, {})]
    await widget.send(json.dumps({"type": "message", "client_id": new_id(),
                                  "text": "hello again?"}))
    await eventually(lambda: _all_done(db, bot_id, 3), timeout=20)
    assert len(fake_bot.seen) == 3
    assert await sweep_stuck_bots(ctx) == 1
    assert await sweep_stuck_bots(ctx) == 0
    item = await db.fetchrow("SELECT status, attributes FROM work_items WHERE bot_id = $1",
                             bot_id)
    assert item["status"] == "queued"
    assert (json.loads(item["attributes"])["handoff_reason"]
            == "bot did not respond (webhook delivery failed)")
    await widget.close()


async def test_exhausted_retries_end_failed(hub, db, worker, fake_bot):
    bot_id, _, _ = await make_bot(hub, "Down", webhook_url=fake_bot.url)
    fake_bot.script = [(500, {})] * 10
    widget = await say(hub, "hello?")
    rows = await eventually(lambda: _all_done(db, bot_id, 2), timeout=30)
    head = rows[0]
    assert (head["status"], head["attempts"], head["http_status"]) == ("failed", 3, 500)
    assert head["last_error"] == "HTTP 500 (gave up after 3 attempts)"
    assert [s.headers["x-omnihub-delivery"] for s in fake_bot.seen[:3]] == [
        str(head["delivery_id"])] * 3
    # A receiver that is not even listening: connection errors are retried, then fail.
    with refused_port() as dead:
        admin = await login(hub.base_url, ADMIN)
        async with agent_http(hub.base_url, admin) as client:
            r = await client.patch(f"/api/v1/bots/{bot_id}",
                                   json={"webhook_url": f"http://127.0.0.1:{dead}/x"})
            assert r.status_code == 200
            r = await client.get(f"/api/v1/bots/{bot_id}/deliveries?status=failed")
            assert len(r.json()["deliveries"]) >= 1
        await widget.send(json.dumps({"type": "message", "client_id": new_id(), "text": "hi?"}))

        async def conn_failed():
            rows = await db.fetch("SELECT * FROM bot_deliveries WHERE bot_id = $1"
                                  " AND last_error LIKE 'ConnectError%' AND status = 'failed'",
                                  bot_id)
            return rows or None
        (row,) = await eventually(conn_failed, timeout=30)
        assert row["attempts"] == 3 and row["http_status"] is None
    await widget.close()


async def test_secret_rotation_signs_with_both_during_grace_and_disable_stops_posts(
        hub, db, worker, fake_bot):
    bot_id, _, old_secret = await make_bot(hub, "Signer", webhook_url=fake_bot.url)
    admin = await login(hub.base_url, ADMIN)
    async with agent_http(hub.base_url, admin) as client:
        r = await client.post(f"/api/v1/bots/{bot_id}/webhook-secret", json={"grace_s": 600})
        assert r.status_code == 200 and r.json()["old_secret_valid_until"]
        new_secret = r.json()["webhook_secret"]
        widget = await say(hub, "sign me")
        await eventually(lambda: _all_done(db, bot_id, 2), timeout=20)
        for s in fake_bot.seen:
            assert s.headers["x-omnihub-signature"].count("v1=") == 2
            assert documented_signature_ok(s.headers, s.body, new_secret)
            assert documented_signature_ok(s.headers, s.body, old_secret)
        # No grace: only the newest secret signs.
        r = await client.post(f"/api/v1/bots/{bot_id}/webhook-secret", json={})
        newest = r.json()["webhook_secret"]
        await widget.send(json.dumps({"type": "message", "client_id": new_id(),
                                      "text": "again"}))
        await eventually(lambda: _all_done(db, bot_id, 3), timeout=20)
        last = fake_bot.seen[-1]
        assert last.headers["x-omnihub-signature"].count("v1=") == 1
        assert documented_signature_ok(last.headers, last.body, newest)
        assert not documented_signature_ok(last.headers, last.body, new_secret)
        # Disabled: the conversation goes to humans and nothing more is posted.
        r = await client.post(f"/api/v1/bots/{bot_id}/disable", json={})
        assert r.json()["handed_off"] == 1
        posted = len(fake_bot.seen)
        await widget.send(json.dumps({"type": "message", "client_id": new_id(),
                                      "text": "after disable"}))
        await recv_until(widget, lambda f: f.get("type") == "event"
                         and f["event"].get("message", {}).get("text") == "after disable")
    await asyncio.sleep(1.0)  # give a wrong delivery the chance to show up
    assert len(fake_bot.seen) == posted
    assert await db.fetchval("SELECT count(*) FROM bot_deliveries WHERE bot_id = $1 AND"
                             " status IN ('pending', 'sending')", bot_id) == 0
    await widget.close()


async def test_stuck_bot_is_handed_off_once_with_two_sweepers(hub, db, redis, settings):
    # A bot with a live socket that never answers; handoff_after_s = 1.
    bot_id, token, _ = await make_bot(hub, "Mute")
    admin = await login(hub.base_url, ADMIN)
    async with agent_http(hub.base_url, admin) as client:
        r = await client.patch(f"/api/v1/bots/{bot_id}", json={"handoff_after_s": 1})
        assert r.status_code == 200 and r.json()["bot"]["handoff_after_s"] == 1
    sock = await bot_ws(hub, token)
    await recv_json(sock)
    widget = await say(hub, "is anybody there?")
    await recv_until(sock, lambda f: f.get("type") == "event"
                     and f["event"]["type"] == "message.created")
    # Two workers' sweeps, each with its own connections, racing every pass.
    pools = [await asyncpg.create_pool(settings.database_url, min_size=1, max_size=3)
             for _ in range(2)]
    try:
        ctxs = [sweep_ctx(p, redis, settings) for p in pools]

        async def swept():
            got = await asyncio.gather(*(sweep_stuck_bots(c) for c in ctxs))
            return got if sum(got) else None
        assert sorted(await eventually(swept, timeout=15)) == [0, 1]
        assert await asyncio.gather(*(sweep_stuck_bots(c) for c in ctxs)) == [0, 0]
    finally:
        for p in pools:
            await p.close()
    released = await recv_until(sock, lambda f: f.get("type") == "event"
                                and f["event"]["type"] == "workitem.updated")
    assert released["event"]["work_item"]["status"] == "queued"
    item = await db.fetchrow("SELECT status, queue, attributes FROM work_items"
                             " WHERE bot_id = $1", bot_id)
    assert (item["status"], item["queue"]) == ("queued", "support")
    reason = json.loads(item["attributes"])["handoff_reason"]
    assert reason == "bot did not respond (no reply within 1 s)"
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'bot.handoff'"
                             " AND details->>'by' = 'sweep'") == 1
    notes = await db.fetch("SELECT text FROM messages WHERE author_kind = 'system'")
    assert [n["text"] for n in notes] == [f"Mute handed off to support: {reason}"]
    await sock.close()
    await widget.close()


async def test_a_bot_with_no_socket_and_no_webhook_is_bypassed(hub, db, redis):
    bot_id, _, _ = await make_bot(hub, "Ghost")
    widget = await say(hub, "hello ghost")

    async def handed():
        n = await sweep_stuck_bots(sweep_ctx(db, redis, hub.settings))
        return n or None
    assert await eventually(handed, timeout=15) == 1
    item = await db.fetchrow("SELECT status, attributes FROM work_items WHERE bot_id = $1",
                             bot_id)
    assert item["status"] == "queued"
    assert (json.loads(item["attributes"])["handoff_reason"]
            == "bot did not respond (no live socket or webhook)")
    await widget.close()


@pytest.mark.parametrize(("row", "live", "expected"), [
    ({"active": False}, True, "bot disabled"),
    ({"hook_failed": True}, False, "bot did not respond (webhook delivery failed)"),
    ({"hook_failed": True}, True, None),  # the socket got it
    ({"has_hook": False, "held_s": 5.0}, False,
     "bot did not respond (no live socket or webhook)"),
    ({"has_hook": False, "held_s": 0.5}, False, None),  # within the grace period
    ({"has_hook": True, "held_s": 500.0}, False, None),  # the webhook works
    ({"waiting_s": 121.0}, True, "bot did not respond (no reply within 120 s)"),
    ({"waiting_s": 119.0}, True, None),
    ({"waiting_s": 5000.0, "handoff_after_s": 0}, True, None),  # 0 = never
    ({"waiting_s": None}, True, None),  # the bot answered everything
])
def test_fallback_rules(row, live, expected):
    base = {"active": True, "hook_failed": False, "has_hook": True, "held_s": 0.0,
            "handoff_after_s": 120, "waiting_s": None}
    assert fallback_reason({**base, **row}, live, grace_s=1.0) == expected
