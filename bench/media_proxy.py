"""Agent media proxy throughput. ``python -m bench.media_proxy`` (~1 min).

**Hub**: ``omnihub web`` + ``omnihub pipeline`` on embedded Postgres + Valkey. A signed
Messenger webhook stores a message whose attachment URL points at a local media server
(its own process: Starlette on uvicorn answering ``GET /blob`` with SIZE bytes). The
driver (httpx, streaming, C downloads at once) fetches the attachment as a logged-in
agent through ``GET /api/v1/messages/{id}/attachments/0``: session and inbox check,
reference lookup, the provider request, the size count, the safe headers, streaming.
**Floor**: the same driver streaming ``GET /blob`` straight from the media server, i.e.
raw httpx streaming from the same server. Every download's byte count is checked.

    python -m bench.media_proxy [--size-kib 1024] [--downloads 300] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "media_proxy.json"
PAGE = "100000000000001"


def serve(port: int, size: int) -> None:
    """The provider's media server (run as a child process)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    blob = os.urandom(size)

    async def get_blob(request: Any) -> Response:
        return Response(blob, media_type="video/mp4")

    async def healthz(request: Any) -> Response:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/blob", get_blob), Route("/healthz", healthz)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def download_many(url: str, n: int, concurrency: int, size: int,
                        cookies: dict[str, str]) -> dict[str, Any]:
    import httpx

    todo = list(range(n))
    statuses: dict[int, int] = {}
    short = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal short
        while todo:
            todo.pop()
            async with client.stream("GET", url) as resp:
                got = 0
                async for chunk in resp.aiter_raw():
                    got += len(chunk)
            statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
            if resp.status_code == 200 and got != size:
                short += 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits, cookies=cookies,
                                 trust_env=False) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return {"downloads": n, "seconds": elapsed, "per_s": n / elapsed,
            "mib_per_s": n * size / elapsed / (1 << 20), "statuses": statuses,
            "wrong_size": short}


async def store_message(port: int, db_url: str, creds: dict[str, Any], media_url: str) -> int:
    import asyncpg
    import httpx

    from channels.meta.signature import compute_signature

    body = json.dumps({"object": "page", "entry": [{"id": PAGE, "time": 1, "messaging": [
        {"sender": {"id": "PSIDBENCH"}, "recipient": {"id": PAGE}, "timestamp": 1,
         "message": {"mid": "m_bench_media", "attachments": [
             {"type": "video", "payload": {"url": media_url}}]}}]}]}).encode()
    sig = compute_signature(creds["messenger"]["app_secret"], body)
    async with httpx.AsyncClient(trust_env=False) as client:
        resp = await client.post(f"http://127.0.0.1:{port}/webhooks/meta", content=body,
                                 headers={"Content-Type": "application/json",
                                          "X-Hub-Signature-256": sig})
        if resp.status_code != 200:
            raise RuntimeError(f"webhook refused: {resp.status_code} {resp.text[:200]}")
    conn = await asyncpg.connect(db_url)
    try:
        for _ in range(400):
            mid = await conn.fetchval("SELECT id FROM messages WHERE provider_id = $1",
                                      "m_bench_media")
            if mid:
                return int(mid)
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    raise RuntimeError("the message was not stored")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-kib", type=int, default=1024)
    parser.add_argument("--downloads", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = args.size_kib * 1024
    if args.serve:
        serve(args.serve, size)
        return 0

    from bench.core import (
        SECRET_KEY,
        Child,
        Stack,
        embedded_stack,
        hub_processes,
        log_in,
        prepare_database,
        wait_http_ok,
    )
    from hub.config import settings_from_env
    from web.embedded import free_port
    from web.seed_messaging import messaging_credentials

    settings = settings_from_env({}, secret_key=SECRET_KEY)
    creds = messaging_credentials(settings)
    n, c = args.downloads, args.concurrency
    with tempfile.TemporaryDirectory(prefix="omnihub-bench-media-") as tmp:
        base = Path(tmp)
        mport = free_port()
        env = {**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"}
        media = Child("media-server", [sys.executable, "-m", "bench.media_proxy", "--serve",
                                       str(mport), "--size-kib", str(args.size_kib)], env, base)
        try:
            wait_http_ok(mport, [media])
            blob_url = f"http://127.0.0.1:{mport}/blob"
            print("floor: httpx streaming straight from the media server ...", flush=True)
            asyncio.run(download_many(blob_url, 2 * c, c, size, {}))  # warm-up
            floor = asyncio.run(download_many(blob_url, n, c, size, {}))
            with embedded_stack(base) as (pg, valkey):
                seed = asyncio.run(prepare_database(pg.url("postgres"), pg.url("omnihub"),
                                                    settings))
                stack = Stack(base, pg, valkey, seed)
                print("hub: omnihub web + pipeline, the agent media proxy ...", flush=True)
                with hub_processes(stack) as (port, _children):
                    mid = asyncio.run(store_message(port, stack.db_url, creds, blob_url))
                    cookies = {"oh_session": log_in(port, "agent1@demo.omnihub.test",
                                                    "demo-agent")}
                    url = f"http://127.0.0.1:{port}/api/v1/messages/{mid}/attachments/0"
                    asyncio.run(download_many(url, 2 * c, c, size, cookies))  # warm-up
                    hub = asyncio.run(download_many(url, n, c, size, cookies))
        finally:
            media.stop()
    ok = (hub["statuses"] == {200: n} and floor["statuses"] == {200: n}
          and hub["wrong_size"] == 0 and floor["wrong_size"] == 0)
    report = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "size": size,
              "downloads": n, "concurrency": c, "cpus": os.cpu_count(),
              "load_avg": os.getloadavg(), "hub": hub, "floor": floor,
              "ratio_per_s": hub["per_s"] / floor["per_s"], "all_ok": ok}
    print()
    print(f"{n} downloads of {args.size_kib} KiB, {c} at once, {os.cpu_count()} CPUs (shared),"
          f" load average {os.getloadavg()[0]:.1f}")
    print(f"{'':<6} {'downloads/s':>12} {'MiB/s':>8}")
    for name, r in (("hub", hub), ("floor", floor)):
        print(f"{name:<6} {r['per_s']:>12.1f} {r['mib_per_s']:>8.1f}   statuses {r['statuses']}"
              f" wrong size {r['wrong_size']}")
    print(f"hub/floor: {report['ratio_per_s']:.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {RESULTS.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
