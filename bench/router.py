"""Router benchmark: 200 agents, 20 queues. ``make bench-router`` (~2 min).

1. **Decisions per second through the atomic layer.** 1000 waiting chats, 200 online
   agents (each in 2 of 20 queues, three strategies). Rounds of: snapshot
   (``load_state``) → ``decide`` → apply through the Lua script; then every offer is
   accepted, every held item completed and replaced by a new one (all through the
   script). Counted: decisions applied per second of wall time (snapshot and decide
   included), and the script alone. **Floor**: the same number of reservations as a
   bare Lua ``HINCRBY`` with a capacity check per item, pipelined the same way.
2. **p99 ingest → offer, end to end.** ``omnihub pipeline`` and ``omnihub router`` run as
   processes on embedded Postgres + Valkey; the driver XADDs new-conversation envelopes
   to the ingest stream at a fixed rate and reads ``workitem.offered`` from the events
   stream; latency = the offer event's stream id - the ingest entry's stream id (both the
   Valkey clock). **Floor**: a consumer that reads the same ingest stream (consumer
   group, XACK), reserves an agent with the bare Lua HINCRBY and XADDs an "offered"
   entry, measured the same way.

    python -m bench.router [--items 1000] [--rate 25] [--seconds 20]

The offered chats stay offered (nobody accepts), so rate x seconds must stay below the
agents' 600 chat slots (200 agents x 3).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
AGENTS = 200
QUEUES = 20
STRATEGIES = ("round_robin", "least_busy", "longest_idle")
SECRET = "bench-router-secret-0123456789"

FLOOR_LUA = """
local units = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if units > tonumber(ARGV[3]) then
  redis.call('HINCRBY', KEYS[1], ARGV[1], -tonumber(ARGV[2]))
  return 0
end
return 1
"""


def config_doc(agent_ids: list[int], version: int = 1, **offers: Any) -> dict[str, Any]:
    queues = [{"id": f"q{i:02d}", "filter": f'queue == "q{i:02d}"',
               "strategy": STRATEGIES[i % 3]} for i in range(QUEUES)]
    return {
        "version": version,
        "offers": {"timeout_s": 600, "reoffer_cooldown_s": 30, **offers},
        "presence": {"heartbeat_timeout_s": 3600, "away_grace_s": 30, "offline_after_s": 7200},
        "queues": queues,
        "agents": [{"id": a, "queues": [f"q{n % QUEUES:02d}", f"q{(n + 1) % QUEUES:02d}"]}
                   for n, a in enumerate(agent_ids)],
    }


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


async def online(redis: Any, settings: Any, agent_ids: list[int]) -> None:
    from hub.routing.store import num, router_keys

    now = num(time.time())
    mapping: dict[str, str] = {}
    for a in agent_ids:
        mapping.update({f"{a}:st": "available", f"{a}:cn": "1", f"{a}:hb": now})
    await redis.hset(router_keys(settings).agents, mapping=mapping)


# ---- 1. decisions per second ----------------------------------------------------------


async def bench_decisions(redis_url: str, items: int, rounds: int) -> dict[str, Any]:
    import redis.asyncio as aioredis

    from hub.config import settings_from_env
    from hub.routing import commands
    from hub.routing.atomic import Applied, RouterScript
    from hub.routing.decide import decide
    from hub.routing.decisions import AcceptOffer, CompleteItem, OfferItem
    from hub.routing.loader import load_config
    from hub.routing.store import clear, load_state

    settings = settings_from_env({}, redis_url=redis_url, key_prefix="bd:")
    redis = aioredis.from_url(redis_url)
    agent_ids = list(range(1, AGENTS + 1))
    cfg = load_config(config_doc(agent_ids))
    script = RouterScript(settings, cfg)
    await clear(redis, settings)
    await online(redis, settings, agent_ids)
    next_id = 1

    def new_items(n: int, now: float) -> list[Any]:
        nonlocal next_id
        out = []
        for _ in range(n):
            q = f"q{next_id % QUEUES:02d}"
            out.append(commands.enqueue(cfg, item_id=next_id, channel="chat", created_at=now,
                                        attrs={"queue": q}))
            next_id += 1
        return out

    await script.call_all(redis, new_items(items, time.time()), time.time())
    applied = 0
    script_s = 0.0
    decide_s = 0.0
    snapshot_s = 0.0
    offers = 0
    t0 = time.perf_counter()
    for _ in range(rounds):
        now = time.time()
        a = time.perf_counter()
        state = await load_state(redis, settings)
        b = time.perf_counter()
        ds = decide(cfg, state, now)
        c = time.perf_counter()
        outs = await script.call_all(redis, ds, now)
        d = time.perf_counter()
        snapshot_s += b - a
        decide_s += c - b
        script_s += d - c
        done = [o.decision for o in outs if isinstance(o, Applied)]
        applied += len(done)
        offered = [x for x in done if isinstance(x, OfferItem)]
        offers += len(offered)
        # Every offer accepted; every held item completed and replaced.
        follow: list[Any] = [AcceptOffer(item_id=o.item_id, agent_id=o.targets[0].agent_id)
                             for o in offered]
        held = [i for i in state.items.values() if i.agent_id is not None]
        follow += [CompleteItem(item_id=i.id, agent_id=i.agent_id, wrapup_until=None)
                   for i in held if i.agent_id is not None]
        follow += new_items(len(held), now)
        e = time.perf_counter()
        outs = await script.call_all(redis, follow, now)
        script_s += time.perf_counter() - e
        applied += sum(1 for o in outs if isinstance(o, Applied))
    total_s = time.perf_counter() - t0

    # Floor: one bare Lua reservation per decision the router applied, same pipelining.
    sha = await redis.script_load(FLOOR_LUA)
    await redis.delete("bd:floor")
    batch = 500
    t1 = time.perf_counter()
    done_floor = 0
    while done_floor < applied:
        n = min(batch, applied - done_floor)
        async with redis.pipeline(transaction=False) as pipe:
            for k in range(n):
                agent = (done_floor + k) % AGENTS + 1
                pipe.evalsha(sha, 1, "bd:floor", str(agent), "20", "1000000000")
            await pipe.execute()
        done_floor += n
    floor_s = time.perf_counter() - t1
    await clear(redis, settings)
    await redis.delete("bd:floor")
    await redis.aclose()
    return {
        "rounds": rounds, "waiting_items": items, "decisions_applied": applied, "offers": offers,
        "seconds": round(total_s, 3),
        "decisions_per_s": round(applied / total_s),
        "script_decisions_per_s": round(applied / script_s),
        "snapshot_ms_per_round": round(1000 * snapshot_s / rounds, 2),
        "decide_ms_per_round": round(1000 * decide_s / rounds, 2),
        "floor_per_s": round(applied / floor_s),
        "ratio_floor_over_router": round((applied / floor_s) / (applied / total_s), 1),
        "ratio_floor_over_script": round((applied / floor_s) / (applied / script_s), 1),
    }


# ---- 2. ingest -> offer ---------------------------------------------------------------


async def prepare(db_url: str, admin_url: str, redis_url: str) -> tuple[list[int], Any]:
    import asyncpg
    import redis.asyncio as aioredis
    import yaml

    from hub.config import settings_from_env
    from hub.db.migrate import apply_migrations
    from hub.routing.configstore import save_config

    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute("CREATE DATABASE omnihub")
    finally:
        await admin.close()
    conn = await asyncpg.connect(db_url)
    try:
        await apply_migrations(conn)
        await conn.executemany("INSERT INTO queues (slug, name) VALUES ($1, $1)",
                               [(f"q{i:02d}",) for i in range(QUEUES)])
        await conn.executemany(
            "INSERT INTO inboxes (slug, name, channel, default_queue) VALUES ($1, $1, 'chat', $2)",
            [(f"b{i:02d}", f"q{i:02d}") for i in range(QUEUES)])
        ids = [r[0] for r in await conn.fetch(
            "INSERT INTO agents (email, name, role, password_hash)"
            " SELECT 'a' || g || '@bench.test', 'Agent ' || g, 'agent', 'x'"
            " FROM generate_series(1, $1) g RETURNING id", AGENTS)]
    finally:
        await conn.close()
    settings = settings_from_env({}, database_url=db_url, redis_url=redis_url)
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    redis = aioredis.from_url(redis_url)
    try:
        await save_config(pool, redis, settings, yaml.safe_dump(config_doc(ids)), source="file")
        await online(redis, settings, ids)
    finally:
        await pool.close()
        await redis.aclose()
    return ids, settings


async def drive(redis_url: str, ingest: str, events: str, rate: int, seconds: float,
                offered_kind: bytes) -> dict[str, Any]:
    """XADD new-conversation envelopes at ``rate``; match offers on the events stream."""
    import redis.asyncio as aioredis

    from hub.schema import Envelope, Identity, encode

    redis = aioredis.from_url(redis_url)
    sent: dict[str, int] = {}  # marker text -> ingest ms
    created: dict[str, int] = {}  # marker -> conversation.created ms (the pipeline's part)
    latencies: list[float] = []
    pipeline_part: list[float] = []
    tail = await redis.xrevrange(events, count=1)
    last = tail[0][0].decode() if tail else "0-0"
    total = int(rate * seconds)
    done = asyncio.Event()

    async def reader() -> None:
        nonlocal last
        while len(latencies) < total:
            resp = await redis.xread({events: last}, count=1000, block=500)
            for sid, fields in (resp[0][1] if resp else []):
                last = sid.decode()
                payload = fields.get(b"e", b"")
                at = int(last.split("-")[0])
                if b'"conversation.created"' in payload:
                    ident = json.loads(payload)["conversation"]["contact_identity"]
                    created[ident.partition(":")[2]] = at
                    continue
                if offered_kind not in payload:
                    continue
                marker = json.loads(payload).get("preview", "")
                if marker in sent:
                    latencies.append(at - sent[marker])
                    if marker in created:
                        pipeline_part.append(created.pop(marker) - sent[marker])
                    del sent[marker]
        done.set()

    task = asyncio.create_task(reader())
    start = time.perf_counter()
    for n in range(total):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        marker = f"m-{uuid.uuid4().hex[:12]}"
        env = Envelope(channel="chat", channel_account=f"b{n % QUEUES:02d}",
                       provider_id=marker, sender=Identity(kind="visitor", value=marker),
                       text=marker, received_at=datetime.now(UTC))
        sid = await redis.xadd(ingest, {"env": encode(env)})
        sent[marker] = int(sid.decode().split("-")[0])
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), 60)
    task.cancel()
    await redis.aclose()
    return {"sent": total, "offered": len(latencies), "rate_per_s": rate,
            "p50_ms": pct(latencies, 50), "p90_ms": pct(latencies, 90),
            "p99_ms": pct(latencies, 99), "max_ms": max(latencies) if latencies else None,
            "pipeline_p50_ms": pct(pipeline_part, 50), "pipeline_p99_ms": pct(pipeline_part, 99)}


async def floor_router(redis_url: str, ingest: str, out: str, stop: asyncio.Event) -> None:
    """The floor's "router": consumer group on ingest, bare Lua reservation, XADD."""
    import redis.asyncio as aioredis

    from hub.schema import decode_envelope

    redis = aioredis.from_url(redis_url)
    with contextlib.suppress(Exception):
        await redis.xgroup_create(ingest, "floor", id="0", mkstream=True)
    sha = await redis.script_load(FLOOR_LUA)
    n = 0
    while not stop.is_set():
        resp = await redis.xreadgroup("floor", "f1", {ingest: ">"}, count=512, block=200)
        entries = resp[0][1] if resp else []
        if not entries:
            continue
        async with redis.pipeline(transaction=False) as pipe:
            for _sid, fields in entries:
                env = decode_envelope(fields[b"env"])
                n += 1
                pipe.evalsha(sha, 1, "floor:load", str(n % AGENTS), "20", "1000000000")
                pipe.xadd(out, {"e": json.dumps({"type": "floor.offered",
                                                 "preview": env.text})})
            pipe.xack(ingest, "floor", *[sid for sid, _ in entries])
            await pipe.execute()
    await redis.aclose()


def child(name: str, env: dict[str, str], log_dir: Path) -> subprocess.Popen[bytes]:
    log = open(log_dir / f"{name}.log", "ab")
    return subprocess.Popen([sys.executable, "-m", "web.cli", name], env=env, cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


async def bench_end_to_end(rate: int, seconds: float) -> dict[str, Any]:
    from web.embedded import EmbeddedPostgres, EmbeddedValkey, free_port

    base = Path(tempfile.mkdtemp(prefix="bench-router-"))
    with (EmbeddedPostgres(base / "pg", free_port(), fast=True) as pg,
          EmbeddedValkey(base / "valkey", free_port()) as valkey):
        pg.start()
        valkey.start()
        db_url = pg.url("omnihub")
        _ids, settings = await prepare(db_url, pg.url("postgres"), valkey.url)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIHUB_")}
        env.update(DATABASE_URL=db_url, REDIS_URL=valkey.url, OMNIHUB_SECRET_KEY=SECRET,
                   PYTHONWARNINGS="ignore::DeprecationWarning")
        procs = [child("pipeline", env, base), child("router", env, base)]
        try:
            await asyncio.sleep(3.0)  # both consumers up
            hub = await drive(valkey.url, settings.ingest_stream, settings.events_stream,
                              rate, seconds, b'"workitem.offered"')
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(15)
        stop = asyncio.Event()
        task = asyncio.create_task(floor_router(valkey.url, "floor:ingest", "floor:events",
                                                stop))
        await asyncio.sleep(0.5)
        floor = await drive(valkey.url, "floor:ingest", "floor:events", rate, seconds,
                            b'"floor.offered"')
        stop.set()
        await task
    return {"hub": hub, "floor": floor,
            "ratio_p99": round(hub["p99_ms"] / max(floor["p99_ms"], 1), 1),
            "ratio_p50": round(hub["p50_ms"] / max(floor["p50_ms"], 1), 1)}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from web.embedded import EmbeddedValkey, free_port

    base = Path(tempfile.mkdtemp(prefix="bench-router-a-"))
    with EmbeddedValkey(base / "valkey", free_port()) as valkey:
        valkey.start()
        decisions = await bench_decisions(valkey.url, args.items, args.rounds)
    print("decisions through the atomic layer:", json.dumps(decisions, indent=1))
    e2e = await bench_end_to_end(args.rate, args.seconds)
    print("ingest -> offer:", json.dumps(e2e, indent=1))
    return {"decisions": decisions, "ingest_to_offer": e2e,
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
            "at": datetime.now(UTC).isoformat(timespec="seconds")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--rate", type=int, default=25)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    report = asyncio.run(main_async(args))
    d, e = report["decisions"], report["ingest_to_offer"]
    print()
    print(f"{'':34} {'router':>12} {'floor':>12} {'ratio':>7}")
    print(f"{'decisions/s (snapshot+decide+Lua)':34} {d['decisions_per_s']:>12} "
          f"{d['floor_per_s']:>12} {d['ratio_floor_over_router']:>6}x")
    print(f"{'decisions/s (Lua script only)':34} {d['script_decisions_per_s']:>12} "
          f"{d['floor_per_s']:>12} {d['ratio_floor_over_script']:>6}x")
    print(f"{'ingest -> offer p50 ms':34} {e['hub']['p50_ms']:>12} {e['floor']['p50_ms']:>12} "
          f"{e['ratio_p50']:>6}x")
    print(f"{'ingest -> offer p99 ms':34} {e['hub']['p99_ms']:>12} {e['floor']['p99_ms']:>12} "
          f"{e['ratio_p99']:>6}x")
    print(f"  of which ingest -> conversation.created (pipeline): p50 "
          f"{e['hub']['pipeline_p50_ms']} ms, p99 {e['hub']['pipeline_p99_ms']} ms")
    print(f"offered {e['hub']['offered']}/{e['hub']['sent']} at {e['hub']['rate_per_s']}/s")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "router.json").write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
