"""Fixed-window request limits in Redis, for unauthenticated edges ("Call me back").

One Lua call admits or refuses a request against several counters at once, so a refused
request counts against none of them, and a retry of an already admitted request (same
``request_key``) is admitted again without counting twice: double clicks and network
retries stay free, distinct requests are limited."""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from hub.errors import RateLimited

# KEYS[1] = the request's own key; KEYS[2..] = counters. ARGV[1] = window ms;
# ARGV[2..] = the counters' limits. Returns {1, 0} admitted, {0, ms} refused for ms.
_ADMIT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {1, 0} end
for i = 2, #KEYS do
  local n = tonumber(redis.call('GET', KEYS[i]) or '0')
  if n >= tonumber(ARGV[i]) then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then ttl = tonumber(ARGV[1]) end
    return {0, ttl}
  end
end
for i = 2, #KEYS do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return {1, 0}
"""


async def admit_or_refuse(redis: aioredis.Redis, request_key: str,
                          counters: Sequence[tuple[str, int]], window_s: int,
                          what: str) -> None:
    """Count one distinct request against every ``(key, limit)``; raise ``RateLimited``
    (nothing counted) when any is already at its limit."""
    keys = [request_key, *(k for k, _ in counters)]
    args = [window_s * 1000, *(limit for _, limit in counters)]
    admitted, wait_ms = await redis.eval(_ADMIT, len(keys), *keys, *args)  # type: ignore[misc]
    if not admitted:
        retry = max(1, -(-int(wait_ms) // 1000))
        raise RateLimited(f"too many {what}; try again in {retry} s", retry_after_s=retry)
