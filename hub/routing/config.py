"""The routing configuration model: immutable msgspec Structs, unknown fields rejected.

Load and validate with :func:`hub.routing.loader.load_config`; never build a
:class:`CompiledConfig` by hand outside tests. Capacity is in integer *units* (no float
drift): by default an agent has 60 units, a call weighs 60, a chat 20, an email 12,
so an agent takes 1 call, or 3 chats, or 5 emails, or a mix such as 1 chat + 3 emails.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Literal

import msgspec

from hub.channels_table import CHANNELS
from hub.routing.expr import Node

Strategy = Literal["round_robin", "least_busy", "longest_idle", "sticky"]
FallbackStrategy = Literal["round_robin", "least_busy", "longest_idle"]
OfferMode = Literal["single", "broadcast"]
AfterHoursAction = Literal["queue", "auto_reply", "overflow"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

PosFloat = Annotated[float, msgspec.Meta(gt=0)]
NonNegFloat = Annotated[float, msgspec.Meta(ge=0)]
PosInt = Annotated[int, msgspec.Meta(ge=1)]
NonNegInt = Annotated[int, msgspec.Meta(ge=0)]

DEFAULT_UNITS = 60
# Each channel's default weight lives with its other facts (hub/channels_table.py).
DEFAULT_WEIGHTS: dict[str, int] = {name: f.routing_weight for name, f in CHANNELS.items()}


class _Cfg(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


class CapacityConfig(_Cfg, frozen=True, kw_only=True):
    """Agent capacity in units; each channel's item weighs ``weights[channel]`` units."""

    units: PosInt = DEFAULT_UNITS
    weights: dict[str, int] = {}  # merged over DEFAULT_WEIGHTS
    # Optional hard cap on simultaneous items per channel, e.g. {"voice": 1}.
    max_per_channel: dict[str, int] = {}


class PresenceConfig(_Cfg, frozen=True, kw_only=True):
    """Presence from heartbeats: a silent socket counts as disconnected after
    ``heartbeat_timeout_s``; a disconnected agent stays as they were for
    ``away_grace_s``, is then away, and offline after ``offline_after_s``."""

    heartbeat_timeout_s: PosFloat = 45.0
    away_grace_s: NonNegFloat = 30.0
    offline_after_s: PosFloat = 600.0


class OfferConfig(_Cfg, frozen=True, kw_only=True):
    timeout_s: PosFloat = 30.0
    mode: OfferMode = "single"
    broadcast_size: PosInt = 3
    # An agent who declined / let an item time out gets it again only when no one else
    # can take it, and not before this long after their offer ended.
    reoffer_cooldown_s: NonNegFloat = 30.0


class AgeingConfig(_Cfg, frozen=True, kw_only=True):
    """Effective priority = priority + step * floor(wait / every_s), at most max_boost."""

    every_s: PosFloat = 60.0
    step: NonNegInt = 1
    max_boost: NonNegInt = 100


class StickyConfig(_Cfg, frozen=True, kw_only=True):
    """Prefer the customer's last agent for ``timeout_s`` after queueing, then fall back."""

    timeout_s: PosFloat = 60.0
    fallback: FallbackStrategy = "longest_idle"
    # Wait for the last agent while they are signed in but full/away; else fall back now.
    wait_if_busy: bool = True


class EscalationStep(_Cfg, frozen=True, kw_only=True):
    """One step: its queues' agents form the pool for ``timeout_s`` (None: forever)."""

    queues: tuple[str, ...]
    timeout_s: PosFloat | None = None
    priority_boost: int = 0
    # Drop skill and language requirements in this step (e.g. "anyone, after 5 min").
    relax_skills: bool = False


class AfterHours(_Cfg, frozen=True, kw_only=True):
    action: AfterHoursAction = "queue"
    queue: str | None = None  # overflow target
    message: str = ""  # auto-reply text


class BusinessHours(_Cfg, frozen=True, kw_only=True):
    """Wall-clock periods ("HH:MM-HH:MM", end may be 24:00) per weekday in ``tz``;
    a missing weekday is closed. ``holidays`` are closed all day unless ``special``
    gives that date its own periods."""

    tz: str
    weekly: dict[Weekday, tuple[str, ...]] = {}
    holidays: tuple[date, ...] = ()
    special: dict[date, tuple[str, ...]] = {}
    after_hours: AfterHours = AfterHours()


class QueueConfig(_Cfg, frozen=True, kw_only=True):
    id: str
    name: str = ""
    # Filter over work-item/customer attributes; items go to the first queue matching.
    filter: str = "true"
    strategy: Strategy = "longest_idle"
    sticky: StickyConfig | None = None
    priority: int = 0
    requires_skills: dict[str, int] = {}
    match_item_skills: bool = True  # the item's "skills" attribute is a requirement
    match_language: bool = True  # the item's "language" must be one the agent speaks
    escalation: tuple[EscalationStep, ...] = ()  # empty: one step, this queue, forever
    hours: BusinessHours | None = None  # None: always open
    offers: OfferConfig | None = None  # None: the global offer settings


class AgentProfile(_Cfg, frozen=True, kw_only=True):
    """An agent's routing profile; runtime state (presence, load) lives in the state."""

    id: int
    queues: tuple[str, ...] = ()
    skills: dict[str, int] = {}
    languages: tuple[str, ...] = ()  # empty: any language
    capacity: PosInt | None = None  # None: capacity.units
    max_per_channel: dict[str, int] = {}  # merged over capacity.max_per_channel


class RoutingConfig(_Cfg, frozen=True, kw_only=True):
    version: PosInt
    default_queue: str | None = None  # None: the first queue
    capacity: CapacityConfig = CapacityConfig()
    presence: PresenceConfig = PresenceConfig()
    offers: OfferConfig = OfferConfig()
    ageing: AgeingConfig = AgeingConfig()
    wrapup_s: dict[str, float] = {}  # per channel; "default" for the rest
    queues: tuple[QueueConfig, ...]
    agents: tuple[AgentProfile, ...] = ()


@dataclass(frozen=True)
class CompiledConfig:
    """A validated config plus derived lookups. Built only by ``loader.compile_config``."""

    raw: RoutingConfig
    content_hash: str  # sha256 of the canonical content (version excluded)
    queues: Mapping[str, QueueConfig]
    queue_order: tuple[str, ...]
    filters: Mapping[str, Node]
    agents: Mapping[int, AgentProfile]
    members: Mapping[str, tuple[int, ...]]  # queue -> agent ids (sorted)
    weights: Mapping[str, int]
    default_queue: str

    @property
    def version(self) -> int:
        return self.raw.version

    def weight(self, channel: str) -> int:
        return self.weights.get(channel, self.weights["default"])

    def capacity(self, agent_id: int) -> int:
        profile = self.agents.get(agent_id)
        if profile is None:
            return 0
        return profile.capacity if profile.capacity is not None else self.raw.capacity.units

    def channel_limit(self, agent_id: int, channel: str) -> int | None:
        profile = self.agents.get(agent_id)
        if profile is not None and channel in profile.max_per_channel:
            return profile.max_per_channel[channel]
        return self.raw.capacity.max_per_channel.get(channel)

    def wrapup_s(self, channel: str) -> float:
        table = self.raw.wrapup_s
        return table.get(channel, table.get("default", 0.0))

    def offer_settings(self, queue: str) -> OfferConfig:
        q = self.queues.get(queue)
        return q.offers if q is not None and q.offers is not None else self.raw.offers

    def steps(self, queue: str) -> tuple[EscalationStep, ...]:
        q = self.queues[queue]
        return q.escalation or (EscalationStep(queues=(queue,)),)
