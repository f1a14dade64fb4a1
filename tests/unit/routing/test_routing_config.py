"""Routing config: loads from YAML, is immutable and versioned, and a bad config is
rejected with the bad field's path and never half-applied."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest
import yaml

from hub.errors import ConfigError
from hub.routing import RoutingConfigError, check_successor, load_config, select_queue

EXAMPLE = """
version: 7
default_queue: general
capacity:
  units: 60
  weights: {voice: 60, chat: 20, email: 12}
  max_per_channel: {voice: 1}
offers: {timeout_s: 20, mode: single}
ageing: {every_s: 30, step: 1, max_boost: 20}
wrapup_s: {voice: 30, default: 10}
queues:
  - id: vip
    filter: 'tier == "vip" or vip == true'
    strategy: sticky
    sticky: {timeout_s: 45, fallback: least_busy}
    priority: 5
  - id: billing
    filter: 'channel == "chat" and topic in ["billing", "upgrade"]'
    strategy: round_robin
    requires_skills: {billing: 2}
    escalation:
      - {queues: [billing], timeout_s: 60}
      - {queues: [billing, general], timeout_s: 120}
      - {queues: [overflow], relax_skills: true}
    hours:
      tz: Europe/Berlin
      weekly:
        mon: ["09:00-12:00", "13:00-17:00"]
        tue: ["09:00-17:00"]
      holidays: [2025-12-25, "2025-12-26"]
      special: {2025-12-24: ["09:00-12:00"]}
      after_hours: {action: overflow, queue: overflow}
  - id: tv
    filter: 'has_skill("tv", 2) or ivr == "3"'
    strategy: longest_idle
  - id: general
  - id: overflow
    hours:
      tz: America/New_York
      weekly: {mon: ["00:00-24:00"]}
      after_hours: {action: auto_reply, message: "We are closed; we will answer soon."}
agents:
  - {id: 1, queues: [billing, general], skills: {billing: 3}, languages: [en, de]}
  - {id: 2, queues: [general, overflow], capacity: 40, max_per_channel: {chat: 2}}
  - {id: 3, queues: [vip, tv], skills: {tv: 2}}
"""


def data() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(EXAMPLE)
    return loaded


def test_example_loads_with_derived_lookups() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.version == 7
    assert cfg.queue_order == ("vip", "billing", "tv", "general", "overflow")
    assert cfg.members["general"] == (1, 2)
    assert cfg.weight("voice") == 60 and cfg.weight("chat") == 20 and cfg.weight("sms") == 15
    assert cfg.capacity(2) == 40 and cfg.capacity(1) == 60 and cfg.capacity(99) == 0
    assert cfg.channel_limit(1, "voice") == 1 and cfg.channel_limit(2, "chat") == 2
    assert cfg.wrapup_s("voice") == 30 and cfg.wrapup_s("email") == 10
    assert cfg.offer_settings("billing").timeout_s == 20
    assert [s.queues for s in cfg.steps("billing")] == [
        ("billing",), ("billing", "general"), ("overflow",)]
    assert cfg.steps("general")[0].queues == ("general",)


def test_queue_selection_by_filter_in_order() -> None:
    cfg = load_config(EXAMPLE)
    assert select_queue(cfg, "chat", {"tier": "vip", "topic": "billing"}) == "vip"
    assert select_queue(cfg, "chat", {"topic": "billing"}) == "billing"
    assert select_queue(cfg, "email", {"topic": "billing"}) == "general"
    assert select_queue(cfg, "voice", {"ivr": "3"}) == "tv"
    assert select_queue(cfg, "voice", {"skills": {"tv": 2}}) == "tv"
    assert select_queue(cfg, "sms", {}) == "general"


def test_config_is_immutable() -> None:
    cfg = load_config(EXAMPLE)
    with pytest.raises(AttributeError):
        cfg.raw.queues[0].filter = "true"  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.queues["new"] = cfg.queues["vip"]  # type: ignore[index]


def test_hash_covers_content_not_version() -> None:
    a = load_config(EXAMPLE)
    newer = data()
    newer["version"] = 8
    b = load_config(newer)
    assert a.content_hash == b.content_hash
    changed = data()
    changed["offers"]["timeout_s"] = 25
    assert load_config(changed).content_hash != a.content_hash
    check_successor(a, b)
    check_successor(None, a)
    with pytest.raises(RoutingConfigError, match=r"^version: must be > 8"):
        check_successor(b, a)


def test_bad_config_is_never_half_applied() -> None:
    running = load_config(EXAMPLE)
    before = msgspec.json.encode(running.raw)
    bad = data()
    bad["queues"][1]["escalation"][0]["timeout_s"] = 0
    with pytest.raises(RoutingConfigError):
        running = load_config(bad)
    assert msgspec.json.encode(running.raw) == before
    assert running.version == 7


def _set(d: dict[str, Any], path: str, value: Any) -> None:
    keys: list[Any] = [int(k) if k.isdigit() else k for k in path.split(".")]
    for k in keys[:-1]:
        d = d[k]
    if value is _DELETE:
        del d[keys[-1]]
    else:
        d[keys[-1]] = value


_DELETE = object()

BAD = [
    ("queues.1.escalation.0.timeout_s", 0, "queues[1].escalation[0].timeout_s: must be > 0"),
    ("queues.1.escalation.0.timeout_s", "soon",
     "queues[1].escalation[0].timeout_s: expected float | null, got str"),
    ("queues.1.escalation.0.timeout_s", None,
     "queues[1].escalation[0].timeout_s: required on every step but the last"),
    ("queues.1.escalation.1.queues", ["billing", "nope"],
     "queues[1].escalation[1].queues[1]: unknown queue 'nope'"),
    ("queues.1.escalation.1.queues", [], "queues[1].escalation[1].queues: must name at least"),
    ("queues.1.filter", 'channel == "chat" and (',
     "queues[1].filter: column 24: expected a value"),
    ("queues.1.strategy", "random", "queues[1].strategy: invalid enum value 'random'"),
    ("queues.1.colour", "blue", "queues[1].colour: unknown field"),
    ("queues.0.sticky", _DELETE, "queues[0].sticky: required when strategy is sticky"),
    ("queues.2.id", "billing", "queues[2].id: duplicate queue id 'billing'"),
    ("queues.2.id", "TV Queue", "queues[2].id: must be 1-63 of a-z"),
    ("queues.1.hours.tz", "Mars/Olympus", "queues[1].hours.tz: unknown time zone"),
    ("queues.1.hours.weekly.mon", ["09:00-12:00", "11:00-17:00"],
     "queues[1].hours.weekly.mon: periods overlap"),
    ("queues.1.hours.weekly.tue", ["17:00-09:00"], "queues[1].hours.weekly.tue[0]: "),
    ("queues.1.hours.weekly.tue", ["9-17"], "queues[1].hours.weekly.tue[0]: '9-17' is not"),
    ("queues.1.hours.weekly.tue", ["09:00-24:30"],
     "queues[1].hours.weekly.tue[0]: '09:00-24:30' has an impossible time"),
    ("queues.1.hours.weekly.sunday", ["09:00-17:00"],
     "queues[1].hours.weekly: invalid enum value 'sunday'"),
    ("queues.1.hours.holidays", ["2025-02-30"], "queues[1].hours.holidays[0]: invalid"),
    ("queues.1.hours.after_hours.queue", "billing",
     "queues[1].hours.after_hours.queue: must be another queue"),
    ("queues.1.hours.after_hours.queue", None,
     "queues[1].hours.after_hours.queue: required when action is overflow"),
    ("queues.4.hours.after_hours.message", " ",
     "queues[4].hours.after_hours.message: required when action is auto_reply"),
    ("queues.1.requires_skills.billing", 11, "queues[1].requires_skills.billing: must be between"),
    ("capacity.units", 0, "capacity.units: must be >= 1"),
    ("capacity.weights.chat", 61, "capacity.weights.chat: must be between 1 and 60"),
    ("capacity.weights.fax", 10, "capacity.weights.fax: unknown channel"),
    ("offers.mode", "shotgun", "offers.mode: invalid enum value 'shotgun'"),
    ("offers.timeout_s", -5, "offers.timeout_s: must be > 0"),
    ("wrapup_s.voice", -1, "wrapup_s.voice: must be >= 0"),
    ("agents.1.id", 1, "agents[1].id: duplicate agent id 1"),
    ("agents.0.queues", ["billing", "sales"], "agents[0].queues[1]: unknown queue 'sales'"),
    ("agents.2.skills.tv", -1, "agents[2].skills.tv: must be between 0 and 10"),
    ("agents.1.capacity", 0, "agents[1].capacity: must be >= 1"),
    ("default_queue", "nowhere", "default_queue: unknown queue 'nowhere'"),
    ("version", 0, "version: must be >= 1"),
    ("version", _DELETE, "version: required"),
    ("queues", [], "queues: must define at least one queue"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD, ids=[b[2][:50] for b in BAD])
def test_bad_config_names_the_field(path: str, value: Any, message: str) -> None:
    bad = copy.deepcopy(data())
    _set(bad, path, value)
    with pytest.raises(RoutingConfigError) as info:
        load_config(bad)
    assert str(info.value).startswith(message), str(info.value)
    assert isinstance(info.value, ConfigError)
    assert info.value.path == message.split(":")[0]


def test_overflow_loops_are_rejected() -> None:
    bad = data()
    bad["queues"][4]["hours"]["after_hours"] = {"action": "overflow", "queue": "billing"}
    with pytest.raises(RoutingConfigError, match=r"after-hours overflow loops back"):
        load_config(bad)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 1\nqueues: [", "not valid YAML: line 2"),
        ("- just\n- a list\n", "the config must be a mapping"),
        ("version: 1\n", "queues: required"),
        ("version: 1\nqueues:\n  - {id: a, filter: 'x ==== 1'}\n",
         "queues[0].filter: column 5: expected a value"),
    ],
)
def test_bad_yaml_text(text: str, message: str) -> None:
    with pytest.raises(RoutingConfigError) as info:
        load_config(text)
    assert str(info.value).startswith(message), str(info.value)
