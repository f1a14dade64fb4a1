"""Events leave the hub from here and only here: written to ``event_outbox`` in the
transaction that made the change, published to the events stream after commit.

Publishing is exactly-once per outbox row: a Lua script adds the row's seq to a
``published`` sorted set with NX and XADDs only when it was new, atomically. A crash
between publish and the outbox DELETE therefore cannot duplicate an event when the
row is republished by the recovery sweep.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence

import asyncpg
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError

from hub.config import Settings
from hub.schema import (
    AnyEvent,
    BotChanged,
    CallAnswered,
    CallRinging,
    ConversationCreated,
    ConversationStatusChanged,
    MessageCreated,
    MessageStatusChanged,
    QueueStats,
    TypingChanged,
    VerificationUpdated,
    WorkItemOffered,
    WorkItemOfferEnded,
    decode_event,
    encode,
    event_conversation,
    event_inbox,
)

_PUBLISH = """
local out = {}
local maxlen = ARGV[1]
for j = 2, #ARGV, 5 do
  local seq = ARGV[j]
  local fresh = 1
  if seq ~= '' then
    fresh = redis.call('ZADD', KEYS[2], 'NX', seq, seq)
  end
  if fresh == 1 then
    out[#out + 1] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*',
      'e', ARGV[j + 1], 'i', ARGV[j + 2], 'c', ARGV[j + 3], 'w', ARGV[j + 4])
  else
    out[#out + 1] = ''
  end
end
return out
"""


def widget_route(event: AnyEvent) -> str:
    """What a customer's widget may see of this event: '' nothing, 'c' its conversation,
    or 'b:<inbox>|<identity>' to bind the widget of that identity to a new conversation.

    'a:<agent ids>' restricts an agent-side event to those agents and supervisors (an
    offer is for its agent only; queue stats for supervisors only); widgets never get it."""
    if isinstance(event, WorkItemOffered | WorkItemOfferEnded):
        return f"a:{event.agent_id}"
    if isinstance(event, CallRinging | CallAnswered):
        # A screen pop is for the agent the PBX rang / who answered (docs/voice.md).
        return f"a:{event.agent_id}" if event.agent_id is not None else ""
    if isinstance(event, QueueStats | BotChanged):
        return "a:"
    if isinstance(event, MessageCreated):
        return "" if event.message.private else "c"
    if isinstance(event, ConversationCreated):
        conv = event.conversation
        return f"b:{conv.inbox}|{conv.contact_identity}"
    if isinstance(event, MessageStatusChanged | ConversationStatusChanged
                  | VerificationUpdated):
        return "c"
    if isinstance(event, TypingChanged):
        return "c" if event.author.kind != "contact" else ""
    return ""


def publish_args(seq: int | None, payload: bytes, event: AnyEvent) -> list[bytes | str]:
    return [
        "" if seq is None else str(seq),
        payload,
        event_inbox(event),
        str(event_conversation(event)),
        widget_route(event),
    ]


class Publisher:
    """Publishes committed outbox rows (and ephemeral events) to the events stream."""

    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self._redis = redis
        self._settings = settings
        self._sha = hashlib.sha1(_PUBLISH.encode()).hexdigest()
        self._keys = [settings.events_stream, settings.published_set]

    def _args(self, rows: Sequence[tuple[int | None, bytes, AnyEvent]]) -> list[bytes | str]:
        args: list[bytes | str] = [str(self._settings.events_maxlen)]
        for seq, payload, event in rows:
            args.extend(publish_args(seq, payload, event))
        return args

    async def publish(
        self, rows: Sequence[tuple[int | None, bytes, AnyEvent]]
    ) -> list[str]:
        """XADD each row not published before; returns stream ids ('' if skipped)."""
        if not rows:
            return []
        args = self._args(rows)
        try:
            ids = await self._redis.evalsha(  # type: ignore[misc]
                self._sha, len(self._keys), *self._keys, *args)  # type: ignore[arg-type]
        except NoScriptError:
            ids = await self._redis.eval(  # type: ignore[misc]
                _PUBLISH, len(self._keys), *self._keys, *args)  # type: ignore[arg-type]
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]

    def publish_in(self, pipe: Pipeline, rows: Sequence[tuple[int | None, bytes, AnyEvent]]
                   ) -> None:
        """Queue the publish on a pipeline; the caller checks its result for NOSCRIPT."""
        pipe.evalsha(self._sha, len(self._keys), *self._keys,
                     *self._args(rows))  # type: ignore[arg-type]

    async def publish_ephemeral(self, event: AnyEvent) -> str:
        """Typing and presence: not stored, no outbox."""
        ids = await self.publish([(None, encode(event), event)])
        return ids[0]


async def write_outbox(conn: asyncpg.Connection, events: Sequence[AnyEvent],
                       forget: Sequence[int] = ()) -> list[tuple[int, bytes, AnyEvent]]:
    """Insert events into the outbox inside the caller's transaction, and delete the
    already-published rows ``forget``, in one round trip.

    Seqs are paired with payloads in ascending order. The pairing only tags rows for
    exactly-once publication; publication order is the order of ``events``."""
    if not events:
        await delete_published(conn, forget)
        return []
    payloads = [encode(e) for e in events]
    seqs = sorted(await conn.fetchval(
        "WITH del AS (DELETE FROM event_outbox WHERE seq = ANY($2::bigint[])),"
        " ins AS (INSERT INTO event_outbox (payload) SELECT unnest($1::bytea[])"
        " RETURNING seq) SELECT array_agg(seq) FROM ins",
        payloads, list(forget),
    ))
    return list(zip(seqs, payloads, events, strict=True))


async def delete_published(conn: asyncpg.Connection | asyncpg.Pool, seqs: Sequence[int]) -> None:
    if seqs:
        await conn.execute("DELETE FROM event_outbox WHERE seq = ANY($1::bigint[])", list(seqs))


async def publish_committed(
    pool: asyncpg.Pool, publisher: Publisher, rows: Sequence[tuple[int, bytes, AnyEvent]]
) -> list[str]:
    """After commit: publish, then forget the rows."""
    ids = await publisher.publish(rows)
    await delete_published(pool, [seq for seq, _, _ in rows])
    return ids


class OutboxSweeper:
    """Republishes rows a crashed process committed but never published, and trims the
    ``published`` set to what the outbox can still hold."""

    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, publisher: Publisher,
                 settings: Settings, *, min_age_s: float = 3.0) -> None:
        self._pool = pool
        self._redis = redis
        self._publisher = publisher
        self._settings = settings
        self._min_age_s = min_age_s
        # (monotonic time, sequence last_value) samples; trimming lags a minute behind.
        self._marks: list[tuple[float, int]] = []

    async def sweep_once(self) -> int:
        rows = await self._pool.fetch(
            "SELECT seq, payload FROM event_outbox"
            " WHERE created_at < now() - make_interval(secs => $1)"
            " ORDER BY seq LIMIT 1000",
            self._min_age_s,
        )
        if rows:
            batch = [(r["seq"], bytes(r["payload"]), decode_event(r["payload"])) for r in rows]
            await publish_committed(self._pool, self._publisher, batch)
        await self._trim_published()
        return len(rows)

    async def _trim_published(self) -> None:
        now = time.monotonic()
        last = await self._pool.fetchval("SELECT last_value FROM event_outbox_seq_seq")
        self._marks.append((now, int(last)))
        old = [m for m in self._marks if now - m[0] >= 60.0]
        self._marks = [m for m in self._marks if now - m[0] < 120.0]
        if not old:
            return
        upto = old[-1][1]
        oldest_pending = await self._pool.fetchval("SELECT min(seq) FROM event_outbox")
        if oldest_pending is not None:
            upto = min(upto, int(oldest_pending) - 1)
        if upto > 0:
            await self._redis.zremrangebyscore(self._settings.published_set, "-inf", upto)
