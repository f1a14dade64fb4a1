"""Escalation chains and priority ageing (pure arithmetic over an item's age).

Step timeouts are cumulative: with steps A (60 s), A+B (120 s), overflow, an item is
in step 0 for ages [0, 60), step 1 for [60, 180) and step 2 from 180 s on. The last
step lasts forever; if it has a timeout too, the item stays in it once that elapses.
The age is measured from ``enqueued_at`` (a transfer restarts the chain).
"""

from __future__ import annotations

import math

from hub.routing.config import CompiledConfig, EscalationStep
from hub.routing.state import ItemState


def step_starts(steps: tuple[EscalationStep, ...]) -> list[float]:
    """The age at which each step begins."""
    starts, t = [], 0.0
    for step in steps:
        starts.append(t)
        t += step.timeout_s if step.timeout_s is not None else math.inf
    return starts


def step_at(steps: tuple[EscalationStep, ...], age: float) -> int:
    """Index of the step active at ``age`` seconds after queueing."""
    current = 0
    for i, start in enumerate(step_starts(steps)):
        if age >= start:
            current = i
    return current


def chain_end(cfg: CompiledConfig, queue: str) -> float:
    """The age at which the item's last step begins (0 with a single step)."""
    return step_starts(cfg.steps(queue))[-1]


def current_step(cfg: CompiledConfig, item: ItemState, now: float) -> int:
    return step_at(cfg.steps(item.queue), now - item.enqueued_at)


def pool_queues(cfg: CompiledConfig, item: ItemState, now: float) -> tuple[str, ...]:
    """The queues whose agents may be offered the item at ``now``."""
    return cfg.steps(item.queue)[current_step(cfg, item, now)].queues


def next_step_at(cfg: CompiledConfig, item: ItemState, now: float) -> float | None:
    """When the item enters its next step (None: already in the last)."""
    steps = cfg.steps(item.queue)
    starts = step_starts(steps)
    i = step_at(steps, now - item.enqueued_at)
    return item.enqueued_at + starts[i + 1] if i + 1 < len(starts) else None


def effective_priority(cfg: CompiledConfig, item: ItemState, now: float) -> int:
    """Base + queue + step boost + ageing (capped), so waiting items climb."""
    ageing = cfg.raw.ageing
    waited = max(0.0, now - item.created_at)
    boost = min(ageing.max_boost, ageing.step * int(waited // ageing.every_s))
    queue = cfg.queues.get(item.queue)
    base = item.priority + (queue.priority if queue is not None else 0)
    if queue is not None:
        base += cfg.steps(item.queue)[current_step(cfg, item, now)].priority_boost
    return base + boost
