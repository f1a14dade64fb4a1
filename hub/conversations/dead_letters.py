"""Dead letters: ingest entries the pipeline could not store because of their content
(an undecodable or invalid envelope, an unknown inbox, a value Postgres refused).

Every dead letter raises an alarm: an ERROR log line and the ``ingest:dead:total``
counter (reported by ``/healthz`` next to the stream's length). They are kept until an
operator replays or drops them (``omnihub deadletters``; docs/pipeline.md), never
trimmed. Replay puts the envelope back on the ingest stream first and deletes the dead
letter only afterwards: a crash in between leaves it in both places, and the envelope's
idempotency key makes a second replay (or a message stored meanwhile) one row.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import redis.asyncio as aioredis

from hub.config import Settings
from hub.errors import BadInput, NotFound
from hub.schema import decode_envelope, encode_envelope

log = logging.getLogger("omnihub.pipeline")

MAX_REASON = 500


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: str  # its id on the dead-letter stream
    entry: str  # the ingest entry it was
    reason: str
    env: bytes  # the envelope as it was on the ingest stream

    def summary(self) -> dict[str, Any]:
        """What an operator needs to recognise it, without the whole envelope."""
        out: dict[str, Any] = {"id": self.id, "entry": self.entry, "reason": self.reason}
        try:
            env = decode_envelope(self.env)
        except (msgspec.DecodeError, msgspec.ValidationError):
            out["envelope"] = None
        else:
            out["envelope"] = {"channel": env.channel, "inbox": env.channel_account,
                               "provider_id": env.provider_id,
                               "sender": f"{env.sender.kind}:{env.sender.value}"}
        return out


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _raw(value: bytes | str | None) -> bytes:
    if value is None:
        return b""
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value


def _dead_letter(sid: bytes | str, fields: Mapping[Any, Any]) -> DeadLetter:
    def get(name: str) -> Any:
        return fields.get(name.encode(), fields.get(name))
    return DeadLetter(id=_text(sid), entry=_text(get("entry")), reason=_text(get("reason")),
                      env=_raw(get("env")))


def add_dead_letter(pipe: Any, settings: Settings, entry_id: bytes | str, reason: str,
                    data: bytes) -> None:
    """Queue on ``pipe`` (a Redis pipeline) the dead letter and the alarm counter."""
    log.error("ingest entry %s dead-lettered: %s", _text(entry_id), reason[:MAX_REASON])
    pipe.xadd(settings.dead_letter_stream,
              {"entry": entry_id, "reason": reason[:MAX_REASON], "env": data})
    pipe.incr(settings.dead_letter_total)


async def dead_letter_stats(redis: aioredis.Redis, settings: Settings) -> dict[str, int]:
    """``waiting``: dead letters not yet replayed or dropped; ``total``: ever."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.xlen(settings.dead_letter_stream)
        pipe.get(settings.dead_letter_total)
        waiting, total = await pipe.execute()
    return {"waiting": int(waiting or 0), "total": int(total or 0)}


async def list_dead_letters(redis: aioredis.Redis, settings: Settings, *, count: int = 100,
                            after: str = "-", until: str = "+") -> list[DeadLetter]:
    """Oldest first; page with ``after`` (exclusive) set to the last id seen."""
    start = after if after == "-" else f"({after}"
    rows = await redis.xrange(settings.dead_letter_stream, min=start, max=until, count=count)
    return [_dead_letter(sid, fields) for sid, fields in rows]


async def get_dead_letter(redis: aioredis.Redis, settings: Settings, dead_id: str
                          ) -> DeadLetter:
    try:
        rows = await redis.xrange(settings.dead_letter_stream, min=dead_id, max=dead_id)
    except aioredis.ResponseError:  # not a stream id
        raise BadInput(f"not a dead-letter id: {dead_id[:40]!r}") from None
    if not rows:
        raise NotFound(f"no dead letter {dead_id[:40]!r}")
    return _dead_letter(*rows[0])


async def replay_dead_letter(redis: aioredis.Redis, settings: Settings, dead_id: str) -> str:
    """Put the envelope back on the ingest stream (made storable, as every producer
    does), then delete the dead letter. Returns the new ingest entry id. A dead letter
    that is still no valid envelope is refused (BadInput) and kept."""
    dead = await get_dead_letter(redis, settings, dead_id)
    try:
        env = decode_envelope(dead.env)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BadInput(f"dead letter {dead.id} is not a valid envelope: {exc}") from None
    new_id = await redis.xadd(settings.ingest_stream, {"env": encode_envelope(env)})
    await redis.xdel(settings.dead_letter_stream, dead.id)
    log.info("dead letter %s replayed as ingest entry %s", dead.id, _text(new_id))
    return _text(new_id)


async def replay_all_dead_letters(redis: aioredis.Redis, settings: Settings
                                  ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Replay every dead letter present now (one dead-lettered again meanwhile is not
    replayed twice). Returns (replayed: [(dead id, new entry id)], refused: [(dead id,
    reason)])."""
    replayed: list[tuple[str, str]] = []
    refused: list[tuple[str, str]] = []
    newest = await redis.xrevrange(settings.dead_letter_stream, count=1)
    if not newest:
        return replayed, refused
    until, after = _text(newest[0][0]), "-"
    while page := await list_dead_letters(redis, settings, count=200, after=after,
                                          until=until):
        for dead in page:
            try:
                replayed.append((dead.id, await replay_dead_letter(redis, settings, dead.id)))
            except (BadInput, NotFound) as exc:
                refused.append((dead.id, exc.reason))
        after = page[-1].id
    return replayed, refused


async def drop_dead_letter(redis: aioredis.Redis, settings: Settings, dead_id: str) -> None:
    """Delete a dead letter for good (junk that can never become a message)."""
    dead = await get_dead_letter(redis, settings, dead_id)
    await redis.xdel(settings.dead_letter_stream, dead.id)
    log.warning("dead letter %s dropped (was ingest entry %s)", dead.id, dead.entry)
