"""Messaging webhook benchmark. ``make bench-webhooks`` (~1-2 min).

1. **Signed webhooks/s accepted, end to end.** ``omnihub web`` + ``omnihub pipeline`` on
   embedded Postgres + Valkey. The driver (raw HTTP/1.1 keep-alive connections, requests
   prepared in advance) posts N distinct signed webhooks per provider (Twilio SMS form,
   WhatsApp Cloud JSON, Telegram update) and measures (a) 200s per second at the edge:
   verified, parsed, on the ingest stream; (b) stored per second: until the last of the N
   rows is in Postgres. **Floor**: Starlette on uvicorn that XADDs the raw body (coalesced)
   and answers 200, with no verification and no parsing (bench/webhooks_floor.py), driven
   identically: the hub's price for verifying, parsing and (b) storing.
2. **Duplicate suppression under 5x concurrent retries.** K distinct Twilio messages, each
   sent 5 times at once on 5 different connections; then the rows are counted: exactly K.

    python -m bench.webhooks [--messages 3000] [--connections 32] [--dupes 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "webhooks.json"
SID_DIGITS = 32


def twilio_requests(port: int, creds: dict[str, Any], n: int, tag: str
                    ) -> list[tuple[str, bytes, dict[str, str]]]:
    from channels.twilio.signature import compute_signature

    c = creds["twilio-sms"]
    url = f"http://127.0.0.1:{port}/webhooks/twilio/sms"
    out = []
    for i in range(n):
        sid = "SM" + secrets.token_hex(SID_DIGITS // 2)
        params = [("MessageSid", sid), ("SmsMessageSid", sid), ("AccountSid", c["account_sid"]),
                  ("From", f"+1202555{i % 10000:04d}"), ("To", c["external_id"]),
                  ("Body", f"bench {tag} {i}: my internet is down"), ("NumMedia", "0"),
                  ("NumSegments", "1"), ("SmsStatus", "received"), ("ApiVersion", "2010-04-01")]
        out.append(("/webhooks/twilio/sms", urlencode(params).encode(), {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": compute_signature(c["auth_token"], url, params)}))
    return out


def whatsapp_requests(creds: dict[str, Any], n: int, tag: str
                      ) -> list[tuple[str, bytes, dict[str, str]]]:
    from channels.meta.signature import compute_signature

    c = creds["whatsapp"]
    out = []
    for i in range(n):
        wa = f"1202556{i % 10000:04d}"
        body = json.dumps({"object": "whatsapp_business_account", "entry": [{
            "id": "102290129340398", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881",
                             "phone_number_id": c["external_id"]},
                "contacts": [{"profile": {"name": f"Bench {i}"}, "wa_id": wa}],
                "messages": [{"from": wa, "id": f"wamid.{tag}{i}{secrets.token_hex(8)}",
                              "timestamp": "1749416383", "type": "text",
                              "text": {"body": f"bench {tag} {i}"}}]}}]}]}).encode()
        out.append(("/webhooks/meta", body, {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": compute_signature(c["app_secret"], body)}))
    return out


def telegram_requests(creds: dict[str, Any], n: int, base_id: int
                      ) -> list[tuple[str, bytes, dict[str, str]]]:
    c = creds["telegram"]
    out = []
    for i in range(n):
        user = {"id": 500000 + i % 10000, "first_name": "Bench", "is_bot": False}
        body = json.dumps({"update_id": base_id + i, "message": {
            "message_id": i + 1, "date": 1441645532, "from": user,
            "chat": {**user, "type": "private"}, "text": f"bench {i}"}}).encode()
        out.append(("/webhooks/telegram/telegram", body, {
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": c["secret_token"]}))
    return out


class Connection:
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n{head}"
            f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return int(status_line.split()[1])

    def close(self) -> None:
        self.writer.close()


async def blast(port: int, requests: list[tuple[str, bytes, dict[str, str]]],
                connections: int) -> dict[str, Any]:
    conns = [Connection(port) for _ in range(connections)]
    await asyncio.gather(*(c.open() for c in conns))
    queue = list(reversed(requests))
    statuses: dict[int, int] = {}

    async def worker(conn: Connection) -> None:
        while queue:
            path, body, headers = queue.pop()
            status = await conn.post(path, body, headers)
            statuses[status] = statuses.get(status, 0) + 1

    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - start
    for c in conns:
        c.close()
    return {"requests": len(requests), "seconds": elapsed, "per_s": len(requests) / elapsed,
            "statuses": statuses}


async def retries_5x(port: int, requests: list[tuple[str, bytes, dict[str, str]]]
                     ) -> dict[str, Any]:
    """Each request 5 times at once, on 5 connections; 20 such groups in flight."""
    pool = [Connection(port) for _ in range(100)]
    await asyncio.gather(*(c.open() for c in pool))
    groups = [pool[i:i + 5] for i in range(0, 100, 5)]
    todo = list(reversed(requests))
    statuses: dict[int, int] = {}

    async def lane(group: list[Connection]) -> None:
        while todo:
            req = todo.pop()
            for status in await asyncio.gather(*(c.post(*req) for c in group)):
                statuses[status] = statuses.get(status, 0) + 1

    start = time.perf_counter()
    await asyncio.gather(*(lane(g) for g in groups))
    elapsed = time.perf_counter() - start
    for c in pool:
        c.close()
    return {"distinct": len(requests), "requests": 5 * len(requests), "seconds": elapsed,
            "statuses": statuses}


async def wait_rows(db_url: str, channel_account: str, expected: int, start: float,
                    timeout: float = 120.0) -> float:
    import asyncpg

    conn = await asyncpg.connect(db_url)
    try:
        while True:
            n = await conn.fetchval(
                "SELECT count(*) FROM messages WHERE channel_account = $1", channel_account)
            if n >= expected:
                return time.perf_counter() - start
            if time.perf_counter() - start > timeout:
                raise RuntimeError(f"only {n}/{expected} rows after {timeout:.0f}s")
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def count_rows(db_url: str, channel_account: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(db_url)
    try:
        return int(await conn.fetchval(
            "SELECT count(*) FROM messages WHERE channel_account = $1", channel_account))
    finally:
        await conn.close()


async def measure_hub(port: int, db_url: str, creds: dict[str, Any], n: int,
                      connections: int, dupes: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # Warm-up: JIT-free Python still warms caches, pools and plans.
    await blast(port, twilio_requests(port, creds, 200, "warm"), connections)
    await wait_rows(db_url, "twilio-sms", 200, time.perf_counter())
    cases = [("twilio", "twilio-sms", twilio_requests(port, creds, n, "t"), 200),
             ("whatsapp", "whatsapp", whatsapp_requests(creds, n, "w"), 0),
             ("telegram", "telegram", telegram_requests(creds, n, 1_000_000), 0)]
    for name, inbox, reqs, before in cases:
        start = time.perf_counter()
        edge = await blast(port, reqs, connections)
        stored_s = await wait_rows(db_url, inbox, before + n, start)
        out[name] = {**edge, "stored_per_s": n / stored_s, "stored_seconds": stored_s}
    before = await count_rows(db_url, "twilio-sms")
    dup = await retries_5x(port, twilio_requests(port, creds, dupes, "d"))
    await wait_rows(db_url, "twilio-sms", before + dupes, time.perf_counter())
    await asyncio.sleep(1.0)  # anything extra would have landed by now
    dup["rows"] = await count_rows(db_url, "twilio-sms") - before
    out["duplicates"] = dup
    return out


async def measure_floor(port: int, creds: dict[str, Any], n: int,
                        connections: int) -> dict[str, Any]:
    await blast(port, twilio_requests(port, creds, 200, "warm"), connections)
    return {
        "twilio": await blast(port, twilio_requests(port, creds, n, "t"), connections),
        "whatsapp": await blast(port, whatsapp_requests(creds, n, "w"), connections),
        "telegram": await blast(port, telegram_requests(creds, n, 2_000_000), connections),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--dupes", type=int, default=500)
    args = parser.parse_args()

    from bench.core import (
        SECRET_KEY,
        Child,
        Stack,
        embedded_stack,
        hub_processes,
        prepare_database,
        wait_http_ok,
    )
    from hub.config import settings_from_env
    from web.embedded import free_port
    from web.seed_messaging import messaging_credentials

    settings = settings_from_env({}, secret_key=SECRET_KEY)
    creds = messaging_credentials(settings)
    with tempfile.TemporaryDirectory(prefix="omnihub-bench-webhooks-") as tmp:
        base = Path(tmp)
        with embedded_stack(base) as (pg, valkey):
            seed = asyncio.run(prepare_database(pg.url("postgres"), pg.url("omnihub"),
                                                settings))
            stack = Stack(base, pg, valkey, seed)
            print("hub: omnihub web + pipeline ...", flush=True)
            with hub_processes(stack) as (port, _children):
                hub = asyncio.run(measure_hub(port, stack.db_url, creds, args.messages,
                                              args.connections, args.dupes))
            print("floor: starlette + XADD ...", flush=True)
            fport = free_port()
            env = {**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"}
            floor_proc = Child("webhooks-floor", [sys.executable, "-m", "bench.webhooks_floor",
                                                  "--port", str(fport), "--redis-url",
                                                  valkey.url], env, base)
            try:
                wait_http_ok(fport, [floor_proc])
                floor = asyncio.run(measure_floor(fport, creds, args.messages,
                                                  args.connections))
            finally:
                floor_proc.stop()
    report = {"when": datetime.now(UTC).isoformat(timespec="seconds"),
              "messages": args.messages, "connections": args.connections,
              "cpus": os.cpu_count(), "hub": hub, "floor": floor}
    print()
    print(f"{args.messages} signed webhooks per provider, {args.connections} keep-alive "
          f"connections, {os.cpu_count()} CPUs (shared)")
    print(f"{'provider':<10} {'hub 200/s':>10} {'floor 200/s':>12} {'ratio':>6}"
          f" {'hub stored/s':>13}")
    for name in ("twilio", "whatsapp", "telegram"):
        h, f = hub[name], floor[name]
        ok = h["statuses"] == {200: args.messages} and f["statuses"] == {200: args.messages}
        print(f"{name:<10} {h['per_s']:>10.0f} {f['per_s']:>12.0f} "
              f"{h['per_s'] / f['per_s']:>6.2f} {h['stored_per_s']:>13.0f}"
              + ("" if ok else f"   statuses hub {h['statuses']} floor {f['statuses']}"))
    d = hub["duplicates"]
    print(f"duplicates: {d['distinct']} messages x 5 concurrent retries = {d['requests']}"
          f" requests ({d['requests'] / d['seconds']:.0f}/s), statuses {d['statuses']},"
          f" rows stored {d['rows']} (expected {d['distinct']})")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {RESULTS.relative_to(ROOT)}")
    return 0 if d["rows"] == d["distinct"] else 1


if __name__ == "__main__":
    sys.exit(main())
