"""The decision core: ``decide(cfg, state, now) -> list[Decision]``.

Pure: a snapshot and a time in, explicit decisions out. Two phases:

1. Housekeeping: presence changes, finished wrap-ups, expired offers, offers to agents
   who are no longer online, escalation steps, after-hours actions (auto-reply once,
   overflow), items whose queue vanished from a new config.
2. Offers: the routable items (nobody holds them, no pending offer) in order of
   effective priority, then age, each to the best available agents of its current
   escalation pool (one, or ``broadcast_size`` at once in broadcast mode).

The returned list is valid when applied in order (the offer phase is computed on the
state after housekeeping, with loads updated offer by offer). Call it after every
event and at :func:`next_wakeup`.
"""

from __future__ import annotations

from collections.abc import Callable

from hub.routing.apply import apply_all
from hub.routing.config import CompiledConfig
from hub.routing.decisions import (
    AnyDecision,
    AutoReply,
    EndWrapup,
    Escalate,
    ExpireOffer,
    OfferItem,
    OfferTarget,
    PresenceChange,
    RescindOffer,
    TransferItem,
)
from hub.routing.escalation import current_step, effective_priority
from hub.routing.hours import is_open
from hub.routing.presence import derive_presence
from hub.routing.state import ItemState, Load, RouterState, fits, loads
from hub.routing.strategies import (
    Candidate,
    base_strategy,
    idle_since,
    qualifies,
    rank,
    requirements,
)
from hub.schema import Presence


def _opener(cfg: CompiledConfig, now: float) -> Callable[[str], bool]:
    """Memoised ``queue -> open at now`` for one decide call."""
    cache: dict[str, bool] = {}

    def open_(queue: str) -> bool:
        if queue not in cache:
            q = cfg.queues.get(queue)
            cache[queue] = q is not None and is_open(q.hours, now)
        return cache[queue]

    return open_


def _presences(cfg: CompiledConfig, state: RouterState, now: float) -> dict[int, Presence]:
    ids = set(state.agents) | set(cfg.agents)
    return {a: derive_presence(state.agents.get(a), cfg.raw.presence, now) for a in ids}


def _housekeep_item(cfg: CompiledConfig, item: ItemState, now: float,
                    presence: dict[int, Presence], open_: Callable[[str], bool]
                    ) -> list[AnyDecision]:
    out: list[AnyDecision] = []
    if item.wrapup_until is not None:
        if item.wrapup_until <= now and item.agent_id is not None:
            out.append(EndWrapup(item_id=item.id, agent_id=item.agent_id))
        return out
    for o in item.pending():
        if o.expires_at <= now:
            out.append(ExpireOffer(item_id=item.id, agent_id=o.agent_id))
        elif o.agent_id not in cfg.agents:
            out.append(RescindOffer(item_id=item.id, agent_id=o.agent_id, reason="agent_removed"))
        elif presence.get(o.agent_id, "offline") != "online":
            out.append(RescindOffer(item_id=item.id, agent_id=o.agent_id,
                                    reason="agent_unavailable"))
    if item.agent_id is not None:
        return out
    queue = cfg.queues.get(item.queue)
    if queue is None:
        out.append(TransferItem(item_id=item.id, to_queue=cfg.default_queue, reason="config"))
        return out
    if queue.hours is not None and not open_(queue.id):
        ah = queue.hours.after_hours
        if ah.action == "overflow" and ah.queue is not None:
            out.append(TransferItem(item_id=item.id, to_queue=ah.queue, reason="after_hours"))
            return out
        if ah.action == "auto_reply" and not item.auto_replied:
            out.append(AutoReply(item_id=item.id, queue=queue.id, message=ah.message))
    step = current_step(cfg, item, now)
    if step != item.step:
        out.append(Escalate(item_id=item.id, from_step=item.step, to_step=step,
                            queues=cfg.steps(item.queue)[step].queues))
    return out


def housekeeping(cfg: CompiledConfig, state: RouterState, now: float) -> list[AnyDecision]:
    """Phase 1 decisions for ``state`` at ``now`` (no offers)."""
    presence = _presences(cfg, state, now)
    open_ = _opener(cfg, now)
    out: list[AnyDecision] = []
    for agent_id in sorted(state.agents):
        p = presence[agent_id]
        if p != state.agents[agent_id].published:
            out.append(PresenceChange(agent_id=agent_id, presence=p))
    for item_id in sorted(state.items):
        out.extend(_housekeep_item(cfg, state.items[item_id], now, presence, open_))
    return out


def _routable(cfg: CompiledConfig, state: RouterState, now: float) -> list[ItemState]:
    items = [i for i in state.items.values()
             if i.agent_id is None and i.wrapup_until is None and not i.pending()
             and i.queue in cfg.queues]
    prio = {i.id: effective_priority(cfg, i, now) for i in items}
    return sorted(items, key=lambda i: (-prio[i.id], i.created_at, i.id))


def _candidates(cfg: CompiledConfig, state: RouterState, item: ItemState, step: int,
                online: set[int], load: dict[int, Load], open_: Callable[[str], bool]
                ) -> list[Candidate]:
    spec = cfg.steps(item.queue)[step]
    req = requirements(cfg, item, spec)
    seen: set[int] = set()
    out: list[Candidate] = []
    for q in spec.queues:
        if not open_(q):
            continue
        for agent_id in cfg.members.get(q, ()):
            if agent_id in seen or agent_id not in online:
                continue
            seen.add(agent_id)
            if not qualifies(cfg.agents[agent_id], req):
                continue
            cap = cfg.capacity(agent_id)
            current = load.get(agent_id)
            if not fits(current, item.channel, item.weight, cap,
                        cfg.channel_limit(agent_id, item.channel)):
                continue
            out.append(Candidate(agent_id=agent_id, queue=q,
                                 used=current.units if current is not None else 0,
                                 capacity=cap, idle_since=idle_since(state.agents.get(agent_id))))
    return out


def _sticky(cfg: CompiledConfig, item: ItemState, step: int, cands: list[Candidate],
            presence: dict[int, Presence], refused: dict[int, float], now: float
            ) -> list[Candidate] | None:
    """[the last agent], [] to wait for them, or None to fall back.

    Within ``sticky.timeout_s`` of queueing the customer's last agent gets the offer if
    they can take it; if they are signed in and in the pool but full, busy or away we
    wait (``wait_if_busy``); if they are offline, outside the pool or refused the item
    we fall back at once."""
    sticky, last = cfg.queues[item.queue].sticky, item.last_agent_id
    if sticky is None or last is None or last in refused:
        return None
    if now - item.enqueued_at >= sticky.timeout_s:
        return None
    for c in cands:
        if c.agent_id == last:
            return [c]
    in_pool = any(last in cfg.members.get(q, ()) for q in cfg.steps(item.queue)[step].queues)
    if sticky.wait_if_busy and in_pool and presence.get(last, "offline") != "offline":
        return []
    return None


def offers(cfg: CompiledConfig, state: RouterState, now: float) -> list[AnyDecision]:
    """Phase 2: offers for every routable item that has eligible agents with room."""
    presence = _presences(cfg, state, now)
    online = {a for a, p in presence.items() if p == "online" and a in cfg.agents}
    load = loads(state, now)
    room = {a for a in online if (load[a].units if a in load else 0) < cfg.capacity(a)}
    open_ = _opener(cfg, now)
    cursor = dict(state.rr_cursor)
    out: list[AnyDecision] = []
    for item in _routable(cfg, state, now):
        if not room:
            break
        step = current_step(cfg, item, now)
        cands = _candidates(cfg, state, item, step, room, load, open_)
        refused = item.refused_by()
        settings = cfg.offer_settings(item.queue)
        fresh = [c for c in cands if c.agent_id not in refused]
        if not fresh:  # only those who refused it are left: after a cool-down
            fresh = [c for c in cands if now - refused[c.agent_id] >= settings.reoffer_cooldown_s]
        queue = cfg.queues[item.queue]
        chosen = _sticky(cfg, item, step, fresh, presence, refused, now)
        rr_queue: str | None = None
        if chosen is None:
            strategy = base_strategy(queue)
            size = settings.broadcast_size if settings.mode == "broadcast" else 1
            chosen = rank(strategy, fresh, cursor.get(item.queue))[:size]
            if strategy == "round_robin" and chosen:
                rr_queue = item.queue
                cursor[rr_queue] = chosen[-1].agent_id
        if not chosen:
            continue
        targets = tuple(OfferTarget(agent_id=c.agent_id, queue=c.queue, capacity=c.capacity,
                                    channel_limit=cfg.channel_limit(c.agent_id, item.channel))
                        for c in chosen)
        out.append(OfferItem(item_id=item.id, channel=item.channel, weight=item.weight,
                             step=step, targets=targets, offered_at=now,
                             expires_at=now + settings.timeout_s, rr_queue=rr_queue,
                             rr_agent=cursor.get(rr_queue) if rr_queue else None))
        for c in chosen:
            load.setdefault(c.agent_id, Load()).add(item.channel, item.weight)
            if load[c.agent_id].units >= c.capacity:
                room.discard(c.agent_id)
    return out


def decide(cfg: CompiledConfig, state: RouterState, now: float) -> list[AnyDecision]:
    """Every decision due at ``now``: housekeeping first, then offers."""
    out: list[AnyDecision] = []
    for _ in range(len(cfg.queues) + 1):  # overflow chains are acyclic
        batch = housekeeping(cfg, state, now)
        if not batch:
            break
        state, applied, _rejected = apply_all(cfg, state, batch, now)
        out.extend(applied)
        if not any(isinstance(d, TransferItem) for d in applied):
            break
    out.extend(offers(cfg, state, now))
    return out
