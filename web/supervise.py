"""Keep ``make dev``'s children running, as a process supervisor would.

A child that exits on its own (a crash, an OOM kill) is restarted after a backoff:
0.5 s, doubling to at most 30 s; a child that then stays up for 60 s counts as healthy
again (the next crash waits 0.5 s). Every exit and restart is logged. The rest of the
stack keeps running meanwhile: one crashed worker no longer takes the hub down.

``Supervisor.poll(now)`` is the whole policy, driven by the caller's loop and clock,
so a test can drive it with a real crashing child and its own clock.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    initial_s: float = 0.5
    max_s: float = 30.0
    healthy_after_s: float = 60.0  # up this long: the crash count starts again

    def delay(self, crashes: int) -> float:
        """Wait before the restart after the ``crashes``-th crash in a row (1-based)."""
        return min(self.max_s, self.initial_s * 2 ** max(0, crashes - 1))


@dataclass(slots=True)
class _Child:
    name: str
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    crashes: int = 0            # in a row, since it was last healthy
    restart_at: float | None = None


class Supervisor:
    def __init__(self, names: Iterable[str],
                 spawn: Callable[[str], subprocess.Popen[bytes]],
                 say: Callable[[str], None], backoff: Backoff | None = None) -> None:
        self.children = {name: _Child(name) for name in names}
        self.spawn = spawn
        self.say = say
        self.backoff = backoff or Backoff()
        self.restarts = 0

    def start(self, now: float) -> None:
        for child in self.children.values():
            self._start(child, now)

    def _start(self, child: _Child, now: float) -> None:
        child.proc = self.spawn(child.name)
        child.started_at = now
        child.restart_at = None

    def poll(self, now: float) -> None:
        """Notice exits, schedule and perform restarts, forget old crashes."""
        for child in self.children.values():
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self.restarts += 1
                    self.say(f"restarting `omnihub {child.name}` (crash {child.crashes})")
                    self._start(child, now)
                continue
            proc = child.proc
            if proc is None:
                continue
            code = proc.poll()
            if code is None:
                if child.crashes and now - child.started_at >= self.backoff.healthy_after_s:
                    child.crashes = 0
                continue
            if now - child.started_at >= self.backoff.healthy_after_s:
                child.crashes = 0
            child.crashes += 1
            wait = self.backoff.delay(child.crashes)
            child.restart_at = now + wait
            self.say(f"`omnihub {child.name}` exited with code {code}; restarting it in"
                     f" {wait:g}s (see the log above)")

    def processes(self) -> dict[str, subprocess.Popen[bytes]]:
        return {c.name: c.proc for c in self.children.values() if c.proc is not None}
