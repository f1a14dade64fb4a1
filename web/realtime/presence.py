"""Presence inputs from agent sockets, written to the router's Redis state.

Only the input fields are written (connected, last heartbeat, disconnected at, chosen
status), each with a plain HSET, so a socket event never overwrites what a routing
script or another socket wrote. ``{rt}:conns`` counts an agent's open sockets across
every web process: the agent is disconnected when the last one closes. If a process
dies with sockets open its count leaks, but heartbeats stop, so the agent still goes
away after ``heartbeat_timeout_s`` + ``away_grace_s``. Every change wakes the routers,
which derive presence (``derive_presence``), rescind offers to agents who are no longer
online and announce ``agent.presence``.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from hub.config import Settings
from hub.errors import BadInput
from hub.routing.service import wake_router
from hub.routing.store import num, router_keys

STATUSES = ("available", "away", "busy", "offline")
HEARTBEAT_WRITE_EVERY_S = 1.0


def _conns_key(settings: Settings) -> str:
    return settings.key_prefix + "{rt}:conns"


async def socket_opened(redis: aioredis.Redis, settings: Settings, agent_id: int) -> None:
    key = router_keys(settings).agents
    now = num(time.time())
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hincrby(_conns_key(settings), str(agent_id), 1)
        pipe.hset(key, mapping={f"{agent_id}:cn": "1", f"{agent_id}:hb": now})
        pipe.hsetnx(key, f"{agent_id}:st", "available")
        pipe.hdel(key, f"{agent_id}:dc")
        await pipe.execute()
    await wake_router(redis, settings, "presence")


async def socket_heartbeat(redis: aioredis.Redis, settings: Settings, agent_id: int) -> None:
    key = router_keys(settings).agents
    await redis.hset(key, mapping={f"{agent_id}:cn": "1",  # type: ignore[misc]
                                   f"{agent_id}:hb": num(time.time())})


async def socket_closed(redis: aioredis.Redis, settings: Settings, agent_id: int) -> None:
    left = await redis.hincrby(_conns_key(settings), str(agent_id), -1)  # type: ignore[misc]
    if left > 0:
        return
    key = router_keys(settings).agents
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(_conns_key(settings), str(agent_id), "0")
        pipe.hset(key, mapping={f"{agent_id}:cn": "0", f"{agent_id}:dc": num(time.time())})
        await pipe.execute()
    await wake_router(redis, settings, "presence")


async def set_agent_status(redis: aioredis.Redis, settings: Settings, agent_id: int,
                           status: str) -> None:
    """The agent chose a status in the inbox (available, away, busy, offline)."""
    if status not in STATUSES:
        raise BadInput(f"status: one of {', '.join(STATUSES)}")
    await redis.hset(router_keys(settings).agents, f"{agent_id}:st", status)  # type: ignore[misc]
    await wake_router(redis, settings, "presence")


class HeartbeatThrottle:
    """Write a socket's heartbeats at most once a second (pings come every 20 s, but
    a chatty client must not turn into a Redis write per frame)."""

    def __init__(self) -> None:
        self._last = time.monotonic()

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last >= HEARTBEAT_WRITE_EVERY_S:
            self._last = now
            return True
        return False
