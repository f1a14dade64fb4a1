"""Which bots have a live socket: each /ws/bot socket keeps a member in the sorted set
``<prefix>bot-sockets:<bot id>`` whose score is when it expires (refreshed every
REFRESH_S). The stuck-bot sweep treats a bot with no unexpired member as offline, so a
web process that died without cleaning up stops counting after TTL_S."""

from __future__ import annotations

import time
from collections.abc import Iterable

import redis.asyncio as aioredis

from hub.config import Settings

TTL_S = 30.0
REFRESH_S = 10.0


def sockets_key(settings: Settings, bot_id: int) -> str:
    return f"{settings.key_prefix}bot-sockets:{bot_id}"


async def mark_live(redis: aioredis.Redis, settings: Settings, bot_id: int, socket_id: str
                    ) -> None:
    key = sockets_key(settings, bot_id)
    now = time.time()
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zadd(key, {socket_id: now + TTL_S})
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.expire(key, int(TTL_S * 2))
        await pipe.execute()


async def mark_gone(redis: aioredis.Redis, settings: Settings, bot_id: int, socket_id: str
                    ) -> None:
    await redis.zrem(sockets_key(settings, bot_id), socket_id)


async def bots_with_sockets(redis: aioredis.Redis, settings: Settings,
                            bot_ids: Iterable[int]) -> set[int]:
    ids = sorted(set(bot_ids))
    if not ids:
        return set()
    now = time.time()
    async with redis.pipeline(transaction=False) as pipe:
        for bot_id in ids:
            pipe.zcount(sockets_key(settings, bot_id), now, "+inf")
        counts = await pipe.execute()
    return {bot_id for bot_id, n in zip(ids, counts, strict=True) if n}
