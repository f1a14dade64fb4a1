"""Reference semantics of the atomic layer: apply one decision to a snapshot.

``apply`` re-checks the decision's preconditions against the current state and raises
:class:`hub.errors.Conflict` (changing nothing) when one fails, otherwise returns the
new state. The Redis Lua scripts must behave exactly like this; the property tests run
against it.
"""

from __future__ import annotations

from collections.abc import Iterable

from msgspec.structs import replace

from hub.errors import Conflict, NotFound
from hub.routing.config import CompiledConfig
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
    RescindOffer,
    TransferItem,
)
from hub.routing.presence import derive_presence
from hub.routing.state import (
    AgentRuntime,
    ItemState,
    OfferRecord,
    OfferStatus,
    RouterState,
    fits,
    loads,
)


def _item(state: RouterState, item_id: int) -> ItemState:
    item = state.items.get(item_id)
    if item is None:
        raise NotFound(f"work item {item_id} is not routed", code="item_gone")
    return item


def _put(state: RouterState, item: ItemState) -> RouterState:
    return replace(state, items={**state.items, item.id: item})


def _drop(state: RouterState, item_id: int) -> RouterState:
    items = dict(state.items)
    del items[item_id]
    return replace(state, items=items)


def _touch_agent(state: RouterState, agent_id: int, **changes: float) -> RouterState:
    agent = state.agents.get(agent_id) or AgentRuntime(id=agent_id)
    return replace(state, agents={**state.agents, agent_id: replace(agent, **changes)})


def _end_offers(item: ItemState, status: OfferStatus, now: float,
                only: int | None = None) -> ItemState:
    """Close pending offers (all, or only ``only``'s) with ``status``."""
    offers = tuple(
        replace(o, status=status, ended_at=now)
        if o.status == "pending" and (only is None or o.agent_id == only) else o
        for o in item.offers
    )
    return replace(item, offers=offers)


def _pending(item: ItemState, agent_id: int) -> OfferRecord:
    offer = item.pending_for(agent_id)
    if offer is None:
        raise Conflict(f"no pending offer of item {item.id} to agent {agent_id}",
                       code="offer_gone")
    return offer


def _not_wrapup(item: ItemState) -> None:
    if item.wrapup_until is not None:
        raise Conflict(f"work item {item.id} is in wrap-up", code="item_done")


def _check_holder(item: ItemState, expected: int | None) -> None:
    if item.agent_id != expected:
        raise Conflict(f"work item {item.id} is held by {item.agent_id}, not {expected}",
                       code="holder_changed")


def _offer(cfg: CompiledConfig, state: RouterState, d: OfferItem, now: float) -> RouterState:
    item = _item(state, d.item_id)
    _not_wrapup(item)
    _check_holder(item, None)
    if item.pending():
        raise Conflict(f"work item {item.id} already has a pending offer", code="offered")
    if not d.targets or len({t.agent_id for t in d.targets}) != len(d.targets):
        raise Conflict("an offer needs distinct target agents", code="bad_offer")
    current = loads(state, now)
    for t in d.targets:
        presence = derive_presence(state.agents.get(t.agent_id), cfg.raw.presence, now)
        if presence != "online":
            raise Conflict(f"agent {t.agent_id} is {presence}", code="agent_unavailable")
        if not fits(current.get(t.agent_id), item.channel, item.weight, t.capacity,
                    t.channel_limit):
            raise Conflict(f"agent {t.agent_id} has no room", code="over_capacity")
    records = tuple(OfferRecord(agent_id=t.agent_id, queue=t.queue, offered_at=now,
                                expires_at=d.expires_at) for t in d.targets)
    state = _put(state, replace(item, offers=item.offers + records))
    if d.rr_queue is not None and d.rr_agent is not None:
        state = replace(state, rr_cursor={**state.rr_cursor, d.rr_queue: d.rr_agent})
    return state


def _accept(state: RouterState, d: AcceptOffer, now: float) -> RouterState:
    item = _item(state, d.item_id)
    offer = _pending(item, d.agent_id)
    if offer.expires_at <= now:
        raise Conflict(f"the offer of item {item.id} expired", code="offer_expired")
    offers = tuple(
        replace(o, status="accepted", ended_at=now) if o is offer
        else replace(o, status="rescinded", ended_at=now) if o.status == "pending" else o
        for o in item.offers
    )
    state = _put(state, replace(item, offers=offers, agent_id=d.agent_id, assigned_at=now))
    return _touch_agent(state, d.agent_id, last_assigned_at=now)


def _assign(state: RouterState, d: AssignItem, now: float) -> RouterState:
    item = _item(state, d.item_id)
    _not_wrapup(item)
    _check_holder(item, d.from_agent)
    if d.agent_id == item.agent_id:
        raise Conflict(f"work item {item.id} is already with agent {d.agent_id}",
                       code="no_change")
    freed = _end_offers(item, "rescinded", now)
    # The item's own reservation of the target (a pending offer) no longer counts.
    current = loads(_put(state, replace(freed, agent_id=None)), now)
    if not d.force and not fits(current.get(d.agent_id), item.channel, item.weight,
                                d.capacity, d.channel_limit):
        raise Conflict(f"agent {d.agent_id} has no room", code="over_capacity")
    state = _put(state, replace(freed, agent_id=d.agent_id, assigned_at=now))
    if item.agent_id is not None:
        state = _touch_agent(state, item.agent_id, last_freed_at=now)
    return _touch_agent(state, d.agent_id, last_assigned_at=now)


def _transfer(state: RouterState, d: TransferItem, now: float) -> RouterState:
    item = _item(state, d.item_id)
    _not_wrapup(item)
    _check_holder(item, d.from_agent)
    moved = replace(_end_offers(item, "rescinded", now), queue=d.to_queue, enqueued_at=now,
                    step=0, agent_id=None, assigned_at=None)
    state = _put(state, moved)
    if item.agent_id is not None:
        state = _touch_agent(state, item.agent_id, last_freed_at=now)
    return state


def _complete(state: RouterState, d: CompleteItem, now: float) -> RouterState:
    item = _item(state, d.item_id)
    _not_wrapup(item)
    _check_holder(item, d.agent_id)
    if d.wrapup_until is None or d.wrapup_until <= now:
        return _touch_agent(_drop(state, item.id), d.agent_id, last_freed_at=now)
    return _put(state, replace(item, wrapup_until=d.wrapup_until))


def apply(cfg: CompiledConfig, state: RouterState, d: AnyDecision, now: float) -> RouterState:
    """Check ``d``'s preconditions against ``state`` and return the state after it."""
    if isinstance(d, Enqueue):
        if d.item.id in state.items:
            raise Conflict(f"work item {d.item.id} is already routed", code="duplicate")
        return _put(state, d.item)
    if isinstance(d, OfferItem):
        return _offer(cfg, state, d, now)
    if isinstance(d, AcceptOffer):
        return _accept(state, d, now)
    if isinstance(d, DeclineOffer | RescindOffer | ExpireOffer):
        item = _item(state, d.item_id)
        offer = _pending(item, d.agent_id)
        status: OfferStatus = "declined"
        if isinstance(d, ExpireOffer):
            if offer.expires_at > now:
                raise Conflict("the offer has not expired yet", code="not_expired")
            status = "timed_out"
        elif isinstance(d, RescindOffer):
            status = "rescinded"
        return _put(state, _end_offers(item, status, now, only=d.agent_id))
    if isinstance(d, Escalate):
        item = _item(state, d.item_id)
        if item.step != d.from_step:
            raise Conflict(f"work item {item.id} is at step {item.step}", code="step_changed")
        return _put(state, replace(item, step=d.to_step))
    if isinstance(d, AutoReply):
        item = _item(state, d.item_id)
        if item.auto_replied:
            raise Conflict(f"work item {item.id} was auto-replied", code="auto_replied")
        return _put(state, replace(item, auto_replied=True))
    if isinstance(d, TransferItem):
        return _transfer(state, d, now)
    if isinstance(d, AssignItem):
        return _assign(state, d, now)
    if isinstance(d, CompleteItem):
        return _complete(state, d, now)
    if isinstance(d, EndWrapup):
        item = _item(state, d.item_id)
        if item.wrapup_until is None or item.wrapup_until > now:
            raise Conflict(f"work item {item.id} is not done wrapping up", code="in_wrapup")
        return _touch_agent(_drop(state, item.id), d.agent_id, last_freed_at=now)
    if isinstance(d, CancelItem):
        item = _item(state, d.item_id)
        state = _drop(state, item.id)
        if item.agent_id is not None and item.wrapup_until is None:
            state = _touch_agent(state, item.agent_id, last_freed_at=now)
        return state
    agent = state.agents.get(d.agent_id) or AgentRuntime(id=d.agent_id)
    return replace(state, agents={**state.agents, d.agent_id: replace(agent,
                                                                       published=d.presence)})


def apply_all(cfg: CompiledConfig, state: RouterState, decisions: Iterable[AnyDecision],
              now: float) -> tuple[RouterState, list[AnyDecision], list[tuple[AnyDecision, str]]]:
    """Apply in order; a failed precondition skips that decision only.

    Returns (new state, applied, [(rejected, reason code)])."""
    applied: list[AnyDecision] = []
    rejected: list[tuple[AnyDecision, str]] = []
    for d in decisions:
        try:
            state = apply(cfg, state, d, now)
        except (Conflict, NotFound) as exc:
            rejected.append((d, exc.code))
        else:
            applied.append(d)
    return state, applied, rejected
