"""SLA timer benchmark: lateness of wake-ups, the hub's timer loop vs a bare sorted-set
loop. ``python -m bench.sla_timers`` (~1 min).

100,000 clocks are scheduled in an embedded Valkey: ``--rate`` (1,000) per second come
due during ``--seconds`` (10) of measurement, starting 3 s after scheduling ends, and
the rest lie far in the future (they only make the set big). Lateness = the wall time at
which the callback starts minus the due it was given; p50/p99/max over every due of the
window, and how many fired.

- **hub**: one ``workers.sla_timers.SlaTimerLoop`` (``claim_due`` Lua: reclaim + lease,
  then ``release`` by token; sleeps until the next due or lease expiry) with a callback
  that only records the time.
- **floor**: the same redis client running the bare loop: ``ZRANGEBYSCORE -inf now
  LIMIT 200`` + ``ZREM``, or, when nothing is due, ``ZRANGE 0 0`` and a sleep until that
  score. No leases, so no crash safety and no exclusion between workers.

Same process, one after the other, each with its own keys and a fresh set of 100,000,
interleaved for ``--rounds`` (2) rounds so both meet the same neighbours on a shared
machine; figures pool the rounds. CPU = this process's CPU time per due fired (client
side only; Valkey's is not counted). Writes ``bench/results/sla_timers.json``.
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from hub.config import Settings
from hub.sla.schedule import schedule_wakeups, timer_keys
from workers.sla_timers import SlaTimerLoop

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
LEAD_S = 3.0
BATCH = 200


def plan(total: int, rate: int, seconds: float, start: float) -> list[tuple[str, float]]:
    window = int(rate * seconds)
    items = [(f"conv:{i}", start + i / rate) for i in range(min(window, total))]
    far = start + 365 * 86400.0
    items += [(f"conv:{i}", far + i) for i in range(len(items), total)]
    return items


def summary(lateness: list[float], expected: int) -> dict[str, Any]:
    ms = sorted(x * 1000 for x in lateness)
    if not ms:
        return {"fired": 0, "expected": expected}
    q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else [ms[0]] * 99
    return {"fired": len(ms), "expected": expected, "p50_ms": round(q[49], 2),
            "p99_ms": round(q[98], 2), "max_ms": round(ms[-1], 2),
            "min_ms": round(ms[0], 2)}


Phase = tuple[list[float], float]  # lateness of each due (s), CPU seconds of this process


async def run_hub(redis: aioredis.Redis, args: argparse.Namespace) -> Phase:
    keys = timer_keys(Settings(key_prefix="bench:hub:"))
    await redis.delete(keys.due, keys.lease, keys.held)
    start = time.time() + LEAD_S + args.total / 50_000
    items = plan(args.total, args.rate, args.seconds, start)
    for i in range(0, len(items), 10_000):
        await schedule_wakeups(redis, keys, items[i:i + 10_000])
    lateness: list[float] = []

    async def fire(member: str, due: float) -> None:
        lateness.append(time.time() - due)

    stop = asyncio.Event()
    loop = SlaTimerLoop(redis, keys, fire, batch=BATCH, max_sleep_s=1.0)
    await asyncio.sleep(max(0.0, start - 0.5 - time.time()))
    cpu = time.process_time()
    task = asyncio.create_task(loop.run(stop))
    await asyncio.sleep(max(0.0, start + args.seconds + 1.0 - time.time()))
    stop.set()
    await task
    cpu = time.process_time() - cpu
    await redis.delete(keys.due, keys.lease, keys.held)
    return lateness, cpu


async def run_floor(redis: aioredis.Redis, args: argparse.Namespace) -> Phase:
    key = "bench:floor:due"
    await redis.delete(key)
    start = time.time() + LEAD_S + args.total / 50_000
    items = plan(args.total, args.rate, args.seconds, start)
    for i in range(0, len(items), 10_000):
        await redis.zadd(key, dict(items[i:i + 10_000]))
    lateness: list[float] = []
    end = start + args.seconds + 1.0
    await asyncio.sleep(max(0.0, start - 0.5 - time.time()))
    cpu = time.process_time()
    while time.time() < end:
        now = time.time()
        due = await redis.zrangebyscore(key, "-inf", now, start=0, num=BATCH,
                                        withscores=True)
        if due:
            await redis.zrem(key, *[m for m, _ in due])
            for _m, score in due:
                lateness.append(time.time() - score)
            if len(due) == BATCH:
                continue
        first = await redis.zrange(key, 0, 0, withscores=True)
        wait = 1.0 if not first else first[0][1] - time.time()
        if wait > 0:
            await asyncio.sleep(min(wait, 1.0, max(0.0, end - time.time())))
    cpu = time.process_time() - cpu
    await redis.delete(key)
    return lateness, cpu


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from web.embedded import EmbeddedValkey, free_port

    base = Path(tempfile.mkdtemp(prefix="bench-sla-"))
    with EmbeddedValkey(base / "valkey", free_port()) as valkey:
        valkey.start()
        redis = aioredis.from_url(valkey.url, decode_responses=False)  # type: ignore[no-untyped-call]
        late: dict[str, list[float]] = {"hub": [], "floor": []}
        cpu = {"hub": 0.0, "floor": 0.0}
        try:
            # Interleaved rounds, so both sides meet the same neighbours on a shared box.
            for n in range(args.rounds):
                for side, run in (("floor", run_floor), ("hub", run_hub)):
                    got, used = await run(redis, args)
                    late[side] += got
                    cpu[side] += used
                    print(f"round {n + 1} {side}:", json.dumps(summary(got, len(got))))
        finally:
            await redis.aclose()
    expected = int(args.rate * args.seconds) * args.rounds
    hub, floor = summary(late["hub"], expected), summary(late["floor"], expected)
    for side, figures in (("hub", hub), ("floor", floor)):
        figures["cpu_us_per_due"] = round(cpu[side] * 1e6 / max(1, figures["fired"]), 1)
    ratio = {k: round(hub[k] / max(floor[k], 0.01), 1) for k in ("p50_ms", "p99_ms")
             if k in hub and k in floor}
    return {"clocks": args.total, "rate_per_s": args.rate, "seconds": args.seconds,
            "rounds": args.rounds,
            "batch": BATCH, "hub": hub, "floor": floor, "ratio_hub_over_floor": ratio,
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                        "load_1m": round(os.getloadavg()[0], 2)},
            "at": datetime.now(UTC).isoformat(timespec="seconds")}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--total", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0, help="per round and side")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    report = asyncio.run(main_async(args))
    hub, floor, ratio = report["hub"], report["floor"], report["ratio_hub_over_floor"]
    print()
    print(f"{'lateness due -> callback':26} {'hub':>10} {'floor':>10} {'ratio':>7}")
    for k in ("p50_ms", "p99_ms", "max_ms"):
        print(f"{k:26} {hub.get(k, '-'):>10} {floor.get(k, '-'):>10} "
              f"{str(ratio.get(k, '')) + ('x' if k in ratio else ''):>7}")
    print(f"{'fired / expected':26} {hub['fired']:>5}/{hub['expected']:<4} "
          f"{floor['fired']:>5}/{floor['expected']:<4}")
    print(f"{'CPU us per due':26} {hub['cpu_us_per_due']:>10} {floor['cpu_us_per_due']:>10}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sla_timers.json").write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
