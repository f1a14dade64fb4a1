"""Queue statistics for supervisor boards (the ``queue.stats`` event's numbers)."""

from __future__ import annotations

from dataclasses import dataclass

from hub.routing.config import CompiledConfig
from hub.routing.state import RouterState


@dataclass(frozen=True)
class QueueStat:
    queue: str
    waiting: int  # queued or offered (nobody holds them yet)
    offered: int  # of which with a pending offer
    assigned: int  # held by an agent, including wrap-up
    oldest_wait_s: float  # longest wait since queueing among the waiting, 0 if none


def queue_stats(cfg: CompiledConfig, state: RouterState, now: float) -> dict[str, QueueStat]:
    """Per-queue depth and oldest wait at ``now`` (every configured queue is present)."""
    waiting = dict.fromkeys(cfg.queue_order, 0)
    offered = dict.fromkeys(cfg.queue_order, 0)
    assigned = dict.fromkeys(cfg.queue_order, 0)
    oldest = dict.fromkeys(cfg.queue_order, 0.0)
    for item in state.items.values():
        q = item.queue
        if q not in waiting:
            continue
        if item.agent_id is not None:
            assigned[q] += 1
            continue
        waiting[q] += 1
        offered[q] += 1 if item.pending() else 0
        oldest[q] = max(oldest[q], now - item.enqueued_at)
    return {q: QueueStat(q, waiting[q], offered[q], assigned[q], oldest[q])
            for q in cfg.queue_order}
