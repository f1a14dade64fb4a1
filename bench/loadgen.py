"""The bench driver: an open-loop HTTP load generator plus one agent-socket client, in
one process (``bench.core`` starts it with a JSON spec; it writes a JSON result).

Why not httpx: at 2-10k requests/s on a 2-core box a general-purpose client spends more
CPU than the server under test. ``HttpConn`` is a minimal HTTP/1.1 keep-alive client on
``asyncio.Protocol`` (no per-request coroutine): one request in flight per connection,
responses framed by ``Content-Length`` (all we need from uvicorn; chunked responses are
refused as errors).

Open loop: message ``i`` of a phase is *due* at ``t0 + i / rate`` whatever happened to
earlier ones. When every connection is busy it waits in a backlog, and its latency is
still measured from its due time, so a server that stalls cannot hide the stall by
slowing the generator down (coordinated omission).

Latency of a message = the time the agent socket received its ``message.created`` minus
its due time (both ``time.perf_counter`` in this process). Messages are matched by their
text, ``bench <tag> <index>``.

    python -m bench.loadgen SPEC.json RESULT.json
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

NAN = float("nan")
CLK_TCK = os.sysconf("SC_CLK_TCK")

# -- HTTP/1.1 keep-alive client -------------------------------------------------------------


class HttpConn(asyncio.Protocol):
    """One keep-alive connection; at most one request in flight."""

    __slots__ = ("buf", "gen", "inflight", "transport")

    def __init__(self, gen: PostGenerator) -> None:
        self.gen = gen
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.inflight: tuple[Phase, int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def send(self, phase: Phase, index: int) -> None:
        self.inflight = (phase, index)
        phase.sent[index] = time.perf_counter()
        self.transport.write(self.gen.request(phase, index))  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).lower()
            try:
                status = int(head[9:12])
            except ValueError:
                status = -2
            i = head.find(b"\r\ncontent-length:")
            if i < 0:  # chunked or close-delimited: not something we speak
                length, status = 0, -2
            else:
                j = head.find(b"\r\n", i + 2)
                length = int(head[i + 17: j if j >= 0 else len(head)])
            total = end + 4 + length
            if len(buf) < total:
                return
            body = bytes(buf[end + 4:total])
            del buf[:total]
            inflight, self.inflight = self.inflight, None
            self.gen.on_response(self, inflight, status, body)

    def connection_lost(self, exc: Exception | None) -> None:
        inflight, self.inflight = self.inflight, None
        self.gen.on_lost(self, inflight)


class PostGenerator:
    """A pool of keep-alive connections fed by an open-loop schedule."""

    def __init__(self, host: str, port: int, path: str, token: str, conns: int,
                 customers: int) -> None:
        self.host, self.port, self.conns = host, port, conns
        self.customers = customers
        self._head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            "Content-Length: "
        ).encode()
        self.idle: collections.deque[HttpConn] = collections.deque()
        self.backlog: collections.deque[tuple[Phase, int]] = collections.deque()
        self.all: set[HttpConn] = set()
        self.reconnects = 0
        self.closing = False

    def request(self, phase: Phase, index: int) -> bytes:
        body = (
            f'{{"source_id":"bench-customer-{index % self.customers}",'
            f'"text":"bench {phase.tag} {index}","message_id":"{phase.tag}-{index}"}}'
        ).encode()
        return self._head + str(len(body)).encode() + b"\r\n\r\n" + body

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(lambda: HttpConn(self), self.host, self.port)
        self.all.add(conn)
        self._release(conn)

    async def open(self) -> None:
        await asyncio.gather(*(self._connect() for _ in range(self.conns)))

    def close(self) -> None:
        for conn in list(self.all):
            if conn.transport is not None:
                conn.transport.close()

    async def reopen(self) -> None:
        """Fresh connections for a phase (an idle one may be closed by the server's
        keep-alive timeout just as we write to it)."""
        self.closing = True
        self.close()
        self.all.clear()
        self.idle.clear()
        self.backlog.clear()
        await asyncio.sleep(0.05)
        self.closing = False
        await self.open()

    def dispatch(self, phase: Phase, index: int) -> None:
        # FIFO: every connection is used in turn, so none sits idle long enough for the
        # server's keep-alive timeout to close it under a request.
        if self.idle:
            self.idle.popleft().send(phase, index)
        else:
            self.backlog.append((phase, index))

    def _release(self, conn: HttpConn) -> None:
        while self.backlog:
            phase, index = self.backlog.popleft()
            if phase.accepting:
                conn.send(phase, index)
                return
        self.idle.append(conn)

    def on_response(self, conn: HttpConn, inflight: tuple[Phase, int] | None,
                    status: int, body: bytes) -> None:
        if inflight is not None:
            inflight[0].on_response(inflight[1], status, body)
        self._release(conn)

    def on_lost(self, conn: HttpConn, inflight: tuple[Phase, int] | None) -> None:
        self.all.discard(conn)
        with contextlib.suppress(ValueError):
            self.idle.remove(conn)
        if inflight is not None:
            inflight[0].on_response(inflight[1], -1, b"")
        if not self.closing:
            self.reconnects += 1
            asyncio.get_running_loop().create_task(self._connect())


# -- phases ---------------------------------------------------------------------------------


@dataclass
class Phase:
    tag: str
    name: str
    rate: float
    duration: float
    n: int = 0
    sched: list[float] = field(default_factory=list)
    sent: list[float] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    received: list[float] = field(default_factory=list)
    # Wall-clock ms parts of the ingest stream id (from the 202) and of the event id.
    ingest_ms: list[int] = field(default_factory=list)
    event_ms: list[int] = field(default_factory=list)
    t0: float = 0.0
    answered_count: int = 0
    ok_count: int = 0
    delivered: int = 0
    duplicates: int = 0
    accepting: bool = True

    def __post_init__(self) -> None:
        self.n = round(self.rate * self.duration)
        self.sched = [NAN] * self.n
        self.sent = [NAN] * self.n
        self.answered = [NAN] * self.n
        self.status = [0] * self.n
        self.received = [NAN] * self.n
        self.ingest_ms = [0] * self.n
        self.event_ms = [0] * self.n

    def on_response(self, index: int, status: int, body: bytes) -> None:
        if self.status[index] != 0:
            return
        self.status[index] = status
        self.answered[index] = time.perf_counter()
        self.answered_count += 1
        if status == 202:
            self.ok_count += 1
            i = body.find(b'"stream_id":"')
            if i >= 0:
                j = body.find(b"-", i + 13)
                with contextlib.suppress(ValueError):
                    self.ingest_ms[index] = int(body[i + 13:j])

    def on_delivered(self, index: int, at: float, event_id: str) -> None:
        if not 0 <= index < self.n:
            return
        if self.received[index] == self.received[index]:  # not NaN: seen before
            self.duplicates += 1
            return
        self.received[index] = at
        self.delivered += 1
        with contextlib.suppress(ValueError):
            self.event_ms[index] = int(event_id.partition("-")[0])


def percentiles(values: list[float]) -> dict[str, float | None]:
    """Nearest-rank percentiles in milliseconds."""
    data = sorted(v for v in values if v == v)
    if not data:
        return {"n": 0, "p50": None, "p90": None, "p99": None, "p99_9": None, "max": None,
                "mean": None}

    def rank(p: float) -> float:
        return data[min(len(data) - 1, max(0, math.ceil(p / 100 * len(data)) - 1))] * 1000

    return {"n": len(data), "p50": rank(50), "p90": rank(90), "p99": rank(99),
            "p99_9": rank(99.9), "max": data[-1] * 1000, "mean": sum(data) / len(data) * 1000}


# -- agent socket ---------------------------------------------------------------------------


class _Msg(msgspec.Struct):
    text: str = ""


class _Event(msgspec.Struct):
    type: str
    message: _Msg | None = None


class _Frame(msgspec.Struct):
    type: str
    id: str = ""
    event: _Event | None = None
    code: str = ""


_decode_frame = msgspec.json.Decoder(_Frame).decode


class AgentSocket:
    """One agent websocket; reconnects with ``last_id`` if the server closes it."""

    def __init__(self, url: str, origin: str, cookie: str | None) -> None:
        self.url, self.origin, self.cookie = url, origin, cookie
        self.phases: dict[str, Phase] = {}
        self.last_id = ""
        self.closes: list[dict[str, Any]] = []
        self.frames = 0
        self.other_bench_frames = 0
        self.extensions = ""
        self._ready = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="agent-socket")
        async with asyncio.timeout(15):
            await self._ready.wait()

    async def stop(self) -> None:
        self._stopping = True
        if self._task:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    async def _run(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        while not self._stopping:
            url = self.url + (f"?last_id={self.last_id}" if self.last_id else "")
            headers = {"Cookie": f"oh_session={self.cookie}"} if self.cookie else {}
            try:
                async with connect(url, origin=self.origin, additional_headers=headers,  # type: ignore[arg-type]
                                   proxy=None, max_queue=None, max_size=2**22,
                                   open_timeout=10) as ws:
                    if ws.response is not None:
                        self.extensions = ws.response.headers.get("Sec-WebSocket-Extensions",
                                                                  "")
                    perf = time.perf_counter
                    phases = self.phases
                    async for raw in ws:
                        at = perf()
                        self.frames += 1
                        frame = _decode_frame(raw)
                        if frame.type == "hello":
                            self._ready.set()
                            continue
                        if frame.type != "event" or frame.event is None:
                            continue
                        self.last_id = frame.id or self.last_id
                        msg = frame.event.message
                        if frame.event.type != "message.created" or msg is None:
                            continue
                        parts = msg.text.split(" ")
                        if len(parts) != 3 or parts[0] != "bench":
                            continue
                        phase = phases.get(parts[1])
                        if phase is None:
                            self.other_bench_frames += 1
                        else:
                            phase.on_delivered(int(parts[2]), at, frame.id)
            except ConnectionClosed as exc:
                rcvd = exc.rcvd
                self.closes.append({"at": time.perf_counter(),
                                    "code": rcvd.code if rcvd else None,
                                    "reason": rcvd.reason if rcvd else ""})
                log(f"agent socket closed ({rcvd.code if rcvd else '-'}); resuming "
                    f"after {self.last_id or 'tail'}")
            except (OSError, TimeoutError) as exc:
                if self._stopping:
                    return
                self.closes.append({"at": time.perf_counter(), "code": None,
                                    "reason": repr(exc)})
                log(f"agent socket error {exc!r}; reconnecting")
                await asyncio.sleep(0.2)


# -- CPU accounting -------------------------------------------------------------------------


def _stat(pid: int) -> list[bytes]:
    """Fields of /proc/<pid>/stat after the command name (index 0 = state)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return []


class CpuMeter:
    """CPU per component between two snapshots (postgres = postmaster + backends), and
    what every other process on the machine used meanwhile."""

    def __init__(self, pids: dict[str, int], with_children: set[str]) -> None:
        self.pids = dict(pids)
        self.pids["driver"] = os.getpid()
        self.with_children = with_children

    def snapshot(self) -> tuple[float, dict[str, dict[Any, int]]]:
        """Ticks per component from one pass over /proc. A process tree (postgres) counts
        the parent, its live children, and the children it has reaped (cutime/cstime), so
        backends that come and go between two snapshots are counted exactly once. Every
        other process is recorded by pid (``_OTHERS``)."""
        procs: dict[int, tuple[int, int, int]] = {}  # pid -> (ppid, own, reaped children)
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                fields = _stat(int(entry))
                if len(fields) >= 15:
                    own = int(fields[11]) + int(fields[12])
                    procs[int(entry)] = (int(fields[1]), own, int(fields[13]) + int(fields[14]))
        ours = {*self.pids.values(), os.getppid()}  # the orchestrator (bench.core) too
        snap: dict[str, dict[Any, int]] = {}
        for name, pid in self.pids.items():
            _, own, reaped = procs.get(pid, (0, 0, 0))
            ticks = own
            if name in self.with_children:
                kids = [p for p, v in procs.items() if v[0] == pid]
                ours.update(kids)
                ticks += reaped + sum(procs[k][1] for k in kids)
            snap[name] = {"ticks": ticks}
        snap[_OTHERS] = {p: v[1] for p, v in procs.items() if p not in ours}
        snap[_MACHINE] = _machine_ticks()
        return time.perf_counter(), snap

    @staticmethod
    def usage(a: tuple[float, dict[str, dict[Any, int]]],
              b: tuple[float, dict[str, dict[Any, int]]]) -> dict[str, float]:
        """Percent of one CPU per component; ``total`` is ours; ``other`` what the rest
        of the machine's processes used (their own counters; a process that exited
        meanwhile is missed); ``machine`` is /proc/stat's busy time (tick-sampled, so it
        under-reads short bursts); ``steal`` time the hypervisor gave our vCPUs to
        someone else."""
        wall = max(1e-9, b[0] - a[0])

        def pct(ticks: int) -> float:
            return round(100.0 * ticks / CLK_TCK / wall, 1)

        out: dict[str, float] = {}
        for name, after in b[1].items():
            if name in (_MACHINE, _OTHERS):
                continue
            out[name] = pct(after["ticks"] - a[1].get(name, {}).get("ticks", 0))
        out["total"] = round(sum(out.values()), 1)
        before = a[1][_OTHERS]
        others = pct(sum(t - before.get(p, 0) for p, t in b[1][_OTHERS].items()))
        m0, m1 = a[1][_MACHINE], b[1][_MACHINE]
        out["machine"] = pct(m1["busy"] - m0["busy"])
        out["other"] = others
        # Tick-sampled machine time not attributed to any process we saw (kernel threads
        # that came and went, writeback, sampling error): informative only.
        out["unattributed"] = round(max(out["machine"] - out["total"] - others, 0.0), 1)
        out["steal"] = pct(m1["steal"] - m0["steal"])
        return out


    @staticmethod
    def top_others(a: tuple[float, dict[str, dict[Any, int]]],
                   b: tuple[float, dict[str, dict[Any, int]]], n: int = 3) -> list[str]:
        """The other processes that used the most CPU between two snapshots."""
        wall = max(1e-9, b[0] - a[0])
        before = a[1][_OTHERS]
        deltas = sorted(((t - before.get(p, 0), p) for p, t in b[1][_OTHERS].items()),
                        reverse=True)[:n]
        out = []
        for ticks, pid in deltas:
            if ticks <= 0:
                break
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                cmd = "?"
            out.append(f"{100.0 * ticks / CLK_TCK / wall:.0f}% pid {pid} {cmd[:80]}")
        return out


_OTHERS = "__others__"
_MACHINE = "__machine__"


def _machine_ticks() -> dict[Any, int]:
    """Busy and steal jiffies of the whole machine (first line of /proc/stat)."""
    try:
        with open("/proc/stat", "rb") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return {"busy": 0, "steal": 0}
    # user nice system idle iowait irq softirq steal (guest is inside user)
    return {"busy": v[0] + v[1] + v[2] + v[5] + v[6], "steal": v[7] if len(v) > 7 else 0}


# -- running phases ---------------------------------------------------------------------------


def log(text: str) -> None:
    print(f"  [driver] {text}", file=sys.stderr, flush=True)


class Driver:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.gen = PostGenerator(spec["host"], spec["port"], spec["path"], spec.get("token", ""),
                                 spec["connections"], spec["customers"])
        self.socket = AgentSocket(spec["ws_url"], spec["origin"], spec.get("cookie"))
        self.cpu = CpuMeter({k: int(v) for k, v in spec.get("pids", {}).items()},
                            set(spec.get("pids_with_children", [])))
        self.db: Any = None
        self.run_id = spec["run_id"]
        self._phase_no = 0

    async def __aenter__(self) -> Driver:
        if self.spec.get("database_url"):
            import asyncpg

            self.db = await asyncpg.connect(self.spec["database_url"])
        await self.socket.start()
        await self.gen.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.gen.closing = True
        self.gen.close()
        await self.socket.stop()
        if self.db is not None:
            await self.db.close()

    async def add_history(self, rows: int) -> dict[str, Any]:
        """Make the database look like a hub that has been running: ``rows`` older
        messages spread over the open conversations, then VACUUM (ANALYZE) (statistics
        and visibility map as autovacuum keeps them on a live system). Without this, a fresh database's plans
        are made for near-empty tables and stay cached until the first auto-analyze."""
        out: dict[str, Any] = {"rows": 0}
        t = time.perf_counter()
        try:
            if rows:
                convs = await self.db.fetchval("SELECT array_agg(id) FROM conversations")
                await self.db.execute(
                    "INSERT INTO messages (conversation_id, channel, channel_account,"
                    " provider_id, direction, author_kind, text, created_at)"
                    " SELECT ($2::bigint[])[1 + g % cardinality($2::bigint[])], 'api', $3,"
                    " 'history-' || g, 'in', 'contact', 'earlier message ' || g,"
                    " now() - interval '1 day'"
                    " FROM generate_series(1, $1) AS g",
                    rows, convs, self.spec.get("inbox", "api"))
                out["rows"] = rows
        except Exception as exc:  # the schema moved on: measure without history
            out["error"] = f"{type(exc).__name__}: {exc}"
            log(f"could not add history rows ({out['error']}); continuing without")
        # VACUUM too: otherwise the insert-triggered autovacuum of 200k new rows lands in
        # the middle of the measured phases.
        await self.db.execute("VACUUM (ANALYZE)")
        out["seconds"] = round(time.perf_counter() - t, 2)
        log(f"history: {out['rows']} earlier messages + VACUUM (ANALYZE) in "
            f"{out['seconds']}s")
        return out

    async def autovacuum_counts(self) -> dict[str, tuple[int, int]]:
        """(autovacuum, autoanalyze) runs per table so far: the phases say which ran."""
        if self.db is None:
            return {}
        rows = await self.db.fetch(
            "SELECT relname, autovacuum_count, autoanalyze_count FROM pg_stat_user_tables")
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    async def count_stored(self, tag: str) -> int | None:
        if self.db is None:
            return None
        n = await self.db.fetchval(
            "SELECT count(*) FROM messages WHERE channel = 'api' AND channel_account = $1"
            " AND provider_id LIKE $2",
            self.spec.get("inbox", "api"), tag + "-%",
        )
        return int(n)

    async def run_phase(self, name: str, rate: float, duration: float, *,
                        deliver_within: float, extra_wait: float) -> dict[str, Any]:
        self._phase_no += 1
        tag = f"{self.run_id}p{self._phase_no}"
        phase = Phase(tag=tag, name=name, rate=rate, duration=duration)
        self.socket.phases[tag] = phase
        closes_before = len(self.socket.closes)
        await self.gen.reopen()
        autovacuum_before = await self.autovacuum_counts()
        reconnects_before = self.gen.reconnects
        cpu_start = self.cpu.snapshot()
        loop_lag_max = 0.0
        perf = time.perf_counter
        t0 = perf() + 0.005
        phase.t0 = t0
        n = phase.n
        sched = phase.sched
        for i in range(n):
            sched[i] = t0 + i / rate
        i = 0
        gen = self.gen
        while i < n:
            now = perf()
            due = min(n, math.floor((now - t0) * rate) + 1)
            if due > i:
                loop_lag_max = max(loop_lag_max, now - sched[i])
            while i < due:
                gen.dispatch(phase, i)
                i += 1
            if i < n:
                # uvloop's timers have 1 ms resolution: a shorter sleep returns at once
                # and the loop would spin. Messages due meanwhile go out together; their
                # latency still counts from their due time.
                await asyncio.sleep(max(0.001, sched[i] - perf()))
        t_end = t0 + n / rate
        # Answers: wait for all of them (a stuck request is an error, not a wait forever).
        answer_deadline = t_end + deliver_within + extra_wait
        while phase.answered_count < n and perf() < answer_deadline:
            await asyncio.sleep(0.01)
        phase.accepting = False
        # Delivery: every 202'd message on the socket within deliver_within of t_end.
        deadline = t_end + deliver_within
        while perf() < deadline and not self._all_delivered(phase):
            await asyncio.sleep(0.01)
        cpu_end = self.cpu.snapshot()
        if not self._all_delivered(phase):
            late_deadline = deadline + extra_wait
            while perf() < late_deadline and not self._all_delivered(phase):
                await asyncio.sleep(0.05)
        stored = await self.count_stored(tag)
        result = self._summarise(phase, t_end, stored, cpu_start, cpu_end,
                                 closes_before, reconnects_before, loop_lag_max)
        after = await self.autovacuum_counts()
        ran = []
        for table, (vacuums, analyzes) in sorted(after.items()):
            v0, a0 = autovacuum_before.get(table, (0, 0))
            kinds = [k for k, n in (("vacuum", vacuums - v0), ("analyze", analyzes - a0)) if n]
            if kinds:
                ran.append(f"{table} ({'+'.join(kinds)})")
        result["autovacuum_ran"] = ran  # finished during the phase (or its drain)
        return result

    @staticmethod
    def _all_delivered(phase: Phase) -> bool:
        return phase.answered_count >= phase.n and phase.delivered >= phase.ok_count

    @staticmethod
    def _stages(phase: Phase, ok: list[int]) -> dict[str, Any]:
        """Where the latency goes, from the stream ids' wall-clock ms (1 ms resolution;
        same machine, so Valkey's clock is ours). For the floor both ids are the same
        stream's, so the middle stage is 0."""
        offset = time.time() - time.perf_counter()
        post, middle, out = [], [], []
        for i in ok:
            ing, ev, rcv = phase.ingest_ms[i], phase.event_ms[i], phase.received[i]
            if not ing or not ev or rcv != rcv:
                continue
            post.append((ing - (phase.sched[i] + offset) * 1000) / 1000)
            middle.append((ev - ing) / 1000)
            out.append(((rcv + offset) * 1000 - ev) / 1000)
        return {
            "due_to_ingest_xadd": percentiles(post),
            "ingest_xadd_to_event_xadd": percentiles(middle),
            "event_xadd_to_socket": percentiles(out),
        }

    def _summarise(self, phase: Phase, t_end: float, stored: int | None,
                   cpu_start: Any, cpu_end: Any, closes_before: int,
                   reconnects_before: int, loop_lag_max: float) -> dict[str, Any]:
        n = phase.n
        ok = [i for i in range(n) if phase.status[i] == 202]
        statuses: dict[str, int] = collections.Counter(str(s) for s in phase.status)
        last_ok = max((phase.answered[i] for i in ok), default=phase.t0)
        achieved = len(ok) / max(1e-9, last_ok - phase.t0) if ok else 0.0
        e2e = [phase.received[i] - phase.sched[i] for i in ok]
        e2e_sent = [phase.received[i] - phase.sent[i] for i in ok]
        http = [phase.answered[i] - phase.sched[i] for i in ok]
        send_lag = [phase.sent[i] - phase.sched[i] for i in range(n)]
        delivered_ok = sum(1 for i in ok if phase.received[i] == phase.received[i])
        in_time_ok = sum(1 for i in ok if phase.received[i] <= t_end + self.spec["deliver_within"])
        lag = percentiles(send_lag)
        stages = self._stages(phase, ok)
        reasons = []
        if achieved < 0.97 * phase.rate:
            reasons.append(f"achieved {achieved:.0f}/s < 97% of {phase.rate:.0f}/s")
        if len(ok) != n:
            reasons.append(f"{n - len(ok)} of {n} POSTs not answered 202 ({dict(statuses)})")
        if in_time_ok != len(ok):
            reasons.append(f"{len(ok) - in_time_ok} accepted messages not on the agent socket "
                           f"within {self.spec['deliver_within']:.0f}s "
                           f"({len(ok) - delivered_ok} never arrived)")
        if stored is not None and stored != len(ok):
            reasons.append(f"{stored} rows in messages for {len(ok)} accepted")
        if phase.duplicates:
            reasons.append(f"{phase.duplicates} duplicate deliveries")
        closes = self.socket.closes[closes_before:]
        result = {
            "name": phase.name,
            "tag": phase.tag,
            "offered_rate": phase.rate,
            "duration_s": phase.duration,
            "messages": n,
            "accepted": len(ok),
            "statuses": dict(statuses),
            "achieved_rate": round(achieved, 1),
            "delivered": delivered_ok,
            "delivered_in_time": in_time_ok,
            "never_delivered": len(ok) - delivered_ok,
            "duplicates": phase.duplicates,
            "stored": stored,
            "latency_ms": percentiles(e2e),
            "latency_from_actual_send_ms": percentiles(e2e_sent),
            "http_202_ms": percentiles(http),
            "stages_ms": stages,
            "send_lag_ms": lag,
            "scheduler_lag_max_ms": round(loop_lag_max * 1000, 2),
            "socket_closes": [{"code": c["code"], "reason": c["reason"]} for c in closes],
            "http_reconnects": self.gen.reconnects - reconnects_before,
            "cpu_percent": CpuMeter.usage(cpu_start, cpu_end),
            "other_top": CpuMeter.top_others(cpu_start, cpu_end),
            "passed": not reasons,
            "failures": reasons,
        }
        self.socket.phases.pop(phase.tag, None)
        return result


def _brief(r: dict[str, Any]) -> str:
    lat = r["latency_ms"]
    p50 = "-" if lat["p50"] is None else f"{lat['p50']:.1f}"
    p99 = "-" if lat["p99"] is None else f"{lat['p99']:.1f}"
    verdict = "ok" if r["passed"] else "FAIL: " + "; ".join(r["failures"])
    return (f"{r['name']:<12} offered {r['offered_rate']:>6.0f}/s achieved "
            f"{r['achieved_rate']:>7.0f}/s  p50 {p50:>7} ms  p99 {p99:>7} ms  "
            f"delivered {r['delivered']}/{r['accepted']} stored {r['stored']}  "
            f"send-lag p99 {r['send_lag_ms']['p99'] or 0:.1f} ms  cpu {r['cpu_percent']}  "
            f"{verdict}")


async def drive(spec: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    budget = float(spec.get("budget_s", 1e9))
    out: dict[str, Any] = {"phases": [], "steps": [], "max_sustained_rate": None,
                           "stopped_because": ""}
    common = {"deliver_within": spec["deliver_within"], "extra_wait": spec["extra_wait"]}
    async with Driver(spec) as driver:
        out["ws_extensions"] = driver.socket.extensions
        for item in spec["phases"]:
            r = await driver.run_phase(item["name"], item["rate"], item["duration"], **common)
            log(_brief(r))
            out["phases"].append(r)
            if item["name"] == "warm-up" and spec.get("analyze_after_warmup") and driver.db:
                out["history"] = await driver.add_history(spec.get("history_rows", 0))
            await asyncio.sleep(spec.get("pause_s", 1.0))
        for rate in spec["steps"]:
            if time.monotonic() - started > budget:
                out["stopped_because"] = f"time budget of {budget:.0f}s used up"
                log(out["stopped_because"])
                break
            r = await driver.run_phase(f"step {rate}", rate, spec["step_s"], **common)
            log(_brief(r))
            out["steps"].append(r)
            if not r["passed"]:
                out["stopped_because"] = f"step {rate}/s failed: " + "; ".join(r["failures"])
                break
            out["max_sustained_rate"] = rate
            await asyncio.sleep(spec.get("pause_s", 1.0))
        else:
            out["stopped_because"] = "every step passed (the highest step is a lower bound)"
        out["socket_closes_total"] = len(driver.socket.closes)
        out["socket_frames"] = driver.socket.frames
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m bench.loadgen SPEC.json RESULT.json", file=sys.stderr)
        return 2
    with open(args[0]) as f:
        spec = json.load(f)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        result = asyncio.run(drive(spec))
    else:
        result = uvloop.run(drive(spec))
    with open(args[1], "w") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
