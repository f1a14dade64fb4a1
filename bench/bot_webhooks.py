"""Bot webhooks, end to end: signed deliveries/s from committed events to a bot's
endpoint, hub vs floor.

    python -m bench.bot_webhooks [--conversations 200] [--messages 10] [--quick]

Hub: ``omnihub worker`` (its own process) reads CxM ``message.created`` events of
conversations held by a webhook bot from the events stream (its ``bot-webhooks``
consumer group), records a ``bot_deliveries`` row each, and its jobs claim them in
order per conversation, sign them (HMAC-SHA256) and POST them with httpx. Floor: a
process that POSTs the same number of signed bodies with httpx, 20 at a time, to the
same endpoint — the wire with these libraries, without the stream, the rows or the
queue. The endpoint (uvicorn + starlette, in this process) counts what arrives, checks
each signature, and counts deliveries of a conversation that arrive out of order.

Rates are deliveries accepted by the endpoint per second, first to last. Results go to
``bench/results/bot_webhooks.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.core import ROOT, SECRET_KEY, Child, embedded_stack, prepare_database, say

DEFAULT_OUT = ROOT / "bench" / "results" / "bot_webhooks.json"
CONCURRENCY = 20  # the worker's max_jobs (workers/main.py)
BOT_SECRET = "ohs_bench-secret"


class Endpoint:
    """The bot's webhook: counts, verifies, checks per-conversation order."""

    def __init__(self) -> None:
        self.count = 0
        self.bad_signatures = 0
        self.out_of_order = 0
        self.duplicates = 0
        self.first = 0.0
        self.last = 0.0
        self._last_seen: dict[int, int] = {}
        self._ids: set[str] = set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        headers = dict(scope["headers"])
        now = time.perf_counter()
        self.first = self.first or now
        self.last = now
        self.count += 1
        sig = headers.get(b"x-omnihub-signature", b"").decode()
        parts = dict(p.split("=", 1) for p in sig.split(",") if "=" in p)
        mac = hmac.new(BOT_SECRET.encode(), f"{parts.get('t', '')}.".encode() + body,
                       hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, parts.get("v1", "")):
            self.bad_signatures += 1
        doc = json.loads(body)
        if doc["id"] in self._ids:
            self.duplicates += 1
        self._ids.add(doc["id"])
        if "event" in doc and doc["event"].get("type") == "message.created":
            conv, n = doc["conversation_id"], int(doc["event"]["message"]["text"])
            if n < self._last_seen.get(conv, -1):
                self.out_of_order += 1
            self._last_seen[conv] = max(n, self._last_seen.get(conv, -1))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"ok":true}'})


async def serve(endpoint: Endpoint) -> tuple[Any, asyncio.Task[None], int]:
    import uvicorn

    from web.embedded import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(endpoint, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off",
                                           http="httptools"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    return server, task, port


async def held_conversations(db_url: str, url: str, n: int) -> tuple[int, list[int]]:
    """A webhook bot holding N chat conversations."""
    import asyncpg

    conn = await asyncpg.connect(db_url)
    try:
        async with conn.transaction():
            bot = await conn.fetchval(
                "INSERT INTO bots (name, token_hash, webhook_url, webhook_secret)"
                " VALUES ('Bench', 'bench-hash', $1, $2) RETURNING id", url, BOT_SECRET)
            contacts = await conn.fetch(
                "INSERT INTO contacts (name) SELECT 'Visitor ' || i"
                " FROM generate_series(1, $1) i RETURNING id", n)
            convs = await conn.fetch(
                "INSERT INTO conversations (inbox, channel, contact_id, contact_identity)"
                " SELECT 'web', 'chat', id, 'visitor:bench-' || id FROM unnest($1::bigint[]) id"
                " RETURNING id", [r["id"] for r in contacts])
            ids = [r["id"] for r in convs]
            await conn.execute(
                "INSERT INTO work_items (conversation_id, queue, channel, status, bot_id)"
                " SELECT c, 'support', 'chat', 'bot', $2 FROM unnest($1::bigint[]) c", ids, bot)
        return bot, ids
    finally:
        await conn.close()


def events(conv_ids: list[int], m: int) -> list[Any]:
    from datetime import UTC, datetime

    from hub.schema import Author, Message, MessageCreated

    now = datetime.now(UTC)
    out = []
    mid = 1
    for i in range(m):  # interleaved: conversation 1 msg 0, conversation 2 msg 0, ...
        for conv in conv_ids:
            out.append(MessageCreated(inbox="web", message=Message(
                id=mid, conversation_id=conv, direction="in",
                author=Author(kind="contact", name="Visitor"), text=str(i), channel="chat",
                provider_id=f"bench-{mid}", created_at=now)))
            mid += 1
    return out


async def run_hub(stack: dict[str, Any], c: int, m: int, work: Path) -> dict[str, Any]:
    import asyncpg
    from redis.asyncio import Redis

    from hub.config import settings_from_env
    from hub.outbox import Publisher
    from hub.schema import encode

    endpoint = Endpoint()
    server, task, port = await serve(endpoint)
    _, convs = await held_conversations(stack["db_url"], f"http://127.0.0.1:{port}/hook", c)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIHUB_")}
    env.update(DATABASE_URL=stack["db_url"], REDIS_URL=stack["redis_url"],
               OMNIHUB_SECRET_KEY=SECRET_KEY, OMNIHUB_LOG_LEVEL="WARNING",
               PYTHONWARNINGS="ignore::DeprecationWarning")
    settings = settings_from_env(env)
    worker = Child("botwh-worker", [sys.executable, "-m", "web.cli", "worker"], env, work)
    redis = Redis.from_url(stack["redis_url"])
    total = c * m
    try:
        await asyncio.sleep(3.0)  # the worker is up and its consumer group exists
        publisher = Publisher(redis, settings)
        batch = events(convs, m)
        start = time.perf_counter()
        for i in range(0, len(batch), 500):
            await publisher.publish([(None, encode(e), e) for e in batch[i:i + 500]])
        deadline = time.monotonic() + 600
        while endpoint.count < total and time.monotonic() < deadline and worker.alive():
            await asyncio.sleep(0.05)
        elapsed = (endpoint.last or time.perf_counter()) - start
        if endpoint.count < total:
            say(f"worker alive: {worker.alive()}; its log:\n{worker.log_tail()}")
        conn = await asyncpg.connect(stack["db_url"])
        try:
            await asyncio.sleep(1.0)
            delivered = await conn.fetchval(
                "SELECT count(*) FROM bot_deliveries WHERE status = 'delivered'")
        finally:
            await conn.close()
    finally:
        worker.stop()
        await redis.aclose()
        server.should_exit = True
        await task
    return {"deliveries": total, "received": endpoint.count, "rows_delivered": delivered,
            "bad_signatures": endpoint.bad_signatures, "out_of_order": endpoint.out_of_order,
            "duplicates": endpoint.duplicates, "seconds": round(elapsed, 3),
            "per_s": round(endpoint.count / elapsed, 1) if elapsed else 0.0}


async def floor_sender(port: int, c: int, m: int) -> None:
    """POST CxM signed bodies, CONCURRENCY at a time, with httpx."""
    import httpx

    bodies = [json.dumps({"id": f"f-{conv}-{i}", "type": "message.created",
                          "conversation_id": conv,
                          "event": {"type": "message.created",
                                    "message": {"text": str(i)}}}).encode()
              for i in range(m) for conv in range(c)]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)
    url = f"http://127.0.0.1:{port}/hook"
    async with httpx.AsyncClient(timeout=10) as client:
        async def one() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                t = int(time.time())
                mac = hmac.new(BOT_SECRET.encode(), f"{t}.".encode() + body,
                               hashlib.sha256).hexdigest()
                await client.post(url, content=body, headers={
                    "Content-Type": "application/json", "X-Omnihub-Signature": f"t={t},v1={mac}"})
        await asyncio.gather(*(one() for _ in range(CONCURRENCY)))


async def run_floor(c: int, m: int, work: Path) -> dict[str, Any]:
    endpoint = Endpoint()
    server, task, port = await serve(endpoint)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sender = Child("botwh-floor", [sys.executable, "-m", "bench.bot_webhooks",
                                   "--floor-sender", str(port), str(c), str(m)], env, work)
    try:
        deadline = time.monotonic() + 600
        while sender.alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        sender.stop()
        server.should_exit = True
        await task
    elapsed = (endpoint.last - endpoint.first) if endpoint.count > 1 else 0.0
    return {"deliveries": c * m, "received": endpoint.count,
            "bad_signatures": endpoint.bad_signatures, "seconds": round(elapsed, 3),
            "per_s": round(endpoint.count / elapsed, 1) if elapsed else 0.0}


async def main_async(c: int, m: int, out: Path) -> int:
    from hub.config import settings_from_env

    with tempfile.TemporaryDirectory(prefix="omnihub-bench-botwh-") as tmp:
        base = Path(tmp)
        with embedded_stack(base) as (pg, valkey):
            db_url = pg.url("omnihub")
            settings = settings_from_env({}, database_url=db_url, redis_url=valkey.url,
                                         secret_key=SECRET_KEY)
            await prepare_database(pg.url("postgres"), db_url, settings)
            stack = {"db_url": db_url, "redis_url": valkey.url}
            say(f"hub: {c} conversations x {m} events → omnihub worker → signed POSTs ...")
            hub = await run_hub(stack, c, m, base)
            say(f"floor: {c * m} signed POSTs with httpx, {CONCURRENCY} at once ...")
            floor = await run_floor(c, m, base)
    ratio = round(hub["per_s"] / floor["per_s"], 3) if floor["per_s"] else None
    report = {"hub": hub, "floor": floor, "hub_over_floor": ratio,
              "cpus": os.cpu_count(), "load_avg": os.getloadavg()}
    say("")
    say(f"  {'':8} {'posts/s':>9} {'received':>9} {'seconds':>8}")
    for name in ("hub", "floor"):
        r = report[name]
        say(f"  {name:8} {r['per_s']:>9} {r['received']:>9} {r['seconds']:>8}")
    say(f"  hub/floor {ratio}   (rows delivered {hub['rows_delivered']} of {c * m}; "
        f"out of order {hub['out_of_order']}, duplicates {hub['duplicates']}, bad signatures"
        f" {hub['bad_signatures']}; load avg {report['load_avg'][0]:.1f} on"
        f" {report['cpus']} CPUs)")
    await asyncio.to_thread(write_report, out, report)
    ok = (hub["received"] == c * m and hub["rows_delivered"] == c * m
          and hub["bad_signatures"] == 0 and floor["received"] == c * m)
    return 0 if ok else 1


def write_report(out: Path, report: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.bot_webhooks", description=__doc__)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="50 conversations x 4 events")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--floor-sender", nargs=3, metavar=("PORT", "C", "M"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.floor_sender:
        port, c, m = (int(x) for x in args.floor_sender)
        asyncio.run(floor_sender(port, c, m))
        return 0
    c, m = (50, 4) if args.quick else (args.conversations, args.messages)
    return asyncio.run(main_async(c, m, args.out))


if __name__ == "__main__":
    sys.exit(main())
