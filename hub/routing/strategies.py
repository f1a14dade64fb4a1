"""Agent selection: who qualifies for an item, and in what order to offer it.

Strategies rank the qualifying, available agents with room:

- ``round_robin``: rotate by agent id after the queue's cursor (the last agent served),
  so equal agents get items in turn. The cursor is explicit state (``rr_cursor``).
- ``least_busy``: lowest share of capacity in use, then fewest units, then longest idle.
- ``longest_idle``: agents with nothing first, then whoever has waited longest since
  their last assignment or release.
- ``sticky``: the customer's last agent first (decided in :mod:`hub.routing.decide`),
  then the queue's fallback strategy.

Ties always break on agent id, so a ranking is deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from hub.languages import speaks
from hub.routing.config import AgentProfile, CompiledConfig, EscalationStep, QueueConfig
from hub.routing.expr import Value
from hub.routing.state import AgentRuntime, ItemState

NEVER = float("-inf")


@dataclass(frozen=True)
class Candidate:
    agent_id: int
    queue: str  # pool queue the agent qualifies through
    used: int  # capacity units in use
    capacity: int
    idle_since: float  # last assignment or release (-inf: never)


def idle_since(agent: AgentRuntime | None) -> float:
    if agent is None:
        return NEVER
    times = [t for t in (agent.last_assigned_at, agent.last_freed_at) if t is not None]
    return max(times) if times else NEVER


def round_robin(cands: list[Candidate], cursor: int | None) -> list[Candidate]:
    ordered = sorted(cands, key=lambda c: c.agent_id)
    if cursor is None:
        return ordered
    after = [c for c in ordered if c.agent_id > cursor]
    return after + [c for c in ordered if c.agent_id <= cursor]


def least_busy(cands: list[Candidate]) -> list[Candidate]:
    return sorted(cands, key=lambda c: (Fraction(c.used, max(1, c.capacity)), c.used,
                                        c.idle_since, c.agent_id))


def longest_idle(cands: list[Candidate]) -> list[Candidate]:
    return sorted(cands, key=lambda c: (c.used > 0, c.idle_since, c.agent_id))


def rank(strategy: str, cands: list[Candidate], cursor: int | None) -> list[Candidate]:
    """Order candidates by a non-sticky strategy."""
    if strategy == "round_robin":
        return round_robin(cands, cursor)
    if strategy == "least_busy":
        return least_busy(cands)
    return longest_idle(cands)


def base_strategy(queue: QueueConfig) -> str:
    """The ranking used once stickiness does not apply."""
    if queue.strategy == "sticky":
        return queue.sticky.fallback if queue.sticky is not None else "longest_idle"
    return queue.strategy


# ---- requirements ---------------------------------------------------------------------


@dataclass(frozen=True)
class Requirements:
    skills: Mapping[str, int]
    language: str | None


def _item_skills(value: Value) -> dict[str, int]:
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if isinstance(v, int)}
    if isinstance(value, list):
        return {k: 1 for k in value if isinstance(k, str)}
    return {}


def requirements(cfg: CompiledConfig, item: ItemState, step: EscalationStep) -> Requirements:
    """Skills (name -> minimum level) and language an agent needs for the item now."""
    queue = cfg.queues.get(item.queue)
    if queue is None or step.relax_skills:
        return Requirements({}, None)
    skills = dict(queue.requires_skills)
    if queue.match_item_skills:
        for name, level in _item_skills(item.attrs.get("skills")).items():
            skills[name] = max(level, skills.get(name, 0))
    lang = item.attrs.get("language")
    language = lang if queue.match_language and isinstance(lang, str) and lang else None
    return Requirements(skills, language)


def qualifies(profile: AgentProfile, req: Requirements) -> bool:
    """Whether the agent has every skill at the level needed and speaks the language."""
    # BCP 47 fallback: an item in en-US is for an agent who lists en (hub/languages.py).
    if req.language is not None and profile.languages and not speaks(req.language,
                                                                      profile.languages):
        return False
    return all(profile.skills.get(name, 0) >= level for name, level in req.skills.items())
