"""The routing decision core (pure: data in, decisions out; no I/O, no clock reads).

Entry points:

- :func:`load_config` -- YAML/mapping -> validated, immutable :class:`CompiledConfig`.
- :func:`enqueue` -- a new work item -> :class:`Enqueue` decision (queue by filter).
- :func:`decide` -- (config, state, now) -> decisions due now; :func:`next_wakeup`.
- :mod:`hub.routing.commands` -- accept/decline/complete/pick/reassign/transfer/cancel.
- :func:`apply` -- reference semantics of the atomic layer (precondition checks).
- :func:`queue_stats` -- depth and oldest wait per queue for supervisor boards.

See docs/routing.md for the model and its invariants.
"""

from hub.routing.apply import apply, apply_all
from hub.routing.commands import (
    Actor,
    accept,
    cancel,
    complete,
    decline,
    enqueue,
    pick,
    pickable,
    reassign,
    select_queue,
    transfer,
)
from hub.routing.config import CompiledConfig, RoutingConfig
from hub.routing.decide import decide
from hub.routing.decisions import AnyDecision, decode_decisions, encode_decisions
from hub.routing.expr import ExprError
from hub.routing.loader import RoutingConfigError, check_successor, load_config
from hub.routing.presence import derive_presence
from hub.routing.state import AgentRuntime, ItemState, OfferRecord, RouterState
from hub.routing.stats import QueueStat, queue_stats
from hub.routing.wakeup import next_wakeup

__all__ = [
    "Actor", "AgentRuntime", "AnyDecision", "CompiledConfig", "ExprError", "ItemState",
    "OfferRecord", "QueueStat", "RouterState", "RoutingConfig", "RoutingConfigError", "accept", "apply",
    "apply_all", "cancel", "check_successor", "complete", "decide", "decline",
    "decode_decisions", "derive_presence", "encode_decisions", "enqueue", "load_config",
    "next_wakeup", "pick", "pickable", "queue_stats", "reassign", "select_queue", "transfer",
]
