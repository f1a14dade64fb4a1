"""The atomic layer: apply router decisions in Redis, shared by every hub process.

``apply_atomically(redis, settings, cfg, decision, now)`` runs one Lua script call
(:mod:`hub.routing.atomic_lua`) that re-checks the decision's preconditions against the
current Redis state and applies it, exactly as :func:`hub.routing.apply.apply` does on
a snapshot. It returns :class:`Applied` (with the offers that ended, for events) or
:class:`Refused` (nothing changed; ``code`` is the same code ``apply`` raises).
``apply_all_atomically`` sends a decision list in one round trip (each decision is
still its own atomic step, in order). Scripts run via EVALSHA, falling back to EVAL
when the server does not know the script (NOSCRIPT: restart, failover, flush).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from hub.config import Settings
from hub.errors import Conflict, HubError, NotFound
from hub.routing.atomic_lua import ROUTER_LUA
from hub.routing.config import CompiledConfig
from hub.routing.decide import decide
from hub.routing.decisions import (
    AcceptOffer,
    AnyDecision,
    AssignItem,
    AutoReply,
    CancelItem,
    CompleteItem,
    DeclineOffer,
    EndWrapup,
    Enqueue,
    Escalate,
    ExpireOffer,
    OfferItem,
    PresenceChange,
    RescindOffer,
    TransferItem,
)
from hub.routing.state import OfferStatus
from hub.routing.store import item_args, load_state, num, opt, router_keys

ROUTER_SHA = hashlib.sha1(ROUTER_LUA.encode()).hexdigest()

Origin = Literal["router", "web", "sync"]


class JournalRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What the script appends to the journal for an applied decision: the decision,
    who asked (``by``: the agent at the web edge) and where it came from (``router``:
    decide; ``web``: an agent/supervisor command; ``sync``: Redis brought in step with
    a change made in Postgres, whose events were already emitted)."""

    d: AnyDecision
    by: int | None = None
    origin: Origin = "router"


_journal_enc = msgspec.json.Encoder()
journal_decoder = msgspec.json.Decoder(JournalRecord)


@dataclass(frozen=True)
class Applied:
    """The decision took effect. ``ended``: (agent, new status) of each offer it closed
    (accepted, declined, timed_out, rescinded), in item order; ``released``: the holder
    it freed (transfer, reassign, complete, end of wrap-up, cancel), if any."""

    decision: AnyDecision
    ended: tuple[tuple[int, OfferStatus], ...] = ()
    released: int | None = None


@dataclass(frozen=True)
class Refused:
    """A precondition failed; nothing changed. ``code``/``reason`` as ``apply`` raises."""

    decision: AnyDecision
    code: str
    reason: str
    missing: bool = False  # the item is gone (NotFound), else a Conflict

    def error(self) -> HubError:
        cls = NotFound if self.missing else Conflict
        return cls(self.reason, code=self.code)


Outcome = Applied | Refused


def _opt_int(x: int | None) -> str:
    return "" if x is None else str(x)


_END_OPS: dict[type, str] = {
    AcceptOffer: "offer.accept", DeclineOffer: "offer.decline", ExpireOffer: "offer.expire",
    RescindOffer: "offer.rescind",
}


def _args(d: AnyDecision) -> list[str]:
    """The script's op and op arguments for ``d`` (after the common ARGV)."""
    if isinstance(d, Enqueue):
        return ["enqueue", str(d.item.id), *item_args(d.item)]
    if isinstance(d, OfferItem):
        out = ["offer", str(d.item_id), num(d.expires_at), d.rr_queue or "",
               _opt_int(d.rr_agent), str(len(d.targets))]
        for t in d.targets:
            out += [str(t.agent_id), t.queue, str(t.capacity), _opt_int(t.channel_limit)]
        return out
    if isinstance(d, AcceptOffer | DeclineOffer | ExpireOffer | RescindOffer):
        return [_END_OPS[type(d)], str(d.item_id), str(d.agent_id)]
    if isinstance(d, Escalate):
        return ["escalate", str(d.item_id), str(d.from_step), str(d.to_step)]
    if isinstance(d, AutoReply):
        return ["auto_reply", str(d.item_id)]
    if isinstance(d, TransferItem):
        return ["transfer", str(d.item_id), d.to_queue, _opt_int(d.from_agent)]
    if isinstance(d, AssignItem):
        return ["assign", str(d.item_id), str(d.agent_id), _opt_int(d.from_agent),
                str(d.capacity), _opt_int(d.channel_limit), "1" if d.force else ""]
    if isinstance(d, CompleteItem):
        return ["complete", str(d.item_id), str(d.agent_id), opt(d.wrapup_until)]
    if isinstance(d, EndWrapup):
        return ["wrapup.end", str(d.item_id), str(d.agent_id)]
    if isinstance(d, CancelItem):
        return ["cancel", str(d.item_id)]
    if isinstance(d, PresenceChange):
        return ["presence", str(d.agent_id), d.presence]
    raise TypeError(f"not a routing decision: {d!r}")


def _text(x: Any) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


def _outcome(d: AnyDecision, reply: Sequence[Any]) -> Outcome:
    parts = [_text(x) for x in reply]
    if parts[0] == "no":
        return Refused(d, code=parts[2], reason=parts[3], missing=parts[1] == "not_found")
    ended = tuple((int(parts[i]), parts[i + 1]) for i in range(2, len(parts), 2))
    return Applied(d, ended=ended, released=int(parts[1]) if parts[1] else None)  # type: ignore[arg-type]


class RouterScript:
    """Builds the script calls for one router (its keys and presence settings)."""

    def __init__(self, settings: Settings, cfg: CompiledConfig) -> None:
        self.keys = router_keys(settings).all()
        p = cfg.raw.presence
        self.common = [num(p.heartbeat_timeout_s), num(p.away_grace_s), num(p.offline_after_s)]

    def argv(self, d: AnyDecision, now: float, by: int | None = None,
             origin: Origin = "router") -> list[str]:
        op, *rest = _args(d)
        record = JournalRecord(d=d, by=by, origin=origin)
        return [op, num(now), *self.common, *rest, _journal_enc.encode(record).decode()]

    async def call(self, redis: aioredis.Redis, d: AnyDecision, now: float, *,
                   by: int | None = None, origin: Origin = "router") -> Outcome:
        argv = self.argv(d, now, by, origin)
        try:
            reply = await redis.evalsha(ROUTER_SHA, len(self.keys), *self.keys,  # type: ignore[misc]
                                        *argv)
        except NoScriptError:
            reply = await redis.eval(ROUTER_LUA, len(self.keys), *self.keys,  # type: ignore[misc]
                                     *argv)
        return _outcome(d, reply)

    async def call_all(self, redis: aioredis.Redis, decisions: Sequence[AnyDecision],
                       now: float, *, origin: Origin = "router") -> list[Outcome]:
        """One round trip; each decision is its own atomic script call, in order."""
        replies = await self._pipelined(redis, decisions, now, origin)
        lost = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if lost:  # the server lost its script cache (restart, failover, flush): a suffix
            await redis.script_load(ROUTER_LUA)
            again = await self._pipelined(redis, [decisions[i] for i in lost], now, origin)
            for i, reply in zip(lost, again, strict=True):
                replies[i] = reply
        out: list[Outcome] = []
        for d, reply in zip(decisions, replies, strict=True):
            if isinstance(reply, Exception):
                raise reply
            out.append(_outcome(d, reply))
        return out

    async def _pipelined(self, redis: aioredis.Redis, decisions: Sequence[AnyDecision],
                         now: float, origin: Origin = "router") -> list[Any]:
        if not decisions:
            return []
        async with redis.pipeline(transaction=False) as pipe:
            for d in decisions:
                pipe.evalsha(ROUTER_SHA, len(self.keys), *self.keys,
                             *self.argv(d, now, None, origin))
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        return replies


async def apply_atomically(redis: aioredis.Redis, settings: Settings, cfg: CompiledConfig,
                           decision: AnyDecision, now: float, *, by: int | None = None,
                           origin: Origin = "router") -> Outcome:
    """Check ``decision``'s preconditions in Redis and apply it, atomically."""
    return await RouterScript(settings, cfg).call(redis, decision, now, by=by, origin=origin)


async def apply_all_atomically(redis: aioredis.Redis, settings: Settings,
                               cfg: CompiledConfig, decisions: Sequence[AnyDecision],
                               now: float) -> list[Outcome]:
    """Apply each decision in order (one round trip); a refusal skips that one only."""
    return await RouterScript(settings, cfg).call_all(redis, decisions, now)


async def route_once(redis: aioredis.Redis, settings: Settings, cfg: CompiledConfig,
                     now: float) -> list[Outcome]:
    """One routing pass: snapshot, ``decide``, apply. Run it after every routing-relevant
    event and at ``next_wakeup``; refusals (another process got there first) are normal
    and the next pass simply tries again."""
    state = await load_state(redis, settings)
    return await apply_all_atomically(redis, settings, cfg, decide(cfg, state, now), now)
