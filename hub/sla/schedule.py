"""SLA wake-ups in Redis: a due set, leases, and the nudge channel (docs/sla.md "Timers").

Keys, all under one hash tag so each script touches one Redis Cluster slot:

- ``<prefix>{sla}:due``: sorted set, member = clock key (``conv:123``), score = the
  epoch second of its next wake-up. ``schedule_wakeups`` keeps the earliest due per
  member (``ZADD LT``) unless told to replace it.
- ``<prefix>{sla}:lease``: sorted set, member -> the instant its lease expires. A member
  in it is being fired by one worker; nobody else claims it until the lease is released
  or expires.
- ``<prefix>{sla}:held``: hash, member -> ``<token>|<due>``: who holds the lease and the
  due it is firing, so an expired lease goes back to the due set at that due and only
  the holder's ``release`` ends it.

Nudge channel ``<prefix>{sla}:nudge`` (pub/sub, payload = the earliest due written):
sleeping workers wake when a wake-up earlier than the one they sleep for arrives.

Dues are stored as Redis doubles (exact for a Python float) and handed back as the
same float.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from hub.config import Settings
from hub.errors import BadInput, HubError
from hub.sla.rules.wakeups import check_member, earliest_per_member, latest_per_member

ZADD_CHUNK = 1000
RECLAIM_LIMIT = 1000


@dataclass(frozen=True)
class TimerKeys:
    due: str
    lease: str
    held: str
    nudge: str

    def script_keys(self) -> list[str]:
        return [self.due, self.lease, self.held]


def timer_keys(settings: Settings) -> TimerKeys:
    base = settings.key_prefix + "{sla}:"
    return TimerKeys(base + "due", base + "lease", base + "held", base + "nudge")


@dataclass(frozen=True)
class Claim:
    """What one ``claim_due`` call got: members to fire, and when to look again."""

    due: list[tuple[str, float]]  # (member, due), earliest first
    next_at: float | None  # the earliest due or lease expiry left (None: nothing at all)
    reclaimed: int  # expired leases put back into the due set by this call


# KEYS: due, lease, held. ARGV: now, lease_until, limit, token, reclaim_limit.
# 1. Expired leases (a worker died or overran) go back to the due set at the due they
#    were firing (ZADD LT: an earlier wake-up scheduled meanwhile is kept).
# 2. Due members not leased move to the lease set, earliest first, up to `limit`. A
#    member leased by someone else stays in the due set (it was rescheduled while being
#    fired) and is skipped: two workers never fire the same member at once.
# 3. next = the earliest instant worth another claim: the first due not scanned or the
#    earliest lease expiry (a holder that dies or fails leaves its members to be
#    reclaimed then), whichever comes first.
CLAIM_LUA = """
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[3])
local token = ARGV[4]
local reclaimed = 0
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[5]))
for _, m in ipairs(expired) do
  local held = redis.call('HGET', KEYS[3], m)
  redis.call('ZREM', KEYS[2], m)
  redis.call('HDEL', KEYS[3], m)
  if held then
    local due = string.match(held, '|(.*)$')
    redis.call('ZADD', KEYS[1], 'LT', due, m)
    reclaimed = reclaimed + 1
  end
end
local out = {}
local skipped = 0
local claimed = 0
while claimed < limit do
  local want = limit - claimed
  local page = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', skipped, want)
  if #page == 0 then break end
  for i = 1, #page, 2 do
    local m, due = page[i], page[i + 1]
    if redis.call('ZSCORE', KEYS[2], m) then
      skipped = skipped + 1
    else
      redis.call('ZREM', KEYS[1], m)
      redis.call('ZADD', KEYS[2], ARGV[2], m)
      redis.call('HSET', KEYS[3], m, token .. '|' .. due)
      out[#out + 1] = m
      out[#out + 1] = due
      claimed = claimed + 1
    end
  end
  if #page < 2 * want then break end
end
local next_at = ''
local first = redis.call('ZRANGE', KEYS[1], skipped, skipped, 'WITHSCORES')
if #first > 0 then next_at = first[2] end
local lease = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if #lease > 0 and (next_at == '' or tonumber(lease[2]) < tonumber(next_at)) then
  next_at = lease[2]
end
return {out, next_at, reclaimed}
"""
CLAIM_SHA = hashlib.sha1(CLAIM_LUA.encode()).hexdigest()

# KEYS: due, lease, held. ARGV: token, members... Ends the leases this token holds (a
# lease that expired and was claimed again belongs to the new holder and stays).
# Returns the number released and the earliest due of a released member that was
# rescheduled while it was leased ('' if none): the caller nudges the workers for it.
RELEASE_LUA = """
local prefix = ARGV[1] .. '|'
local released = 0
local again = ''
for i = 2, #ARGV do
  local m = ARGV[i]
  local held = redis.call('HGET', KEYS[3], m)
  if held and string.sub(held, 1, #prefix) == prefix then
    redis.call('ZREM', KEYS[2], m)
    redis.call('HDEL', KEYS[3], m)
    released = released + 1
    local due = redis.call('ZSCORE', KEYS[1], m)
    if due and (again == '' or tonumber(due) < tonumber(again)) then again = due end
  end
end
return {released, again}
"""
RELEASE_SHA = hashlib.sha1(RELEASE_LUA.encode()).hexdigest()


def num(x: float) -> str:
    """A due as text that Redis and Python both read back as the same double."""
    return repr(float(x))


async def schedule_wakeups(redis: aioredis.Redis, keys: TimerKeys,
                           items: Iterable[tuple[str, float]], *,
                           replace: bool = False) -> int:
    """Schedule ``(member, due)`` wake-ups in one pipelined round trip; returns how many
    members were written.

    By default a member keeps its earliest due (``ZADD LT``): a wake-up carries no
    identity, the clock's ``tick`` decides what is due, so an early one costs a no-op
    tick and a late one must never hide an earlier. ``replace=True`` sets the given due
    even if later (a caller that knows the clock's next due exactly). Every item is
    checked first; one bad item refuses the whole call (``BadInput``) and writes nothing.
    """
    dues = latest_per_member(items) if replace else earliest_per_member(items)
    if not dues:
        return 0
    pairs = list(dues.items())
    async with redis.pipeline(transaction=False) as pipe:
        for start in range(0, len(pairs), ZADD_CHUNK):
            chunk = dict(pairs[start:start + ZADD_CHUNK])
            pipe.zadd(keys.due, chunk, lt=not replace)
        pipe.publish(keys.nudge, num(min(dues.values())))
        await pipe.execute()
    return len(pairs)


async def claim_due(redis: aioredis.Redis, keys: TimerKeys, now: float, lease_s: float,
                    limit: int, token: str) -> Claim:
    """Atomically (one script, one round trip) put expired leases back, then lease up to
    ``limit`` members due by ``now`` to ``token`` for ``lease_s`` seconds."""
    if (not (math.isfinite(now) and math.isfinite(lease_s) and lease_s > 0) or limit < 1
            or "|" in token or not token):
        raise BadInput("bad claim: a finite now, lease_s > 0, limit >= 1 and a token "
                       "without '|'")
    argv = [num(now), num(now + lease_s), str(limit), token, str(RECLAIM_LIMIT)]
    reply = await _run(redis, CLAIM_SHA, CLAIM_LUA, keys.script_keys(), argv)
    flat, next_at, reclaimed = reply
    due = [(_text(flat[i]), float(flat[i + 1])) for i in range(0, len(flat), 2)]
    text = _text(next_at)
    return Claim(due=due, next_at=float(text) if text else None, reclaimed=int(reclaimed))


async def release(redis: aioredis.Redis, keys: TimerKeys, members: Sequence[str],
                  token: str) -> int:
    """End ``token``'s leases on ``members`` after their callbacks committed; returns how
    many it ended. If a released member was rescheduled while leased, nudge the workers
    (its due may already have passed while claims skipped it)."""
    if not members:
        return 0
    for m in members:
        check_member(m)
    released, again = await _run(redis, RELEASE_SHA, RELEASE_LUA, keys.script_keys(),
                                 [token, *members])
    text = _text(again)
    if text:
        await redis.publish(keys.nudge, text)
    return int(released)


def parse_nudge(data: object) -> float | None:
    """The due a nudge carries, None if it is not a number (a stray publish)."""
    try:
        value = float(_text(data))
    except (TypeError, ValueError, UnicodeDecodeError):
        return None
    return value if math.isfinite(value) else None


async def _run(redis: aioredis.Redis, sha: str, lua: str, keys: list[str],
               argv: list[str]) -> list[Any]:
    try:
        reply = await redis.evalsha(sha, len(keys), *keys, *argv)  # type: ignore[misc]
    except NoScriptError:
        reply = await redis.eval(lua, len(keys), *keys, *argv)  # type: ignore[misc]
    if not isinstance(reply, list):
        raise HubError("unexpected timer script reply")
    return reply


def _text(x: object) -> str:
    if isinstance(x, bytes):
        return x.decode()
    if isinstance(x, str):
        return x
    raise TypeError(type(x).__name__)
