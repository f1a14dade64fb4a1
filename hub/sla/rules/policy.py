"""The SLA policy document: immutable msgspec Structs, unknown fields rejected.

Validate and compile with :func:`hub.sla.rules.load.load_policies`; never build a
:class:`CompiledPolicy` by hand outside tests. A policy names its conditions in the
routing filter language (``hub/routing/expr.py``), its targets in working seconds of a
routing calendar, and per target the actions to run at warning and at breach. Actions
are data here: what runs them (workers, through ``hub/sla/actions.py``) is not built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec

from hub.routing.config import BusinessHours
from hub.routing.expr import Node

Target = Literal["first_response", "next_response", "resolution"]
TARGETS: tuple[Target, ...] = ("first_response", "next_response", "resolution")
Recipient = Literal["supervisors", "assignee"]
Moment = Literal["warning", "breach"]

PosInt = Annotated[int, msgspec.Meta(ge=1)]
Percent = Annotated[int, msgspec.Meta(ge=1, le=99)]
# A target longer than a year of working time is a typo, not a promise.
TargetSeconds = Annotated[int, msgspec.Meta(ge=1, le=366 * 86400)]


class _Body(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


class _Action(_Body, frozen=True, kw_only=True, tag_field="type"):
    # When it runs: at the warning threshold or at the breach.
    on: Moment = "breach"


class Notify(_Action, frozen=True, kw_only=True, tag="notify"):
    """Tell supervisors (board and event) and/or the agent holding the conversation."""

    to: tuple[Recipient, ...] = ("supervisors",)


class RaisePriority(_Action, frozen=True, kw_only=True, tag="raise_priority"):
    by: PosInt = 1


class Reroute(_Action, frozen=True, kw_only=True, tag="reroute"):
    """Move the waiting item to another routing queue."""

    queue: str


class Reassign(_Action, frozen=True, kw_only=True, tag="reassign"):
    """Give the conversation to another agent, or (no agent) put it back in its queue."""

    agent: PosInt | None = None


class Escalate(_Action, frozen=True, kw_only=True, tag="escalate"):
    """Hand it to a tier-2 queue with a reason the next agent reads."""

    queue: str
    reason: str


class HoldingMessage(_Action, frozen=True, kw_only=True, tag="holding_message"):
    """Send the customer a short "we are on it" message on their channel."""

    text: str
    on: Moment = "warning"


Action = Notify | RaisePriority | Reroute | Reassign | Escalate | HoldingMessage


class TargetSpec(_Body, frozen=True, kw_only=True):
    seconds: TargetSeconds
    actions: tuple[Action, ...] = ()


class Targets(_Body, frozen=True, kw_only=True):
    first_response: TargetSpec | None = None
    next_response: TargetSpec | None = None
    resolution: TargetSpec | None = None


class AutoClose(_Body, frozen=True, kw_only=True):
    """Resolve a conversation left pending on the customer for ``after_days`` (working
    days of the policy's calendar), optionally saying ``message`` on its channel."""

    after_days: Annotated[int, msgspec.Meta(ge=1, le=365)]
    message: str = ""


class Policy(_Body, frozen=True, kw_only=True):
    id: str
    name: str = ""
    # Filter over conversation and customer attributes; the first matching policy wins.
    when: str = "true"
    # A routing queue whose business hours the clocks count; None: around the clock.
    calendar: str | None = None
    warning_percent: Percent = 80
    targets: Targets
    auto_close: AutoClose | None = None


class PolicySet(_Body, frozen=True, kw_only=True):
    version: PosInt
    policies: tuple[Policy, ...] = ()


@dataclass(frozen=True)
class CompiledPolicy:
    """A validated policy with its parsed condition and resolved calendar."""

    raw: Policy
    condition: Node
    hours: BusinessHours | None  # None: every second counts

    @property
    def id(self) -> str:
        return self.raw.id

    def target(self, name: Target) -> TargetSpec | None:
        spec: TargetSpec | None = getattr(self.raw.targets, name)
        return spec


@dataclass(frozen=True)
class CompiledPolicies:
    """A whole validated document, in evaluation order. Built only by ``load``."""

    version: int
    policies: tuple[CompiledPolicy, ...]
