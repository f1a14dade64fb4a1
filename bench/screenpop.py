"""Screen-pop latency: a CTI ``newCall`` reaching the hub → the ``call.ringing`` frame
(with the caller's context) on the rung agent's websocket, under load, hub vs floor.

    python -m bench.screenpop [--rate 50] [--seconds 20] [--only hub|floor]

Load: an open-loop stream of calls at ``--rate`` calls/s; every call is ``newCall``
(measured), then ``answer`` 0.5 s later and ``hangup`` 1.5 s later (load, not measured),
so the pipeline applies three events per call, opens conversations, writes call rows and
builds a context per pop. Callers are the 20 seeded customers (known callers: full
context) plus fresh numbers (unknown callers). The latency of call *i* counts from its
due time (no coordinated omission) to the frame naming its ``callId``.

The floor (bench/floor.py, the same libraries: Starlette/uvicorn, msgspec, redis XADD /
XREAD, one frame per entry per socket) gets the same request bodies on its ingest route.
Target (issue #6): hub p99 ≤ 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from bench.core import (
    ROOT,
    SECRET_KEY,
    Child,
    Stack,
    embedded_stack,
    hub_processes,
    hub_ws_impl,
    log_in,
    prepare_database,
    wait_http_ok,
)

AGENT = ("agent1@demo.omnihub.test", "demo-agent")
AGENT_NAME = "Maya Schneider"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def drive(base: str, ws_url: str, post_path: str, cookie: str | None, body_of: Any,
                rate: float, seconds: float, answer_path: Any = None) -> dict[str, Any]:
    headers = {"Cookie": f"oh_session={cookie}"} if cookie else {}
    sent: dict[str, float] = {}
    got: dict[str, float] = {}
    errors: list[str] = []
    async with connect(ws_url, origin=base, additional_headers=headers,
                       max_size=2**24) as ws:
        await ws.recv()  # hello

        async def reader() -> None:
            async for raw in ws:
                now = time.perf_counter()
                frame = json.loads(raw)
                if frame.get("type") != "event":
                    continue
                ev = frame["event"]
                if ev.get("type") == "call.ringing":
                    got.setdefault(ev["call"]["call_id"], now)
                elif ev.get("type") == "message.created" and "message" in ev:
                    text = ev["message"].get("text", "")
                    if text.startswith("pop-"):
                        got.setdefault(text, now)

        read_task = asyncio.create_task(reader())
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30,
                                     trust_env=False) as client:
            async def one(i: int, due: float) -> None:
                call_id = f"pop-{uuid.uuid4().hex[:16]}"
                sent[call_id] = due
                try:
                    resp = await client.post(post_path, json=body_of(call_id, i, "newCall"))
                    if resp.status_code >= 300:
                        errors.append(f"{resp.status_code} {resp.text[:100]}")
                    if answer_path is not None:
                        await asyncio.sleep(0.5)
                        await client.post(post_path, json=body_of(call_id, i, "answer"))
                        await asyncio.sleep(1.0)
                        await client.post(post_path, json=body_of(call_id, i, "hangup"))
                except httpx.HTTPError as exc:
                    errors.append(repr(exc))

            t0 = time.perf_counter() + 0.2
            tasks = []
            n = int(rate * seconds)
            for i in range(n):
                due = t0 + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(i, due)))
            await asyncio.gather(*tasks)
            deadline = time.perf_counter() + 10
            while len(got) < len(sent) and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
        read_task.cancel()
    lat = [(got[c] - sent[c]) * 1000 for c in sent if c in got]
    return {"calls": len(sent), "popped": len(lat), "errors": errors[:5],
            "error_count": len(errors),
            "p50_ms": statistics.median(lat) if lat else None,
            "p99_ms": pct(lat, 99) if lat else None, "max_ms": max(lat) if lat else None}


def hub_body(phones: list[str]) -> Any:
    def body(call_id: str, i: int, event: str) -> dict[str, Any]:
        # Every other call is a known customer; the rest are new numbers.
        number = phones[i % len(phones)].lstrip("+") if i % 2 == 0 else f"49301{i:07d}"
        out: dict[str, Any] = {"event": event, "callId": call_id, "direction": "in",
                               "from": number, "to": "493055571600", "user": [AGENT_NAME],
                               "queue": "support", "ivr": {"menu": "1", "language": "de"}}
        if event == "answer":
            out["answeringNumber"] = "101"
        if event == "hangup":
            out["cause"] = "normalClearing"
        return out
    return body


def floor_body(call_id: str, i: int, event: str) -> dict[str, Any]:
    return {"source_id": call_id, "text": call_id}


async def seed_phones(db_url: str) -> list[str]:
    import asyncpg

    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch("SELECT phone FROM contacts WHERE phone IS NOT NULL")
        return [r["phone"] for r in rows]
    finally:
        await conn.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    from hub.config import settings_from_env
    from web.embedded import free_port

    report: dict[str, Any] = {"rate": args.rate, "seconds": args.seconds}
    with tempfile.TemporaryDirectory(prefix="omnihub-popbench-") as tmp:
        base = Path(tmp)
        with embedded_stack(base) as (pg, valkey):
            settings = settings_from_env({}, secret_key=SECRET_KEY)
            seed = asyncio.run(prepare_database(pg.url("postgres"), pg.url("omnihub"),
                                                settings))
            stack = Stack(base, pg, valkey, seed)
            if args.only in (None, "hub"):
                phones = asyncio.run(seed_phones(stack.db_url))
                with hub_processes(stack) as (port, _children):
                    cookie = log_in(port, *AGENT)
                    url = f"http://127.0.0.1:{port}"
                    report["hub"] = asyncio.run(drive(
                        url, f"ws://127.0.0.1:{port}/ws/agent",
                        f"/cti/{seed['cti_token']}/events", cookie, hub_body(phones),
                        args.rate, args.seconds, answer_path=True))
            if args.only in (None, "floor"):
                port = free_port()
                floor = Child("floor", [sys.executable, "-m", "bench.floor", "--port",
                                        str(port), "--redis-url", valkey.url, "--ws",
                                        hub_ws_impl()], dict(os.environ), base)
                try:
                    wait_http_ok(port, [floor])
                    report["floor"] = asyncio.run(drive(
                        f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws/agent",
                        "/api/v1/inboxes/api/messages", None, floor_body, args.rate,
                        args.seconds))
                finally:
                    floor.stop()
    hub, fl = report.get("hub"), report.get("floor")
    if hub and fl and hub["p99_ms"] and fl["p99_ms"]:
        report["ratio_p50"] = hub["p50_ms"] / fl["p50_ms"]
        report["ratio_p99"] = hub["p99_ms"] / fl["p99_ms"]
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.screenpop", description=__doc__)
    parser.add_argument("--rate", type=float, default=50.0, help="calls per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--only", choices=["hub", "floor"])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "screenpop.json"))
    args = parser.parse_args(argv)
    report = run(args)
    Path(args.out).write_text(json.dumps(report, indent=2))
    for name in ("hub", "floor"):
        r = report.get(name)
        if r:
            print(f"{name:5s} calls={r['calls']} popped={r['popped']} errors={r['error_count']}"
                  f" p50={r['p50_ms']:.1f} ms p99={r['p99_ms']:.1f} ms max={r['max_ms']:.1f} ms")
    if "ratio_p99" in report:
        print(f"hub/floor p50 x{report['ratio_p50']:.1f}  p99 x{report['ratio_p99']:.1f}"
              f"   target: hub p99 <= 200 ms -> "
              f"{'met' if report['hub']['p99_ms'] <= 200 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
