"""Decisions: explicit commands for the atomic layer (Redis Lua or a DB transaction).

Each decision names what to change and carries what the atomic layer must re-check
(its *preconditions*) so a decision computed from a stale snapshot fails cleanly
instead of breaking an invariant. :func:`hub.routing.apply.apply` is the reference
semantics; the Lua scripts must implement the same checks and effects. Decisions are
msgspec-tagged, so they travel as JSON (``encode_decision`` / ``decode_decisions``).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from hub.routing.state import ItemState
from hub.schema import Presence


class Decision(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True,
               tag_field="type"):
    pass


class Enqueue(Decision, tag="enqueue", frozen=True, kw_only=True):
    """Add a new item. Pre: no item with this id."""

    item: ItemState


class OfferTarget(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    agent_id: int
    queue: str  # the pool queue the agent was drawn from
    capacity: int  # the agent's capacity in units (pre: load + weight <= capacity)
    channel_limit: int | None = None  # pre: items on this channel < limit


class OfferItem(Decision, tag="offer", frozen=True, kw_only=True):
    """Reserve the item for one agent (or several at once: broadcast).

    Pre: the item exists, nobody holds it, it has no pending offer; every target is
    online, and the item fits the target's capacity and channel limit. All or nothing.
    """

    item_id: int
    channel: str
    weight: int
    step: int
    targets: tuple[OfferTarget, ...]
    offered_at: float
    expires_at: float
    rr_queue: str | None = None  # round robin: set rr_cursor[rr_queue] = rr_agent
    rr_agent: int | None = None


class AcceptOffer(Decision, tag="offer.accept", frozen=True, kw_only=True):
    """The agent accepts. Pre: their offer is pending and not expired. Effect: the
    item is assigned to them; every other pending offer is rescinded (first accept wins)."""

    item_id: int
    agent_id: int


class DeclineOffer(Decision, tag="offer.decline", frozen=True, kw_only=True):
    """Pre: the agent's offer is pending."""

    item_id: int
    agent_id: int


class ExpireOffer(Decision, tag="offer.expire", frozen=True, kw_only=True):
    """Pre: the agent's offer is pending and ``expires_at <= now``."""

    item_id: int
    agent_id: int


class RescindOffer(Decision, tag="offer.rescind", frozen=True, kw_only=True):
    """Withdraw a pending offer (agent went away, ...). Pre: the offer is pending."""

    item_id: int
    agent_id: int
    reason: str


class Escalate(Decision, tag="escalate", frozen=True, kw_only=True):
    """The item entered a later escalation step. Pre: item.step == from_step."""

    item_id: int
    from_step: int
    to_step: int
    queues: tuple[str, ...]


class AutoReply(Decision, tag="auto_reply", frozen=True, kw_only=True):
    """Send the after-hours auto-reply once. Pre: not auto-replied yet."""

    item_id: int
    queue: str
    message: str


class TransferItem(Decision, tag="transfer", frozen=True, kw_only=True):
    """Move the item to another queue; its escalation clock restarts. Pending offers
    are rescinded and a holder is released. Pre: the item is not in wrap-up and its
    holder is ``from_agent``."""

    item_id: int
    to_queue: str
    from_agent: int | None = None
    reason: Literal["after_hours", "supervisor", "agent", "config"] = "supervisor"


class AssignItem(Decision, tag="assign", frozen=True, kw_only=True):
    """Hand the item straight to an agent (manual pick, supervisor reassign).
    Pre: not in wrap-up; holder is ``from_agent``; fits the agent unless ``force``.
    Pending offers are rescinded."""

    item_id: int
    agent_id: int
    from_agent: int | None = None
    reason: Literal["pick", "reassign"] = "pick"
    capacity: int
    channel_limit: int | None = None
    force: bool = False


class CompleteItem(Decision, tag="complete", frozen=True, kw_only=True):
    """The agent finished; wrap-up holds capacity until ``wrapup_until`` (None: the
    item is removed now). Pre: the item is assigned to ``agent_id``."""

    item_id: int
    agent_id: int
    wrapup_until: float | None


class EndWrapup(Decision, tag="wrapup.end", frozen=True, kw_only=True):
    """Remove a finished item. Pre: in wrap-up and ``wrapup_until <= now``."""

    item_id: int
    agent_id: int


class CancelItem(Decision, tag="cancel", frozen=True, kw_only=True):
    """The customer went away (hang-up, abandoned chat). Pre: the item exists."""

    item_id: int
    reason: str = "abandoned"


class PresenceChange(Decision, tag="presence", frozen=True, kw_only=True):
    """Announce a derived presence change (the ``agent.presence`` event)."""

    agent_id: int
    presence: Presence


AnyDecision = (
    Enqueue | OfferItem | AcceptOffer | DeclineOffer | ExpireOffer | RescindOffer | Escalate
    | AutoReply | TransferItem | AssignItem | CompleteItem | EndWrapup | CancelItem
    | PresenceChange
)

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(list[AnyDecision])


def encode_decisions(decisions: list[AnyDecision]) -> bytes:
    return _encoder.encode(decisions)


def decode_decisions(data: bytes | str) -> list[AnyDecision]:
    out: list[AnyDecision] = _decoder.decode(data)
    return out
