"""Agent sockets outlive nothing their session does not. Every ``interval_s`` one query
checks the sessions behind all of this process's agent sockets; a socket whose session
has ended (logged out elsewhere, expired, the agent deactivated or given a new password)
is closed with 1008 and must log in again. One query per process, however many sockets."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg

log = logging.getLogger("omnihub.realtime")
CLOSE_REASON = "session ended: log in again"


class SessionGuard:
    def __init__(self, pool: asyncpg.Pool, interval_s: float = 30.0) -> None:
        self.pool = pool
        self.interval_s = interval_s
        self._watched: dict[int, tuple[str, Callable[[int, str], None]]] = {}
        self._next = 0

    def watch(self, token_hash: str, close: Callable[[int, str], None]) -> int:
        self._next += 1
        self._watched[self._next] = (token_hash, close)
        return self._next

    def unwatch(self, handle: int) -> None:
        self._watched.pop(handle, None)

    async def check_once(self) -> int:
        """Close the sockets whose session is gone; returns how many."""
        if not self._watched:
            return 0
        watched = list(self._watched.items())
        rows = await self.pool.fetch(
            "SELECT s.token_hash FROM sessions s JOIN agents a ON a.id = s.agent_id"
            " WHERE s.token_hash = ANY($1::text[]) AND s.expires_at > now() AND a.active",
            list({h for _, (h, _) in watched}))
        valid = {r[0] for r in rows}
        closed = 0
        for handle, (token_hash, close) in watched:
            if token_hash not in valid and self._watched.pop(handle, None) is not None:
                close(1008, CLOSE_REASON)
                closed += 1
        return closed

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                n = await self.check_once()
                if n:
                    log.info("closed %d agent sockets whose session ended", n)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("session check failed (will retry): %s", exc)
