"""Runtime routing state: agents, work items, offers, round-robin cursors.

Immutable snapshots (frozen Structs; treat the dicts inside as read-only). Times are
epoch seconds (``float``). An item's status is *derived* from its fields, so it can
never disagree with them: wrapup if ``wrapup_until`` is set, assigned if it has an
``agent_id``, offered if an offer is pending, else queued.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from hub.routing.expr import Value

OfferStatus = Literal["pending", "accepted", "declined", "timed_out", "rescinded"]
ItemStatus = Literal["queued", "offered", "assigned", "wrapup"]
AgentStatus = Literal["available", "away", "busy", "offline"]


class _State(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


class OfferRecord(_State, frozen=True, kw_only=True):
    """One offer of an item to one agent (a reservation while pending)."""

    agent_id: int
    queue: str  # the pool queue the agent was drawn from
    offered_at: float
    expires_at: float
    status: OfferStatus = "pending"
    ended_at: float | None = None


class ItemState(_State, frozen=True, kw_only=True):
    id: int
    channel: str
    queue: str  # current queue: its escalation chain, strategy and hours apply
    weight: int  # capacity units, fixed when queued
    priority: int = 0
    created_at: float  # ageing clock
    enqueued_at: float  # escalation clock (restarts on transfer)
    attrs: dict[str, Value] = {}
    last_agent_id: int | None = None  # the customer's last agent (sticky routing)
    step: int = 0  # escalation step last applied
    auto_replied: bool = False
    agent_id: int | None = None  # holder once accepted / assigned
    assigned_at: float | None = None
    wrapup_until: float | None = None
    offers: tuple[OfferRecord, ...] = ()

    @property
    def status(self) -> ItemStatus:
        if self.wrapup_until is not None:
            return "wrapup"
        if self.agent_id is not None:
            return "assigned"
        if any(o.status == "pending" for o in self.offers):
            return "offered"
        return "queued"

    def pending(self) -> tuple[OfferRecord, ...]:
        return tuple(o for o in self.offers if o.status == "pending")

    def pending_for(self, agent_id: int) -> OfferRecord | None:
        for o in self.offers:
            if o.agent_id == agent_id and o.status == "pending":
                return o
        return None

    def refused_by(self) -> dict[int, float]:
        """Agents who declined or let this item time out -> when their last offer ended."""
        out: dict[int, float] = {}
        for o in self.offers:
            if o.status in ("declined", "timed_out"):
                out[o.agent_id] = max(out.get(o.agent_id, 0.0), o.ended_at or o.offered_at)
        return out


class AgentRuntime(_State, frozen=True, kw_only=True):
    """Presence inputs and history of one agent (the profile is in the config)."""

    id: int
    status: AgentStatus = "available"  # what the agent chose
    connected: bool = False
    last_heartbeat_at: float | None = None
    disconnected_at: float | None = None
    published: str = "offline"  # presence last announced (see decide's PresenceChange)
    last_assigned_at: float | None = None
    last_freed_at: float | None = None


class RouterState(_State, frozen=True, kw_only=True):
    agents: dict[int, AgentRuntime] = {}
    items: dict[int, ItemState] = {}
    rr_cursor: dict[str, int] = {}  # queue -> last agent id served


# ---- load accounting ----------------------------------------------------------------


@dataclass
class Load:
    """Capacity in use by one agent: pending offers + assigned + wrap-up in progress."""

    units: int = 0
    per_channel: dict[str, int] = field(default_factory=dict)
    items: int = 0

    def add(self, channel: str, weight: int) -> None:
        self.units += weight
        self.per_channel[channel] = self.per_channel.get(channel, 0) + 1
        self.items += 1


def holds(item: ItemState, now: float) -> Iterable[int]:
    """Agents whose capacity ``item`` uses at ``now``."""
    if item.wrapup_until is not None:
        if item.wrapup_until > now and item.agent_id is not None:
            yield item.agent_id
        return
    if item.agent_id is not None:
        yield item.agent_id
        return
    for o in item.offers:
        if o.status == "pending":
            yield o.agent_id


def loads(state: RouterState, now: float) -> dict[int, Load]:
    """Per-agent load at ``now`` (agents with nothing are absent)."""
    out: dict[int, Load] = {}
    for item in state.items.values():
        for agent_id in holds(item, now):
            out.setdefault(agent_id, Load()).add(item.channel, item.weight)
    return out


def fits(load: Load | None, channel: str, weight: int, capacity: int,
         limit: int | None) -> bool:
    """Whether an item of ``weight`` on ``channel`` fits next to ``load``."""
    units = load.units if load is not None else 0
    count = load.per_channel.get(channel, 0) if load is not None else 0
    return units + weight <= capacity and (limit is None or count < limit)
