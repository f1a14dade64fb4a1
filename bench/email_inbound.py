"""Inbound email, end to end: emails/s parsed and stored, hub vs floor, loss counted.

    python -m bench.email_inbound [--mails 3000] [--connections 8] [--quick]

Hub: ``omnihub mail`` (aiosmtpd receiver → parse + sanitise + trim + blob store → XADD)
and ``omnihub pipeline`` (threading, cases, acks → Postgres), each its own process, on
an embedded Postgres + Valkey (AOF everysec). Floor: the same aiosmtpd receiver class and
``IngestHandler`` with a sink that XADDs the raw bytes and nothing else (no parsing, no
blobs, no Postgres) — what SMTP → Valkey costs with these libraries.

The driver (this process) keeps ``--connections`` aiosmtplib sessions open and sends a
fixed corpus as fast as the server answers: 70 % new mails (a 2.7 kB multipart reply
with a quoted part, an HTML alternative and a remote image), 30 % replies that
reference an earlier mail of the same sender. Rates:

- *accepted/s*: mails answered ``250`` per second of sending;
- *stored/s* (hub): mails in ``messages`` per second from the first send until the
  last row is committed; *on stream/s* (floor): entries on the stream likewise.

Loss = sent - stored (hub) or sent - stream entries (floor), after a 60 s drain. The
ratio hub/floor is printed; figures go to ``bench/results/email_inbound.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from bench.core import ROOT, SECRET_KEY, Child, embedded_stack, prepare_database, say

DEFAULT_OUT = ROOT / "bench" / "results" / "email_inbound.json"
STREAM = "bench:mailfloor"
RECIPIENT = "support@bench.test"
DRAIN_S = 60.0


# ---- the corpus -------------------------------------------------------------------------


def corpus(n: int, senders: int = 200, seed: int = 7) -> list[tuple[str, bytes]]:
    """(envelope sender, raw bytes) — deterministic."""
    rnd = random.Random(seed)
    out: list[tuple[str, bytes]] = []
    last_of: dict[int, str] = {}
    for i in range(n):
        s = rnd.randrange(senders)
        sender = f"customer{s}@example.net"
        msg = EmailMessage()
        msg["From"] = f"Customer {s} <{sender}>"
        msg["To"] = RECIPIENT
        msg["Date"] = "Mon, 03 Feb 2025 10:00:00 +0100"
        mid = f"<bench-{i}-{rnd.getrandbits(48):x}@example.net>"
        msg["Message-ID"] = mid
        parent = last_of.get(s)
        if parent and rnd.random() < 0.3:
            msg["Subject"] = f"Re: Problem {s}"
            msg["In-Reply-To"] = parent
            msg["References"] = parent
        else:
            msg["Subject"] = f"Problem {s} #{i}"
        last_of[s] = mid
        quote = "\n".join(f"> line {k} of the earlier answer about the router settings"
                          for k in range(40))
        msg.set_content(f"Hello,\n\nmy internet drops every evening (case {i}).\n"
                        f"The router LED blinks red.\n\nRegards\nCustomer {s}\n\n"
                        f"On Mon, 3 Feb 2025 at 09:00, Support <{RECIPIENT}> wrote:\n{quote}\n")
        msg.add_alternative(f"<p>Hello,</p><p>my internet drops every evening (case {i}).</p>"
                            "<p>The router LED <b>blinks red</b>.</p>"
                            "<img src=\"https://tracker.example/p.gif\">"
                            f"<blockquote>{quote}</blockquote>", subtype="html")
        out.append((sender, msg.as_bytes()))
    return out


# ---- the floor server (a child process) -------------------------------------------------


class FloorSink:
    """Raw bytes → one XADD (concurrent deliveries share a pipelined round trip)."""

    def __init__(self, redis: Any, stream: str) -> None:
        self.redis, self.stream = redis, stream

    async def deliver(self, raw: bytes, inboxes: Sequence[str], *,
                      envelope_from: str | None = None, envelope_to: Sequence[str] = (),
                      attributes: Mapping[str, str] | None = None) -> list[str]:
        entry = await self.redis.xadd(self.stream, {"raw": raw, "inbox": inboxes[0]})
        return [entry.decode() if isinstance(entry, bytes) else str(entry)]


async def serve_floor(port: int, redis_url: str) -> None:
    import signal

    import redis.asyncio as aioredis

    from channels.email.smtp_receiver import IngestHandler, RecipientMap, SmtpReceiver

    redis = aioredis.from_url(redis_url, decode_responses=False)  # type: ignore[no-untyped-call]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    handler = IngestHandler(FloorSink(redis, STREAM), RecipientMap({RECIPIENT: "mail"}))
    async with SmtpReceiver(handler, "127.0.0.1", port, max_message_bytes=30 << 20):
        await stop.wait()
    await redis.aclose()


# ---- the driver -------------------------------------------------------------------------


async def wait_port(port: int, children: Sequence[Child], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        for c in children:
            if not c.alive():
                raise RuntimeError(f"{c.name} exited:\n{c.log_tail()}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on {port}") from None
            await asyncio.sleep(0.1)


async def send_all(port: int, mails: list[tuple[str, bytes]], connections: int) -> dict[str, Any]:
    import aiosmtplib

    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for m in mails:
        queue.put_nowait(m)
    accepted = 0
    refused = 0

    async def session() -> None:
        nonlocal accepted, refused
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=120)
        async with client:
            while True:
                try:
                    sender, raw = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                try:
                    errors, _ = await client.sendmail(sender, [RECIPIENT], raw)
                    accepted += 0 if errors else 1
                    refused += 1 if errors else 0
                except aiosmtplib.SMTPException:
                    refused += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(session() for _ in range(connections)))
    return {"sent": len(mails), "accepted": accepted, "refused": refused,
            "send_s": time.perf_counter() - t0, "t0": t0}


async def until(count: Any, target: int, t0: float) -> tuple[int, float]:
    """Poll ``count()`` until it reaches ``target`` (or the drain times out)."""
    deadline = time.perf_counter() + DRAIN_S
    n = 0
    while time.perf_counter() < deadline:
        n = await count()
        if n >= target:
            break
        await asyncio.sleep(0.05)
    return n, time.perf_counter() - t0


def env_for(pg_url: str, redis_url: str, smtp_port: int, blob_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIHUB_")}
    env.update(DATABASE_URL=pg_url, REDIS_URL=redis_url, OMNIHUB_SECRET_KEY=SECRET_KEY,
               OMNIHUB_LOG_LEVEL="WARNING", OMNIHUB_SMTP_LISTEN=f"127.0.0.1:{smtp_port}",
               OMNIHUB_SMTP_RECIPIENTS=f"{RECIPIENT}=mail", OMNIHUB_MAIL_BLOB_DIR=str(blob_dir),
               OMNIHUB_EMAIL_DOMAIN="bench.test", PYTHONWARNINGS="ignore::DeprecationWarning")
    return env


async def run_hub(base: Path, pg: Any, valkey: Any, mails: list[tuple[str, bytes]],
                  connections: int) -> dict[str, Any]:
    import asyncpg

    from web.embedded import free_port

    port = free_port()
    env = env_for(pg.url("omnihub"), valkey.url, port, base / "blobs")
    py = sys.executable
    children = [Child("mail", [py, "-m", "web.cli", "mail"], env, base),
                Child("pipeline", [py, "-m", "web.cli", "pipeline"], env, base)]
    db = await asyncpg.connect(pg.url("omnihub"))
    try:
        await wait_port(port, children)
        sent = await send_all(port, mails, connections)
        stored, elapsed = await until(
            lambda: db.fetchval("SELECT count(*) FROM messages WHERE channel = 'email'"),
            len(mails), sent["t0"])
        facts = await db.fetchrow(
            "SELECT (SELECT count(*) FROM conversations WHERE channel = 'email') AS cases,"
            " (SELECT count(*) FROM email_acks) AS acks,"
            " (SELECT count(*) FROM email_message_ids) AS ids,"
            " (SELECT count(DISTINCT provider_id) FROM messages) AS distinct_ids")
        for c in children:
            if not c.alive():
                raise RuntimeError(f"{c.name} died:\n{c.log_tail()}")
    finally:
        await db.close()
        for c in children:
            c.stop()
    sent.pop("t0")
    return {**sent, "stored": stored, "lost": len(mails) - stored,
            "duplicates": stored - facts["distinct_ids"], "elapsed_s": elapsed,
            "accepted_per_s": sent["accepted"] / sent["send_s"],
            "stored_per_s": stored / elapsed, "cases": facts["cases"], "acks": facts["acks"],
            "message_id_rows": facts["ids"]}


async def run_floor(base: Path, valkey: Any, mails: list[tuple[str, bytes]],
                    connections: int) -> dict[str, Any]:
    import redis.asyncio as aioredis

    from web.embedded import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIHUB_")}
    child = Child("floor", [sys.executable, "-m", "bench.email_inbound", "--serve-floor",
                            str(port), valkey.url], env, base)
    redis = aioredis.from_url(valkey.url)  # type: ignore[no-untyped-call]
    try:
        await redis.delete(STREAM)
        await wait_port(port, [child])
        sent = await send_all(port, mails, connections)
        on_stream, elapsed = await until(lambda: redis.xlen(STREAM), len(mails), sent["t0"])
    finally:
        await redis.aclose()
        child.stop()
    sent.pop("t0")
    return {**sent, "on_stream": on_stream, "lost": len(mails) - on_stream,
            "elapsed_s": elapsed, "accepted_per_s": sent["accepted"] / sent["send_s"],
            "stored_per_s": on_stream / elapsed}


async def bench(n: int, connections: int) -> dict[str, Any]:
    mails = corpus(n)
    size = sum(len(raw) for _, raw in mails) / len(mails)
    say(f"email inbound: {n} mails (mean {size / 1024:.1f} kB), {connections} SMTP sessions,"
        f" load average before: {os.getloadavg()[0]:.2f}")
    base = Path(tempfile.mkdtemp(prefix="omnihub-bench-mail-"))
    with embedded_stack(base) as (pg, valkey):
        from hub.config import settings_from_env

        await prepare_database(pg.url("postgres"), pg.url("omnihub"),
                               settings_from_env({}, secret_key=SECRET_KEY))
        floor = await run_floor(base, valkey, mails, connections)
        say(f"floor: {floor['accepted_per_s']:.0f} accepted/s,"
            f" {floor['stored_per_s']:.0f} on stream/s, lost {floor['lost']}")
        hub = await run_hub(base, pg, valkey, mails, connections)
        say(f"hub:   {hub['accepted_per_s']:.0f} accepted/s, {hub['stored_per_s']:.0f} stored/s,"
            f" lost {hub['lost']}, duplicates {hub['duplicates']},"
            f" {hub['cases']} cases, {hub['acks']} ack rows")
    ratio = {"accepted": hub["accepted_per_s"] / floor["accepted_per_s"],
             "stored": hub["stored_per_s"] / floor["stored_per_s"]}
    say(f"ratio hub/floor: accepted {ratio['accepted']:.2f}, end to end {ratio['stored']:.2f}")
    report = {"mails": n, "connections": connections, "mean_bytes": round(size),
              "cpus": os.cpu_count(), "loadavg_after": os.getloadavg()[0],
              "hub": hub, "floor": floor, "ratio": ratio,
              "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with contextlib.suppress(OSError):
        import shutil
        shutil.rmtree(base, ignore_errors=True)
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mails", type=int, default=3000)
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--quick", action="store_true", help="600 mails")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--serve-floor", nargs=2, metavar=("PORT", "REDIS_URL"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve_floor:
        asyncio.run(serve_floor(int(args.serve_floor[0]), args.serve_floor[1]))
        return 0
    n = 600 if args.quick else args.mails
    out = args.out or (DEFAULT_OUT.with_name("email_inbound-quick.json") if args.quick
                       else DEFAULT_OUT)
    report = asyncio.run(bench(n, args.connections))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=float) + "\n")
    say(f"wrote {out}")
    return 0 if report["hub"]["lost"] == 0 and report["floor"]["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
