"""Load, validate and compile a routing config: all or nothing.

``load_config`` returns a new immutable :class:`CompiledConfig` or raises
:class:`RoutingConfigError` naming the bad field path, e.g.
``queues[1].escalation[0].timeout_s: must be > 0``. Nothing is ever half-applied: the
caller swaps its reference only after a successful load.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, get_args

import msgspec

from hub.errors import BadInput, ConfigError
from hub.routing.config import (
    DEFAULT_WEIGHTS,
    BusinessHours,
    CompiledConfig,
    QueueConfig,
    RoutingConfig,
)
from hub.routing.expr import ExprError, Node, parse
from hub.routing.hours import parse_period, zone
from hub.schema import Channel
from hub.untrusted import field_problem, load_yaml

CHANNELS: frozenset[str] = frozenset(get_args(Channel))
MAX_SKILL_LEVEL = 10
_QUEUE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class RoutingConfigError(ConfigError):
    """A routing config is invalid; ``path`` names the field (``""``: the whole file)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


def _fail(path: str, problem: str) -> RoutingConfigError:
    return RoutingConfigError(path, problem)


def _from_msgspec(exc: msgspec.ValidationError) -> RoutingConfigError:
    return _fail(*field_problem(exc))


# A top-level key routing ignores: the SLA policies (docs/sla.md "In the routing YAML").
SLA_SECTION = "sla"


def parse_yaml(text: str) -> Any:
    """``hub.untrusted.load_yaml`` with errors turned into :class:`RoutingConfigError`."""
    try:
        return load_yaml(text)
    except BadInput as exc:
        raise _fail("", exc.reason) from None


def load_config(source: str | Mapping[str, Any]) -> CompiledConfig:
    """YAML text (or an already-parsed mapping) -> validated, compiled config."""
    data = parse_yaml(source) if isinstance(source, str) else source
    if not isinstance(data, Mapping):
        raise _fail("", "the config must be a mapping at the top level")
    # The SLA policies may ride in the same document; hub/sla validates and stores them.
    data = {k: v for k, v in data.items() if k != SLA_SECTION}
    try:
        raw = msgspec.convert(data, RoutingConfig)
    except msgspec.ValidationError as exc:
        raise _from_msgspec(exc) from None
    return compile_config(raw)


def check_successor(current: CompiledConfig | None, new: CompiledConfig) -> None:
    """A new version must be newer than the running one (rejects stale admin writes)."""
    if current is not None and new.version <= current.version:
        raise _fail("version", f"must be > {current.version} (the running version)")


def content_hash(raw: RoutingConfig) -> str:
    builtins = msgspec.to_builtins(msgspec.structs.replace(raw, version=1))
    body = json.dumps(builtins, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def _levels(path: str, table: Mapping[str, int]) -> None:
    for name, level in table.items():
        if not name:
            raise _fail(path, "skill names must not be empty")
        if not 0 <= level <= MAX_SKILL_LEVEL:
            raise _fail(f"{path}.{name}", f"must be between 0 and {MAX_SKILL_LEVEL}")


def _channel_table(path: str, table: Mapping[str, Any], extra: tuple[str, ...] = ()) -> None:
    for key in table:
        if key not in CHANNELS and key not in extra:
            known = ", ".join(sorted(CHANNELS | set(extra)))
            raise _fail(f"{path}.{key}", f"unknown channel (known: {known})")


def _check_hours(path: str, hours: BusinessHours, queues: Mapping[str, QueueConfig],
                 self_id: str) -> None:
    try:
        zone(hours.tz)
    except ValueError as exc:
        raise _fail(f"{path}.tz", str(exc)) from None
    tables = [(f"{path}.weekly.{d}", p) for d, p in hours.weekly.items()]
    tables += [(f"{path}.special.{d.isoformat()}", p) for d, p in hours.special.items()]
    for where, periods in tables:
        spans = []
        for i, text in enumerate(periods):
            try:
                spans.append(parse_period(text))
            except ValueError as exc:
                raise _fail(f"{where}[{i}]", str(exc)) from None
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            if start < end:
                raise _fail(where, "periods overlap")
    ah = hours.after_hours
    if ah.action == "overflow":
        if ah.queue is None:
            raise _fail(f"{path}.after_hours.queue", "required when action is overflow")
        if ah.queue not in queues:
            raise _fail(f"{path}.after_hours.queue", f"unknown queue {ah.queue!r}")
        if ah.queue == self_id:
            raise _fail(f"{path}.after_hours.queue", "must be another queue")
    elif ah.queue is not None:
        raise _fail(f"{path}.after_hours.queue", "only used when action is overflow")
    if ah.action == "auto_reply" and not ah.message.strip():
        raise _fail(f"{path}.after_hours.message", "required when action is auto_reply")


def _check_queue(i: int, q: QueueConfig, queues: Mapping[str, QueueConfig]) -> Node:
    path = f"queues[{i}]"
    try:
        node = parse(q.filter)
    except ExprError as exc:
        raise _fail(f"{path}.filter", str(exc)) from None
    if q.strategy == "sticky" and q.sticky is None:
        raise _fail(f"{path}.sticky", "required when strategy is sticky")
    if q.strategy != "sticky" and q.sticky is not None:
        raise _fail(f"{path}.sticky", "only used when strategy is sticky")
    _levels(f"{path}.requires_skills", q.requires_skills)
    for s, step in enumerate(q.escalation):
        where = f"{path}.escalation[{s}]"
        if not step.queues:
            raise _fail(f"{where}.queues", "must name at least one queue")
        for k, name in enumerate(step.queues):
            if name not in queues:
                raise _fail(f"{where}.queues[{k}]", f"unknown queue {name!r}")
        if len(set(step.queues)) != len(step.queues):
            raise _fail(f"{where}.queues", "names a queue twice")
        if step.timeout_s is None and s != len(q.escalation) - 1:
            raise _fail(f"{where}.timeout_s", "required on every step but the last")
    if q.hours is not None:
        _check_hours(f"{path}.hours", q.hours, queues, q.id)
    return node


def _check_overflow_cycles(raw: RoutingConfig) -> None:
    nxt = {q.id: q.hours.after_hours.queue for q in raw.queues
           if q.hours is not None and q.hours.after_hours.action == "overflow"}
    for i, q in enumerate(raw.queues):
        seen, cur = {q.id}, nxt.get(q.id)
        while cur is not None:
            if cur in seen:
                raise _fail(f"queues[{i}].hours.after_hours.queue",
                            f"after-hours overflow loops back to {cur!r}")
            seen.add(cur)
            cur = nxt.get(cur)


def compile_config(raw: RoutingConfig) -> CompiledConfig:
    """Semantic validation and derived lookups; raises :class:`RoutingConfigError`."""
    if not raw.queues:
        raise _fail("queues", "must define at least one queue")
    queues: dict[str, QueueConfig] = {}
    for i, q in enumerate(raw.queues):
        if not _QUEUE_ID.match(q.id):
            raise _fail(f"queues[{i}].id", "must be 1-63 of a-z, 0-9, _ and -, starting alnum")
        if q.id in queues:
            raise _fail(f"queues[{i}].id", f"duplicate queue id {q.id!r}")
        queues[q.id] = q
    filters = {q.id: _check_queue(i, q, queues) for i, q in enumerate(raw.queues)}
    _check_overflow_cycles(raw)
    if raw.default_queue is not None and raw.default_queue not in queues:
        raise _fail("default_queue", f"unknown queue {raw.default_queue!r}")

    cap = raw.capacity
    _channel_table("capacity.weights", cap.weights, ("default",))
    weights = {**DEFAULT_WEIGHTS, "default": 20, **cap.weights}
    for ch, w in cap.weights.items():
        if not 1 <= w <= cap.units:
            raise _fail(f"capacity.weights.{ch}", f"must be between 1 and {cap.units}")
    _channel_table("capacity.max_per_channel", cap.max_per_channel)
    for ch, n in cap.max_per_channel.items():
        if n < 0:
            raise _fail(f"capacity.max_per_channel.{ch}", "must be >= 0")
    _channel_table("wrapup_s", raw.wrapup_s, ("default",))
    for ch, secs in raw.wrapup_s.items():
        if secs < 0:
            raise _fail(f"wrapup_s.{ch}", "must be >= 0")
    if raw.presence.offline_after_s < raw.presence.away_grace_s:
        raise _fail("presence.offline_after_s", "must be >= presence.away_grace_s")

    agents = {}
    members: dict[str, list[int]] = {q: [] for q in queues}
    for i, a in enumerate(raw.agents):
        path = f"agents[{i}]"
        if a.id in agents:
            raise _fail(f"{path}.id", f"duplicate agent id {a.id}")
        for k, name in enumerate(a.queues):
            if name not in queues:
                raise _fail(f"{path}.queues[{k}]", f"unknown queue {name!r}")
            members[name].append(a.id)
        _levels(f"{path}.skills", a.skills)
        _channel_table(f"{path}.max_per_channel", a.max_per_channel)
        for ch, n in a.max_per_channel.items():
            if n < 0:
                raise _fail(f"{path}.max_per_channel.{ch}", "must be >= 0")
        agents[a.id] = a
    return CompiledConfig(
        raw=raw,
        content_hash=content_hash(raw),
        queues=MappingProxyType(queues),
        queue_order=tuple(queues),
        filters=MappingProxyType(filters),
        agents=MappingProxyType(agents),
        members=MappingProxyType({q: tuple(sorted(set(m))) for q, m in members.items()}),
        weights=MappingProxyType(weights),
        default_queue=raw.default_queue or raw.queues[0].id,
    )
