"""Validate and compile SLA policies against the running routing config: all or nothing.

``load_policies`` returns :class:`CompiledPolicies` or raises :class:`SlaPolicyError`
naming the field path, e.g. ``policies[1].targets.resolution.actions[0].queue: unknown
queue 'tier3'``. Queues (calendars, re-route and escalation targets) must exist in the
routing config the policies are checked against. ``choose_policy``: the first policy
whose condition matches wins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

from hub.errors import BadInput
from hub.routing.config import BusinessHours, CompiledConfig
from hub.routing.expr import Attrs, ExprError, matches, parse
from hub.routing.loader import RoutingConfigError, parse_yaml
from hub.sla.rules.policy import (
    TARGETS,
    Action,
    CompiledPolicies,
    CompiledPolicy,
    Escalate,
    HoldingMessage,
    Notify,
    Policy,
    PolicySet,
    Reroute,
)
from hub.untrusted import field_problem

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MAX_POLICIES = 200
MAX_ACTIONS = 10
MAX_TEXT = 1000


class SlaPolicyError(BadInput):
    """422 with the offending field's path (``""``: the whole document)."""

    status = 422
    code = "invalid_config"

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


def _routing_error(exc: RoutingConfigError) -> SlaPolicyError:
    # Routing's YAML reader names the path the same way; only the error class differs.
    return SlaPolicyError(exc.path, exc.problem)


def load_policies(source: str | Mapping[str, Any], routing: CompiledConfig) -> CompiledPolicies:
    """YAML/JSON text or a parsed mapping -> validated, compiled policies."""
    try:
        data = parse_yaml(source) if isinstance(source, str) else source
    except RoutingConfigError as exc:
        raise _routing_error(exc) from None
    if not isinstance(data, Mapping):
        raise SlaPolicyError("", "the policies must be a mapping at the top level")
    try:
        raw = msgspec.convert(data, PolicySet)
    except msgspec.ValidationError as exc:
        raise SlaPolicyError(*field_problem(exc)) from None
    return compile_policies(raw, routing)


def compile_policies(raw: PolicySet, routing: CompiledConfig) -> CompiledPolicies:
    """Semantic checks and parsed conditions; raises :class:`SlaPolicyError`."""
    if len(raw.policies) > MAX_POLICIES:
        raise SlaPolicyError("policies", f"at most {MAX_POLICIES}")
    seen: set[str] = set()
    for i, p in enumerate(raw.policies):
        if not ID_PATTERN.match(p.id):
            raise SlaPolicyError(f"policies[{i}].id",
                                 "must be 1-63 of a-z, 0-9, _ and -, starting alnum")
        if p.id in seen:
            raise SlaPolicyError(f"policies[{i}].id", f"duplicate policy id {p.id!r}")
        seen.add(p.id)
    compiled = tuple(_compile(f"policies[{i}]", p, routing) for i, p in enumerate(raw.policies))
    return CompiledPolicies(version=raw.version, policies=compiled)


def choose_policy(policies: CompiledPolicies, attrs: Attrs) -> CompiledPolicy | None:
    """The first policy whose condition holds for the conversation's attributes."""
    return next((p for p in policies.policies if matches(p.condition, attrs)), None)


def _compile(path: str, p: Policy, routing: CompiledConfig) -> CompiledPolicy:
    if len(p.name) > 100:
        raise SlaPolicyError(f"{path}.name", "at most 100 characters")
    try:
        condition = parse(p.when)
    except ExprError as exc:
        raise SlaPolicyError(f"{path}.when", str(exc)) from None
    hours = _calendar(f"{path}.calendar", p.calendar, routing)
    if all(getattr(p.targets, t) is None for t in TARGETS):
        raise SlaPolicyError(f"{path}.targets", f"set at least one of {', '.join(TARGETS)}")
    for t in TARGETS:
        spec = getattr(p.targets, t)
        if spec is None:
            continue
        where = f"{path}.targets.{t}.actions"
        if len(spec.actions) > MAX_ACTIONS:
            raise SlaPolicyError(where, f"at most {MAX_ACTIONS}")
        for k, action in enumerate(spec.actions):
            _check_action(f"{where}[{k}]", action, routing)
    if p.auto_close is not None:
        _text(f"{path}.auto_close.message", p.auto_close.message, required=False)
    return CompiledPolicy(raw=p, condition=condition, hours=hours)


def _calendar(path: str, queue: str | None, routing: CompiledConfig) -> BusinessHours | None:
    if queue is None:
        return None
    if queue not in routing.queues:
        raise SlaPolicyError(path, f"unknown queue {queue!r}")
    hours = routing.queues[queue].hours
    if hours is not None and not any(hours.weekly.values()) \
            and not any(hours.special.values()):
        raise SlaPolicyError(path, f"queue {queue!r} is never open: no clock could run")
    return hours


def _check_action(path: str, action: Action, routing: CompiledConfig) -> None:
    if isinstance(action, Reroute | Escalate) and action.queue not in routing.queues:
        raise SlaPolicyError(f"{path}.queue", f"unknown queue {action.queue!r}")
    if isinstance(action, Escalate):
        _text(f"{path}.reason", action.reason, required=True)
    elif isinstance(action, HoldingMessage):
        _text(f"{path}.text", action.text, required=True)
    elif isinstance(action, Notify):
        if not action.to:
            raise SlaPolicyError(f"{path}.to", "name at least one recipient")
        if len(set(action.to)) != len(action.to):
            raise SlaPolicyError(f"{path}.to", "names a recipient twice")


def _text(path: str, value: str, *, required: bool) -> None:
    if required and not value.strip():
        raise SlaPolicyError(path, "required")
    if len(value) > MAX_TEXT:
        raise SlaPolicyError(path, f"at most {MAX_TEXT} characters")
