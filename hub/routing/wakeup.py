"""When to call ``decide`` next if nothing else happens.

``next_wakeup`` is the earliest future instant at which ``decide`` could return
something new without any event: an offer expiring, a wrap-up ending, an escalation
step starting, a sticky window closing, a re-offer cool-down ending, a presence grace
period running out or a queue opening/closing. Ageing only reorders waiting items, so
it is not a wake-up reason.
"""

from __future__ import annotations

from hub.routing.config import CompiledConfig
from hub.routing.escalation import next_step_at
from hub.routing.hours import next_change
from hub.routing.presence import next_presence_change
from hub.routing.state import RouterState


def next_wakeup(cfg: CompiledConfig, state: RouterState, now: float) -> float | None:
    """The earliest instant > ``now`` worth a ``decide`` call (None: only events)."""
    times: list[float | None] = []
    for agent in state.agents.values():
        times.append(next_presence_change(agent, cfg.raw.presence, now))
    watch: set[str] = set()
    for item in state.items.values():
        if item.wrapup_until is not None:
            times.append(item.wrapup_until)
            continue
        times.extend(o.expires_at for o in item.pending())
        if item.agent_id is not None or item.queue not in cfg.queues:
            continue
        times.append(next_step_at(cfg, item, now))
        queue = cfg.queues[item.queue]
        if queue.sticky is not None and item.last_agent_id is not None:
            times.append(item.enqueued_at + queue.sticky.timeout_s)
        cooldown = cfg.offer_settings(item.queue).reoffer_cooldown_s
        times.extend(t + cooldown for t in item.refused_by().values())
        for step in cfg.steps(item.queue):
            watch.update(step.queues)
        watch.add(item.queue)
    for name in watch:
        times.append(next_change(cfg.queues[name].hours, now))
    future = [t for t in times if t is not None and t > now]
    return min(future) if future else None
