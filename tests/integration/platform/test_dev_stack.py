"""make dev's stack: a crashed child is restarted with backoff while the others keep
running (web/supervise.py), and arq's per-run lines of cron jobs stay out of the
terminal unless OMNIHUB_LOG_LEVEL=debug (web/logs.py)."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from pathlib import Path

from web.logs import QuietCronRuns, configure_logging
from web.supervise import Backoff, Supervisor

CRASH = "import sys; open(sys.argv[1], 'a').write('start\\n'); sys.exit(3)"
STEADY = "import sys, time; open(sys.argv[1], 'a').write('start\\n'); time.sleep(600)"


def _spawner(tmp: Path, procs: list[subprocess.Popen[bytes]]):
    def spawn(name: str) -> subprocess.Popen[bytes]:
        code = CRASH if name == "crashy" else STEADY
        proc = subprocess.Popen([sys.executable, "-c", code, str(tmp / name)])
        procs.append(proc)
        return proc
    return spawn


def test_a_crashing_child_is_restarted_with_doubling_backoff_and_the_rest_keeps_running(
        tmp_path: Path) -> None:
    said: list[str] = []
    procs: list[subprocess.Popen[bytes]] = []
    sup = Supervisor(["crashy", "steady"], _spawner(tmp_path, procs), said.append)
    try:
        now = 0.0
        sup.start(now)
        steady = sup.children["steady"].proc
        delays = []
        for _ in range(9):
            crashy = sup.children["crashy"]
            assert crashy.proc is not None
            assert crashy.proc.wait(30) == 3          # it crashed (a real process)
            now += 0.1
            sup.poll(now)                              # noticed: restart scheduled
            assert crashy.restart_at is not None
            delays.append(round(crashy.restart_at - now, 3))
            sup.poll(crashy.restart_at - 0.01)         # not before its time
            assert crashy.restart_at is not None
            now = crashy.restart_at
            sup.poll(now)                              # restarted
            assert crashy.restart_at is None
        assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
        last = sup.children["crashy"].proc
        assert last is not None and last.wait(30) == 3  # the 10th start ran too
        assert (tmp_path / "crashy").read_text().count("start") == 10
        # The other child was never touched.
        assert sup.children["steady"].proc is steady and steady.poll() is None
        assert (tmp_path / "steady").read_text().count("start") == 1
        assert any("`omnihub crashy` exited with code 3; restarting it in 0.5s" in s
                   for s in said)
        assert sup.restarts == 9
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()


def test_a_child_that_stayed_up_for_a_minute_starts_again_at_the_short_delay(
        tmp_path: Path) -> None:
    said: list[str] = []
    procs: list[subprocess.Popen[bytes]] = []
    sup = Supervisor(["steady"], _spawner(tmp_path, procs), said.append,
                     Backoff(initial_s=0.5, max_s=30.0, healthy_after_s=60.0))
    try:
        sup.start(0.0)
        child = sup.children["steady"]
        child.crashes = 5                       # it had been crashing before
        sup.poll(61.0)                          # up for more than a minute: healthy
        assert child.crashes == 0
        assert child.proc is not None
        child.proc.send_signal(signal.SIGKILL)  # then it is killed (OOM, kill -9)
        child.proc.wait(30)
        sup.poll(62.0)
        assert child.restart_at == 62.5
        assert "exited with code -9" in said[-1]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()


def _arq_lines() -> list[logging.LogRecord]:
    """Records as arq.worker logs them (arq/worker.py: ref = job_id:function)."""
    mk = logging.getLogger("arq.worker").makeRecord
    cron = "cron:sweep_stuck_bots:1700000000123:sweep_stuck_bots"
    job = "omnihub:originate:7:3:originate_callback"
    return [
        mk("arq.worker", logging.INFO, __file__, 1, "%6.2fs → %s(%s)%s", (0.5, cron, "", ""),
           None),
        mk("arq.worker", logging.INFO, __file__, 1, "%6.2fs ← %s ● %s", (0.01, cron, "0"),
           None),
        mk("arq.worker", logging.INFO, __file__, 1, "%6.2fs → %s(%s)%s", (0.0, job, "7, 3", ""),
           None),
        mk("arq.worker", logging.ERROR, __file__, 1, "%6.2fs ! %s failed", (0.1, cron), None),
    ]


def test_arq_cron_runs_are_quiet_by_default_and_shown_at_debug() -> None:
    arq_log = logging.getLogger("arq.worker")
    before = list(arq_log.filters)
    try:
        configure_logging("worker", {})
        kept = [r for r in _arq_lines() if arq_log.filter(r)]
        # Only the ordinary job's line and the cron job's error remain.
        assert [r.levelno for r in kept] == [logging.INFO, logging.ERROR]
        assert "originate_callback" in kept[0].getMessage()
        configure_logging("worker", {"OMNIHUB_LOG_LEVEL": "debug"})
        assert all(arq_log.filter(r) for r in _arq_lines())
        configure_logging("worker", {"OMNIHUB_LOG_LEVEL": "info"})
        assert sum(isinstance(f, QuietCronRuns) for f in arq_log.filters) == 1
    finally:
        arq_log.filters[:] = before


def _devpbx_env(**extra: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIHUB_")}
    env.update(OMNIHUB_SECRET_KEY="k" * 32, OMNIHUB_PUBLIC_URL="http://127.0.0.1:9",
               OMNIHUB_LOG_LEVEL="info", **extra)
    return env


def test_omnihub_devpbx_needs_its_address() -> None:
    done = subprocess.run([sys.executable, "-m", "web.cli", "devpbx"], env=_devpbx_env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "OMNIHUB_DEV_PBX_LISTEN" in done.stderr


async def test_omnihub_devpbx_accepts_the_demo_originators_login() -> None:
    """The command make dev runs: it binds (port 0 here), says where, and accepts the
    AMI login the seed gives the demo originator."""
    import asyncio
    import re

    from channels.cti.ami import encode_packet, read_packet
    from hub.config import settings_from_env
    from web.seed import demo_ami_secret

    env = _devpbx_env(OMNIHUB_DEV_PBX_LISTEN="127.0.0.1:0")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "web.cli", "devpbx", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stderr is not None
        async with asyncio.timeout(60):
            while True:
                line = (await proc.stderr.readline()).decode()
                assert line, "devpbx exited before listening"
                m = re.search(r"AMI on 127\.0\.0\.1:(\d+)", line)
                if m:
                    break
        reader, writer = await asyncio.open_connection("127.0.0.1", int(m.group(1)))
        try:
            assert (await reader.readline()).startswith(b"Asterisk Call Manager/")
            secret = demo_ami_secret(settings_from_env(env))
            writer.write(encode_packet([("Action", "Login"), ("ActionID", "l1"),
                                        ("Username", "omnihub"), ("Secret", secret)]))
            await writer.drain()
            async with asyncio.timeout(30):
                assert (await read_packet(reader))["Response"] == "Success"
        finally:
            writer.close()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            assert await proc.wait() == 0
