"""Commands from the pipeline, agents and supervisors, turned into decisions.

Each function checks permission (raises :class:`Forbidden`), builds the decision and
dry-runs it with :func:`hub.routing.apply.apply` on the caller's snapshot, so a request
that cannot succeed fails here with a clear :class:`Conflict`/:class:`NotFound` reason
and nothing changes. The atomic layer re-checks the same preconditions when it
applies the returned decision.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.access import Role, sees_all_inboxes
from hub.errors import Conflict, Forbidden, NotFound
from hub.routing.apply import apply
from hub.routing.config import CompiledConfig
from hub.routing.decisions import (
    AcceptOffer,
    AnyDecision,
    AssignItem,
    CancelItem,
    CompleteItem,
    DeclineOffer,
    Enqueue,
    TransferItem,
)
from hub.routing.escalation import pool_queues
from hub.routing.expr import Value, matches
from hub.routing.state import ItemState, RouterState


@dataclass(frozen=True)
class Actor:
    """Who asks: an agent id and their role (from the session at the web edge)."""

    agent_id: int
    role: Role

    @property
    def supervises(self) -> bool:
        return sees_all_inboxes(self.role)


def _checked(cfg: CompiledConfig, state: RouterState, d: AnyDecision, now: float) -> None:
    apply(cfg, state, d, now)  # raises Conflict / NotFound; the result is discarded


def _item(state: RouterState, item_id: int) -> ItemState:
    item = state.items.get(item_id)
    if item is None:
        raise NotFound(f"work item {item_id} is not routed", code="item_gone")
    return item


def select_queue(cfg: CompiledConfig, channel: str, attrs: dict[str, Value]) -> str:
    """The first queue (in config order) whose filter matches, else the default queue.

    Filters see the item's attributes plus ``channel``."""
    ctx: dict[str, Value] = {**attrs, "channel": channel}
    for queue in cfg.queue_order:
        if matches(cfg.filters[queue], ctx):
            return queue
    return cfg.default_queue


def enqueue(cfg: CompiledConfig, *, item_id: int, channel: str, created_at: float,
            attrs: dict[str, Value] | None = None, priority: int = 0,
            last_agent_id: int | None = None, queue: str | None = None) -> Enqueue:
    """A new work item: its queue (by filter unless given) and weight are fixed now."""
    attrs = dict(attrs or {})
    target = queue if queue is not None else select_queue(cfg, channel, attrs)
    if target not in cfg.queues:
        raise NotFound(f"unknown queue {target!r}", code="queue_unknown")
    return Enqueue(item=ItemState(
        id=item_id, channel=channel, queue=target, weight=cfg.weight(channel),
        priority=priority, created_at=created_at, enqueued_at=created_at, attrs=attrs,
        last_agent_id=last_agent_id))


def accept(cfg: CompiledConfig, state: RouterState, item_id: int, agent_id: int,
           now: float) -> AcceptOffer:
    """The agent accepts their pending offer (first accept of a broadcast wins)."""
    d = AcceptOffer(item_id=item_id, agent_id=agent_id)
    _checked(cfg, state, d, now)
    return d


def decline(cfg: CompiledConfig, state: RouterState, item_id: int, agent_id: int,
            now: float) -> DeclineOffer:
    """The agent declines; the next decide offers the item to someone else."""
    d = DeclineOffer(item_id=item_id, agent_id=agent_id)
    _checked(cfg, state, d, now)
    return d


def complete(cfg: CompiledConfig, state: RouterState, item_id: int, agent_id: int,
             now: float) -> CompleteItem:
    """The agent finished the item; wrap-up keeps its weight for the channel's wrapup_s."""
    item = _item(state, item_id)
    secs = cfg.wrapup_s(item.channel)
    d = CompleteItem(item_id=item_id, agent_id=agent_id,
                     wrapup_until=now + secs if secs > 0 else None)
    _checked(cfg, state, d, now)
    return d


def cancel(cfg: CompiledConfig, state: RouterState, item_id: int, now: float,
           reason: str = "abandoned") -> CancelItem:
    """The customer left (hang-up, abandoned chat): withdraw the item everywhere."""
    d = CancelItem(item_id=item_id, reason=reason)
    _checked(cfg, state, d, now)
    return d


def visible_queues(cfg: CompiledConfig, actor: Actor) -> tuple[str, ...]:
    """Queues the actor may see and pick from (supervisors: all)."""
    if actor.supervises:
        return cfg.queue_order
    profile = cfg.agents.get(actor.agent_id)
    return profile.queues if profile is not None else ()


def may_pick(cfg: CompiledConfig, actor: Actor, item: ItemState, now: float) -> bool:
    """An agent may pick an item of a queue they belong to, or that is in the item's
    current escalation pool and one of their queues; supervisors may pick anything."""
    if actor.supervises:
        return True
    mine = set(visible_queues(cfg, actor))
    return item.queue in mine or bool(mine & set(pool_queues(cfg, item, now)))


def pickable(cfg: CompiledConfig, state: RouterState, actor: Actor,
             now: float) -> list[ItemState]:
    """Items the actor may pick now (queued or offered, in a permitted queue), oldest first."""
    items = [i for i in state.items.values()
             if i.agent_id is None and i.wrapup_until is None and i.queue in cfg.queues
             and may_pick(cfg, actor, i, now)]
    return sorted(items, key=lambda i: (i.enqueued_at, i.id))


def in_progress(state: RouterState, actor: Actor) -> list[ItemState]:
    """Items held by an agent (assigned or in wrap-up), for a supervisor's board, oldest
    assignment first; nobody else sees other agents' work here."""
    if not actor.supervises:
        return []
    items = [i for i in state.items.values() if i.agent_id is not None]
    return sorted(items, key=lambda i: (i.assigned_at or i.enqueued_at, i.id))


def pick(cfg: CompiledConfig, state: RouterState, actor: Actor, item_id: int,
         now: float) -> AssignItem:
    """The actor takes a waiting item themselves (within their capacity)."""
    item = _item(state, item_id)
    if item.agent_id is not None:
        raise Conflict(f"work item {item_id} is already assigned", code="taken")
    if not may_pick(cfg, actor, item, now):
        raise Forbidden(f"work item {item_id} is not in a queue you may pick from")
    if actor.agent_id not in cfg.agents:
        raise Forbidden("you have no routing profile")
    d = AssignItem(item_id=item_id, agent_id=actor.agent_id, from_agent=None, reason="pick",
                   capacity=cfg.capacity(actor.agent_id),
                   channel_limit=cfg.channel_limit(actor.agent_id, item.channel))
    _checked(cfg, state, d, now)
    return d


def reassign(cfg: CompiledConfig, state: RouterState, actor: Actor, item_id: int,
             to_agent: int, now: float, *, force: bool = False) -> AssignItem:
    """A supervisor hands the item to ``to_agent`` (``force`` ignores their capacity)."""
    if not actor.supervises:
        raise Forbidden("only supervisors reassign work items")
    if to_agent not in cfg.agents:
        raise NotFound(f"agent {to_agent} has no routing profile", code="agent_unknown")
    item = _item(state, item_id)
    d = AssignItem(item_id=item_id, agent_id=to_agent, from_agent=item.agent_id,
                   reason="reassign", capacity=cfg.capacity(to_agent),
                   channel_limit=cfg.channel_limit(to_agent, item.channel), force=force)
    _checked(cfg, state, d, now)
    return d


def transfer(cfg: CompiledConfig, state: RouterState, actor: Actor, item_id: int,
             to_queue: str, now: float) -> TransferItem:
    """Send the item back to routing in ``to_queue`` (supervisors, or its holder)."""
    item = _item(state, item_id)
    if to_queue not in cfg.queues:
        raise NotFound(f"unknown queue {to_queue!r}", code="queue_unknown")
    holder = actor.agent_id == item.agent_id
    if not (actor.supervises or holder):
        raise Forbidden("only supervisors or the item's holder transfer it")
    d = TransferItem(item_id=item_id, to_queue=to_queue, from_agent=item.agent_id,
                     reason="supervisor" if actor.supervises else "agent")
    _checked(cfg, state, d, now)
    return d
