"""Outbound email, end to end: agent replies/s delivered by the worker, hub vs floor.

    python -m bench.email_outbound [--replies 2000] [--quick]

Hub: ``omnihub worker`` (its own process; arq, 20 jobs at a time) runs
``deliver_message`` for N queued agent replies on email conversations: claim + Message-ID
row (one transaction), threading lookup, compose (``build_reply``), aiosmtplib to the
relay, status + ``message.status`` event through the outbox. The relay is an aiosmtpd
sink in this process that counts what arrives. Floor: a process that sends the same N
mails, composed beforehand, with aiosmtplib to the same sink, 20 at a time — what the
wire costs with these libraries, without the database, the queue or the events.

Rates are mails accepted by the sink per second, from the first job (or send) to the
last. Loss = replies - mails received (hub: also rows not 'sent'). Results go to
``bench/results/email_outbound.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.core import ROOT, SECRET_KEY, Child, embedded_stack, prepare_database, say

DEFAULT_OUT = ROOT / "bench" / "results" / "email_outbound.json"
CONCURRENCY = 20  # the worker's max_jobs (workers/main.py); the floor sends as many at once


class CountingSink:
    """aiosmtpd handler: counts accepted mails and remembers when the last arrived."""

    def __init__(self) -> None:
        self.count = 0
        self.first = 0.0
        self.last = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.perf_counter()
        self.first = self.first or now
        self.count += 1
        self.last = now
        return "250 2.0.0 OK"


async def start_sink(handler: CountingSink) -> tuple[Any, int]:
    from aiosmtpd.smtp import SMTP

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, decode_data=False, hostname="sink", loop=loop), "127.0.0.1", 0)
    return server, int(server.sockets[0].getsockname()[1])


async def create_replies(db_url: str, n: int) -> list[int]:
    """N email conversations with one inbound mail each and one queued agent reply."""
    import asyncpg

    conn = await asyncpg.connect(db_url)
    try:
        async with conn.transaction():
            agent = await conn.fetchval("SELECT id FROM agents ORDER BY id LIMIT 1")
            contacts = await conn.fetch(
                "INSERT INTO contacts (name, email) SELECT 'Customer ' || i,"
                " 'c' || i || '@example.net' FROM generate_series(1, $1) i RETURNING id, email",
                n)
            convs = await conn.fetch(
                "INSERT INTO conversations (inbox, channel, contact_id, contact_identity, subject)"
                " SELECT 'mail', 'email', id, 'email:' || email, 'Router blinks red'"
                " FROM unnest($1::bigint[], $2::text[]) AS t(id, email) RETURNING id",
                [r["id"] for r in contacts], [r["email"] for r in contacts])
            ids = [r["id"] for r in convs]
            await conn.execute(
                "INSERT INTO email_message_ids (inbox, message_id, conversation_id, direction)"
                " SELECT 'mail', '<in' || c || '@example.net>', c, 'in' FROM unnest($1::bigint[]) c",
                ids)
            rows = await conn.fetch(
                "INSERT INTO messages (conversation_id, channel, channel_account, provider_id,"
                " direction, author_kind, author_name, agent_id, text, status)"
                " SELECT c, 'email', 'mail', 'agent:' || $2::bigint || ':bench-' || c, 'out',"
                " 'agent', 'Maya Schneider', $2::bigint, 'Please restart the router and wait two minutes.',"
                " 'queued' FROM unnest($1::bigint[]) c RETURNING id", ids, agent)
        return [r["id"] for r in rows]
    finally:
        await conn.close()


async def run_hub(stack: dict[str, Any], n: int, work: Path) -> dict[str, Any]:
    import asyncpg
    from arq.connections import ArqRedis
    from redis.asyncio import Redis

    from hub.config import settings_from_env
    from hub.jobs import DELIVER_MESSAGE, delivery_job_id

    handler = CountingSink()
    server, port = await start_sink(handler)
    ids = await create_replies(stack["db_url"], n)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIHUB_")}
    env.update(DATABASE_URL=stack["db_url"], REDIS_URL=stack["redis_url"],
               OMNIHUB_SECRET_KEY=SECRET_KEY, OMNIHUB_SMTP_RELAY_HOST="127.0.0.1",
               OMNIHUB_SMTP_RELAY_PORT=str(port), OMNIHUB_SMTP_RELAY_SECURITY="none",
               OMNIHUB_LOG_LEVEL="WARNING", PYTHONWARNINGS="ignore::DeprecationWarning")
    settings = settings_from_env(env)
    worker = Child("outbound-worker", [sys.executable, "-m", "web.cli", "worker"], env, work)
    redis = Redis.from_url(stack["redis_url"])
    arq = ArqRedis(connection_pool=redis.connection_pool)
    try:
        await asyncio.sleep(2.0)  # the worker is up and polling
        start = time.perf_counter()
        for mid in ids:
            await arq.enqueue_job(DELIVER_MESSAGE, mid, _job_id=delivery_job_id(settings, mid),
                                  _queue_name=settings.arq_queue)
        deadline = time.monotonic() + 300
        while handler.count < n and time.monotonic() < deadline and worker.alive():
            await asyncio.sleep(0.05)
        elapsed = (handler.last or time.perf_counter()) - start
        if handler.count < n:
            say(f"worker alive: {worker.alive()}; its log:\n{worker.log_tail()}")
        conn = await asyncpg.connect(stack["db_url"])
        try:
            await asyncio.sleep(1.0)  # the last status transactions commit
            sent = await conn.fetchval("SELECT count(*) FROM messages WHERE status = 'sent'"
                                       " AND id = ANY($1::bigint[])", ids)
        finally:
            await conn.close()
    finally:
        worker.stop()
        await redis.aclose()
        server.close()
    return {"replies": n, "received": handler.count, "rows_sent": sent,
            "seconds": round(elapsed, 3), "per_s": round(handler.count / elapsed, 1)}


async def floor_sender(port: int, n: int) -> None:
    """The floor's sending process: compose N replies first, then send them."""
    import aiosmtplib

    from channels.email.compose import Parent, build_reply

    mails = [build_reply(conversation_id=i, secret=SECRET_KEY, domain="demo.omnihub.test",
                         from_addr="support@demo.omnihub.test", from_name="Maya via Support",
                         to=[f"c{i}@example.net"], subject="Router blinks red",
                         text="Please restart the router and wait two minutes.",
                         parent=Parent(f"<in{i}@example.net>"))
             for i in range(n)]
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for m in mails:
        queue.put_nowait(m)

    async def one() -> None:
        while not queue.empty():
            mail = queue.get_nowait()
            await aiosmtplib.send(mail.message, sender=mail.envelope_from,
                                  recipients=list(mail.recipients), hostname="127.0.0.1",
                                  port=port, start_tls=False, timeout=60)

    await asyncio.gather(*(one() for _ in range(CONCURRENCY)))


async def run_floor(n: int, work: Path) -> dict[str, Any]:
    handler = CountingSink()
    server, port = await start_sink(handler)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sender = Child("outbound-floor", [sys.executable, "-m", "bench.email_outbound",
                                      "--floor-sender", str(port), str(n)], env, work)
    try:
        deadline = time.monotonic() + 300
        while sender.alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        sender.stop()
        server.close()
    # The sender composes first: count from the first mail received, as the hub counts
    # from its first job (which includes its own composing).
    elapsed = (handler.last - handler.first) if handler.count > 1 else 0.0
    return {"replies": n, "received": handler.count, "seconds": round(elapsed, 3),
            "per_s": round(handler.count / elapsed, 1) if elapsed else 0.0}


async def main_async(n: int, out: Path) -> int:
    from hub.config import settings_from_env

    with tempfile.TemporaryDirectory(prefix="omnihub-bench-mail-") as tmp:
        base = Path(tmp)
        with embedded_stack(base) as (pg, valkey):
            db_url = pg.url("omnihub")
            settings = settings_from_env({}, database_url=db_url, redis_url=valkey.url,
                                         secret_key=SECRET_KEY)
            await prepare_database(pg.url("postgres"), db_url, settings)
            stack = {"db_url": db_url, "redis_url": valkey.url}
            say(f"hub: {n} agent replies through omnihub worker → aiosmtplib → aiosmtpd ...")
            hub = await run_hub(stack, n, base)
            say(f"floor: {n} pre-composed mails, aiosmtplib → aiosmtpd, {CONCURRENCY} at once ...")
            floor = await run_floor(n, base)
    ratio = round(hub["per_s"] / floor["per_s"], 3) if floor["per_s"] else None
    report = {"hub": hub, "floor": floor, "hub_over_floor": ratio,
              "cpus": os.cpu_count(), "load_avg": os.getloadavg()}
    say("")
    say(f"  {'':8} {'mails/s':>9} {'received':>9} {'seconds':>8}")
    for name in ("hub", "floor"):
        r = report[name]
        say(f"  {name:8} {r['per_s']:>9} {r['received']:>9} {r['seconds']:>8}")
    say(f"  hub/floor {ratio}   (rows 'sent': {hub['rows_sent']} of {n}; "
        f"load avg {report['load_avg'][0]:.1f} on {report['cpus']} CPUs)")
    await asyncio.to_thread(write_report, out, report)
    ok = hub["received"] == n and hub["rows_sent"] == n and floor["received"] == n
    return 0 if ok else 1


def write_report(out: Path, report: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.email_outbound", description=__doc__)
    parser.add_argument("--replies", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="300 replies")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--floor-sender", nargs=2, metavar=("PORT", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.floor_sender:
        asyncio.run(floor_sender(int(args.floor_sender[0]), int(args.floor_sender[1])))
        return 0
    n = 300 if args.quick else args.replies
    return asyncio.run(main_async(n, args.out))


if __name__ == "__main__":
    sys.exit(main())
