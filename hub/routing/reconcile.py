"""Postgres -> Redis: bring the router's live state in step with the system of record.

This is how work items enter routing, whatever created them (the pipeline, a voice
callback, a bot handing a conversation back, a conversation reopened), and how changes
made outside the router reach it (an agent replying to an unassigned conversation
takes it, a manual unassign, a resolved conversation, a bot taking an item). It also
rebuilds Redis after a loss. Only items whose status is ``queued`` (or live with
the router) are routed; ``bot`` items are held by a bot and never routed.

Safety: Postgres lags Redis by the unpersisted part of the journal. For an item named
there, Postgres may show an older state, so it is left alone this round. Read order:
the persisted mark, the rows, the Redis fields, then the journal after the mark (a
change applied before the Redis read is in the journal by then; one applied after it
meets the script's preconditions: holder, existence).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import msgspec
import redis.asyncio as aioredis

from hub.config import Settings
from hub.languages import normalize_tag, primary_language
from hub.routing.atomic import Applied, RouterScript
from hub.routing.commands import enqueue
from hub.routing.config import CompiledConfig
from hub.routing.decisions import AnyDecision, AssignItem, CancelItem, CompleteItem, TransferItem
from hub.routing.expr import Value
from hub.routing.persist import (
    items_in_flight,
    persisted_mark,
    routing_rows_by_status,
    routing_rows_of,
)
from hub.routing.store import router_keys

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger("omnihub.router.reconcile")

_LIVE = ("queued", "offered", "assigned", "wrapup")


def routing_attributes(row: asyncpg.Record) -> dict[str, Value]:
    """What queue filters see: the contact's tier and language, the inbox, the queue
    the item was put in (the inbox default or the creator's choice), the attributes the
    channel adapter put on the conversation's first message (e.g. a widget's topic),
    then the item's own ``attributes`` (topic, ivr, skills, ... set by its creator)."""
    locale = (row["locale"] or "").strip()
    attrs: dict[str, Value] = {
        "inbox": row["inbox"], "queue": row["queue"], "tier": row["tier"],
        "vip": row["tier"] == "vip", "locale": locale,
        "language": primary_language(locale) or None,
    }
    for column in ("msg_attrs", "attrs"):
        try:
            extra = json.loads(row[column] or "{}")
        except ValueError:
            extra = {}
        if isinstance(extra, dict):
            for k, v in extra.items():
                if isinstance(k, str) and k not in ("inbox", "queue") and _is_value(v):
                    attrs[k] = v
    # One form for filters and skills: the primary language (``en`` for a widget's
    # ``en-US``); the full tag stays in ``language_tag`` (hub/languages.py).
    lang = attrs.get("language")
    if isinstance(lang, str):
        attrs["language_tag"] = normalize_tag(lang) or None
        attrs["language"] = primary_language(lang) or None
    return attrs


def _is_value(v: Any) -> bool:
    if v is None or isinstance(v, str | int | float | bool):
        return True
    if isinstance(v, list):
        return all(isinstance(x, str) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and isinstance(x, int) for k, x in v.items())
    return False


def _text(x: Any) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


async def _redis_items(redis: aioredis.Redis, settings: Settings,
                       ids: Iterable[int]) -> dict[int, dict[str, str]]:
    ids = list(ids)
    if not ids:
        return {}
    names = [f"{i}:{f}" for i in ids for f in ("ch", "ag", "wu", "q")]
    values = await redis.hmget(router_keys(settings).items, names)  # type: ignore[misc]
    out: dict[int, dict[str, str]] = {}
    for n, i in enumerate(ids):
        ch, ag, wu, q = values[4 * n: 4 * n + 4]
        if ch is not None:
            out[i] = {"ag": _text(ag) if ag else "", "wu": _text(wu) if wu else "",
                      "q": _text(q) if q else ""}
    return out


async def _all_redis_ids(redis: aioredis.Redis, settings: Settings) -> set[int]:
    out: set[int] = set()
    async for key in redis.hscan_iter(router_keys(settings).items, match="*:ch", count=1000):
        k = key[0] if isinstance(key, tuple) else key
        out.add(int(_text(k).partition(":")[0]))
    return out


def wrapup_until(cfg: CompiledConfig, row: asyncpg.Record, now: float) -> float | None:
    """When a completed item's capacity is free again: the channel's ``wrapup_s`` after
    completion, or, for a call whose agent already wrapped up by hand (hangup until the
    disposition), after the hangup: that time counts towards it instead of adding to it."""
    secs = cfg.wrapup_s(row["channel"])
    since = row.get("after_call_since")
    start = now if since is None else min(now, since)
    return start + secs if secs > 0 and start + secs > now else None


def plan(cfg: CompiledConfig, row: asyncpg.Record, red: dict[str, str] | None,
         now: float) -> AnyDecision | None:
    """The decision that brings Redis in step with Postgres for one item (None: in step)."""
    status = row["status"]
    holder = int(red["ag"]) if red and red["ag"] else None
    if status in ("queued", "offered"):
        if red is None:
            queue = row["queue"] if row["routed_at"] is not None and row["queue"] in cfg.queues \
                else None
            return enqueue(cfg, item_id=row["id"], channel=row["channel"],
                           created_at=row["created"] or now, attrs=routing_attributes(row),
                           priority=row["priority"], last_agent_id=row["last_agent"],
                           queue=queue)
        if holder is not None and not red["wu"]:
            # Unassigned in Postgres (a manual unassign): back to routing in its queue.
            return TransferItem(item_id=row["id"], to_queue=red["q"], from_agent=holder,
                                reason="agent")
        return None
    if status == "assigned":
        agent = row["agent_id"]
        if agent is None or (red is not None and red["wu"]):
            return None
        if red is None:
            d = enqueue(cfg, item_id=row["id"], channel=row["channel"],
                        created_at=row["created"] or now, attrs=routing_attributes(row),
                        priority=row["priority"], last_agent_id=row["last_agent"],
                        queue=row["queue"] if row["queue"] in cfg.queues else None)
            item = msgspec.structs.replace(d.item, agent_id=agent, assigned_at=now)
            return type(d)(item=item)
        if holder != agent:
            # Taken in Postgres (a reply takes the conversation, a manual assign).
            return AssignItem(item_id=row["id"], agent_id=agent, from_agent=holder,
                              reason="pick", capacity=cfg.capacity(agent),
                              channel_limit=cfg.channel_limit(agent, row["channel"]),
                              force=True)
        return None
    if status == "wrapup" or red is None:
        return None
    # Completed, cancelled, held by a bot, or anything else: not routable any more.
    if holder is not None and not red["wu"]:
        return CompleteItem(item_id=row["id"], agent_id=holder,
                            wrapup_until=wrapup_until(cfg, row, now))
    if red["wu"]:
        return None
    return CancelItem(item_id=row["id"], reason=str(status))


async def reconcile(pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings,
                    cfg: CompiledConfig, now: float, ids: Iterable[int] | None = None) -> int:
    """Reconcile the given work items (None: every live one and every routed one).
    Returns the number of decisions applied."""
    async with pool.acquire() as conn:
        mark = await persisted_mark(conn)
        if ids is None:
            redis_ids = await _all_redis_ids(redis, settings)
            rows = await routing_rows_by_status(conn, _LIVE, list(redis_ids))
        else:
            wanted = sorted(set(ids))
            if not wanted:
                return 0
            rows = await routing_rows_of(conn, wanted)
    # Redis before the journal: a decision applied after this read is checked again by
    # the script (the plan's preconditions); one applied before it is in the journal,
    # so if Postgres does not show it yet, the item is skipped as in flight.
    red = await _redis_items(redis, settings, [r["id"] for r in rows])
    busy = await items_in_flight(redis, settings, mark)
    rows = [r for r in rows if r["id"] not in busy]
    decisions: list[AnyDecision] = []
    for r in rows:
        try:
            d = plan(cfg, r, red.get(r["id"]), now)
        except Exception as exc:  # an unknown queue: leave it, say why
            log.warning("work item %s cannot be routed: %s", r["id"], exc)
            continue
        if d is not None:
            decisions.append(d)
    if not decisions:
        return 0
    outcomes = await RouterScript(settings, cfg).call_all(redis, decisions, now, origin="sync")
    return sum(1 for o in outcomes if isinstance(o, Applied))
