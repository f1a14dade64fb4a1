"""Open agent sockets lose access the moment REST does (docs/realtime.md, "Access on open
agent sockets").

Every web process keeps its agent sockets here, by agent and by login session. A change
to an agent (inboxes, role, deactivation, new password) or the end of a session (logout)
is announced on the Redis pub/sub channel ``<prefix>agent-access``, so it reaches the
sockets of every web process. Each process re-reads the affected sockets' sessions (one
query) and

- closes those whose session ended with 1008 "session ended: log in again";
- moves the others' subscriptions to the agent's current access (a demoted supervisor
  loses the every-event subscription, queue stats included; a removed inbox's events
  stop, queued ones too) and sends ``{"type":"reload","reason":"access_changed"}``.

Every socket action re-reads the session as well, so a lost announcement never lets a
socket do what REST would refuse. Each socket re-reads its session when the session
expires (a timer), and a sweep every ``sweep_s`` (and after the channel reconnects)
catches lost announcements for the subscriptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING

import redis.asyncio as aioredis

from hub import access
from hub.agents.store import load_session_agents
from hub.config import Settings
from hub.db.errors import DB_ERRORS
from hub.errors import Unauthorized
from hub.schema import Agent
from web.realtime.fanout import Fanout
from web.realtime.session import SocketSession

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger("omnihub.realtime")

CLOSE_CODE = 1008
CLOSE_REASON = "session ended: log in again"
SWEEP_S = 30.0
_reads = itertools.count(1)


def access_channel(settings: Settings) -> str:
    return settings.key_prefix + "agent-access"


async def announce_access_change(redis: aioredis.Redis, settings: Settings, *,
                                 agent_id: int | None = None,
                                 token_hash: str | None = None) -> None:
    """Tell every web process that an agent's access or one session changed. Best effort:
    the per-action check and the sweep cover a lost announcement."""
    notice = {"agent_id": agent_id} if agent_id is not None else {"session": token_hash}
    try:
        await redis.publish(access_channel(settings), json.dumps(notice))
    except (OSError, aioredis.RedisError) as exc:
        log.warning("could not announce an access change (the sweep will): %r", exc)


def visible_inboxes(agent: Agent) -> frozenset[str] | None:
    """What an agent socket subscribes to: None = every event (supervisors, admins)."""
    return access.visible_inboxes(agent)


class AgentSocket:
    """One open ``/ws/agent`` socket: its session and the agent as last read."""

    __slots__ = ("agent", "expires_at", "expiry", "live", "read_seq", "session", "token_hash")

    def __init__(self, session: SocketSession, token_hash: str, agent: Agent) -> None:
        self.session = session
        self.token_hash = token_hash
        self.agent = agent
        self.live = True
        # The newest session read applied: an older read finishing later is ignored.
        self.read_seq = 0
        self.expires_at: datetime | None = None
        self.expiry: asyncio.TimerHandle | None = None  # re-read when the session expires


class AgentAccess:
    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings,
                 fanout: Fanout, sweep_s: float = SWEEP_S) -> None:
        self.pool = pool
        self.redis = redis
        self.settings = settings
        self.fanout = fanout
        self.sweep_s = sweep_s
        self._by_agent: defaultdict[int, set[AgentSocket]] = defaultdict(set)
        self._by_token: defaultdict[str, set[AgentSocket]] = defaultdict(set)
        self._tasks: list[asyncio.Task[None]] = []
        self._expiry_checks: set[asyncio.Task[int]] = set()
        self.listening = asyncio.Event()

    # ---- registry -------------------------------------------------------------------

    def register(self, sock: AgentSocket) -> None:
        self._by_agent[sock.agent.id].add(sock)
        self._by_token[sock.token_hash].add(sock)

    def unregister(self, sock: AgentSocket) -> None:
        sock.live = False
        if sock.expiry is not None:
            sock.expiry.cancel()
        _discard(self._by_agent, sock.agent.id, sock)
        _discard(self._by_token, sock.token_hash, sock)

    def sockets(self) -> list[AgentSocket]:
        return [s for socks in self._by_agent.values() for s in socks]

    # ---- checks ---------------------------------------------------------------------

    async def recheck(self, socks: list[AgentSocket]) -> int:
        """Re-read the sessions behind ``socks`` and apply them; returns how many closed."""
        if not socks:
            return 0
        seq = next(_reads)
        found = await load_session_agents(self.pool, sorted({s.token_hash for s in socks}))
        return sum(1 for s in socks if not self._apply(s, found.get(s.token_hash), seq))

    async def acting_agent(self, sock: AgentSocket) -> Agent:
        """The agent as of now, for one socket action; raises Unauthorized (and closes the
        socket) when the session ended."""
        seq = next(_reads)
        found = await load_session_agents(self.pool, [sock.token_hash])
        read = found.get(sock.token_hash)
        self._apply(sock, read, seq)
        if read is None or not sock.live:
            raise Unauthorized(CLOSE_REASON, code="session_ended")
        return read[0]

    async def check_all(self) -> int:
        return await self.recheck(self.sockets())

    def _apply(self, sock: AgentSocket, read: tuple[Agent, datetime] | None, seq: int) -> bool:
        """Apply one session read to a socket; False when the socket is (now) closed."""
        if not sock.live:
            return False
        if seq < sock.read_seq:
            return True  # a newer read was applied already
        sock.read_seq = seq
        if read is None:
            self.unregister(sock)
            sock.session.close_with(CLOSE_CODE, CLOSE_REASON)
            return False
        agent, expires_at = read
        if expires_at != sock.expires_at:
            self._watch_expiry(sock, expires_at)
        inboxes = visible_inboxes(agent)
        sub = sock.session.sub
        if inboxes != sub.inboxes:
            self.fanout.resubscribe(sub, inboxes)
            sock.session.send_control({"type": "reload", "reason": "access_changed"})
        sock.agent = agent
        return True

    def _watch_expiry(self, sock: AgentSocket, expires_at: datetime) -> None:
        if sock.expiry is not None:
            sock.expiry.cancel()
        sock.expires_at = expires_at
        delay = expires_at.timestamp() - time.time() + 0.05
        sock.expiry = asyncio.get_running_loop().call_later(
            max(0.0, delay), self._expired, sock)

    def _expired(self, sock: AgentSocket) -> None:
        sock.expiry = None
        sock.expires_at = None  # re-arm even if the clocks disagree and it is still valid
        task = asyncio.create_task(self.recheck([sock]))
        self._expiry_checks.add(task)
        task.add_done_callback(self._expiry_done)

    def _expiry_done(self, task: asyncio.Task[int]) -> None:
        self._expiry_checks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The sweep will retry; nothing else waits on this task.
            log.warning("session expiry check failed: %r", task.exception())

    # ---- background -----------------------------------------------------------------

    async def _on_notice(self, data: bytes) -> None:
        try:
            notice = json.loads(data)
            agent_id, session = notice.get("agent_id"), notice.get("session")
        except (ValueError, AttributeError):
            log.warning("ignoring a malformed access notice")
            return
        if isinstance(agent_id, int):
            socks = list(self._by_agent.get(agent_id, ()))
        elif isinstance(session, str):
            socks = list(self._by_token.get(session, ()))
        else:
            return
        closed = await self.recheck(socks)
        if closed:
            log.info("closed %d agent sockets whose session ended", closed)

    async def listen(self) -> None:
        """Follow the access channel; after a reconnect re-check every socket, since
        announcements sent meanwhile are lost."""
        missed = False
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(access_channel(self.settings))
                self.listening.set()
                if missed:
                    await self.check_all()
                while True:
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                    if msg is not None and msg.get("type") == "message":
                        try:
                            await self._on_notice(msg["data"])
                        except (OSError, *DB_ERRORS):
                            # Postgres hiccup: the sweep and the next action re-check.
                            log.warning("access notice not applied", exc_info=True)
            except (OSError, aioredis.RedisError) as exc:
                log.warning("access channel failed, retrying: %r", exc)
                missed = True
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def sweep(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_s)
            try:
                closed = await self.check_all()
                if closed:
                    log.info("closed %d agent sockets whose session ended", closed)
            except (OSError, *DB_ERRORS) as exc:
                log.warning("session sweep failed (will retry): %s", exc)

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self.listen(), name="agent-access"),
                       asyncio.create_task(self.sweep(), name="agent-access-sweep")]
        # Announcements made before the subscription exists would be lost.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.listening.wait(), 5)

    async def stop(self) -> None:
        for sock in self.sockets():
            if sock.expiry is not None:
                sock.expiry.cancel()
        for task in [*self._tasks, *self._expiry_checks]:
            task.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _discard(index: defaultdict, key: object, sock: AgentSocket) -> None:  # type: ignore[type-arg]
    socks = index.get(key)
    if socks is not None:
        socks.discard(sock)
        if not socks:
            del index[key]
