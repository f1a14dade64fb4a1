"""SLA policies (hub/sla/rules/policy.py, load.py): a full document loads, every invalid
field is named by its path in a 422-class error, queues are checked against the routing
config, and the first matching policy wins."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hub.errors import BadInput
from hub.routing.config import CompiledConfig
from hub.routing.loader import load_config
from hub.sla.rules.load import SlaPolicyError, choose_policy, load_policies
from hub.sla.rules.policy import Escalate, HoldingMessage, Notify, RaisePriority, Reassign

ROUTING: CompiledConfig = load_config({
    "version": 1,
    "queues": [
        {"id": "support", "hours": {"tz": "Europe/Berlin",
                                    "weekly": {"mon": ["09:00-17:00"], "fri": ["09:00-17:00"]}}},
        {"id": "vip"},
        {"id": "tier2"},
        {"id": "closed", "hours": {"tz": "Europe/Berlin"}},
    ],
})

DOC: dict[str, Any] = {
    "version": 3,
    "policies": [
        {
            "id": "vip",
            "name": "VIP customers",
            "when": 'customer.tier == "vip" or "urgent" in labels',
            "warning_percent": 75,
            "targets": {
                "first_response": {"seconds": 300, "actions": [
                    {"type": "notify", "on": "warning", "to": ["supervisors", "assignee"]},
                    {"type": "holding_message", "text": "We are on it."},
                ]},
                "resolution": {"seconds": 14400, "actions": [
                    {"type": "escalate", "queue": "tier2", "reason": "VIP unresolved in 4 h"},
                    {"type": "raise_priority", "by": 2},
                ]},
            },
        },
        {
            "id": "standard",
            "calendar": "support",
            "targets": {
                "first_response": {"seconds": 3600},
                "next_response": {"seconds": 7200, "actions": [{"type": "reassign"}]},
                "resolution": {"seconds": 86400,
                               "actions": [{"type": "reroute", "queue": "vip"}]},
            },
            "auto_close": {"after_days": 3, "message": "Closing as we have not heard back."},
        },
    ],
}


def doc(**edits: Any) -> dict[str, Any]:
    """DOC with ``path=value`` edits (``policies.0.targets``, dotted, list indices)."""
    out = copy.deepcopy(DOC)
    for dotted, value in edits.items():
        *parents, last = dotted.split(".")
        node: Any = out
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return out


def failure(data: Any) -> SlaPolicyError:
    with pytest.raises(SlaPolicyError) as info:
        load_policies(data, ROUTING)
    return info.value


def test_a_full_document_loads_with_typed_actions_and_resolved_calendars() -> None:
    policies = load_policies(DOC, ROUTING)
    assert policies.version == 3
    vip, standard = policies.policies
    assert vip.hours is None and standard.hours == ROUTING.queues["support"].hours
    fr = vip.target("first_response")
    assert fr is not None and fr.seconds == 300
    assert fr.actions == (Notify(on="warning", to=("supervisors", "assignee")),
                          HoldingMessage(text="We are on it.", on="warning"))
    res = vip.target("resolution")
    assert res is not None
    assert res.actions == (Escalate(queue="tier2", reason="VIP unresolved in 4 h"),
                           RaisePriority(by=2))
    assert vip.target("next_response") is None
    nr = standard.target("next_response")
    assert nr is not None and nr.actions == (Reassign(agent=None),)
    assert standard.raw.auto_close is not None and standard.raw.auto_close.after_days == 3
    assert standard.raw.warning_percent == 80  # the default


def test_yaml_text_loads_too() -> None:
    text = """
version: 1
policies:
  - id: all
    targets: {first_response: {seconds: 600}}
"""
    assert load_policies(text, ROUTING).policies[0].id == "all"


def test_the_first_matching_policy_wins() -> None:
    policies = load_policies(DOC, ROUTING)
    assert choose_policy(policies, {"customer.tier": "vip"}).id == "vip"  # type: ignore[union-attr]
    assert choose_policy(policies, {"labels": ["urgent"], "customer.tier": "gold"}
                         ).id == "vip"  # type: ignore[union-attr]
    assert choose_policy(policies, {"customer.tier": "gold"}).id == "standard"  # type: ignore[union-attr]
    only_vip = doc(**{"policies": [DOC["policies"][0]]})
    assert choose_policy(load_policies(only_vip, ROUTING), {}) is None


@pytest.mark.parametrize(("data", "path", "problem"), [
    (doc(**{"policies.0.colour": "red"}), "policies[0].colour", "unknown field"),
    (doc(**{"policies.0.targets.first_response.seconds": 0}),
     "policies[0].targets.first_response.seconds", "must be >= 1"),
    (doc(**{"policies.0.targets.first_response.seconds": "soon"}),
     "policies[0].targets.first_response.seconds", "expected int, got str"),
    (doc(**{"policies.0.warning_percent": 100}), "policies[0].warning_percent",
     "must be <= 99"),
    (doc(**{"policies.1.targets.resolution.actions.0": {"type": "explode"}}),
     "policies[1].targets.resolution.actions[0].type", "invalid value 'explode'"),
    (doc(**{"policies.1.targets.resolution.actions.0": {"type": "reroute"}}),
     "policies[1].targets.resolution.actions[0].queue", "required"),
    (doc(**{"policies.1.targets.resolution.actions.0": {"type": "reroute", "queue": "nope"}}),
     "policies[1].targets.resolution.actions[0].queue", "unknown queue 'nope'"),
    (doc(**{"policies.0.targets.resolution.actions.0.reason": "  "}),
     "policies[0].targets.resolution.actions[0].reason", "required"),
    (doc(**{"policies.0.targets.first_response.actions.1.text": ""}),
     "policies[0].targets.first_response.actions[1].text", "required"),
    (doc(**{"policies.0.targets.first_response.actions.0.to": []}),
     "policies[0].targets.first_response.actions[0].to", "name at least one recipient"),
    (doc(**{"policies.0.targets.first_response.actions.0.to": ["assignee", "assignee"]}),
     "policies[0].targets.first_response.actions[0].to", "names a recipient twice"),
    (doc(**{"policies.0.targets.first_response.actions.0.on": "later"}),
     "policies[0].targets.first_response.actions[0].on", None),
    (doc(**{"policies.1.calendar": "nowhere"}), "policies[1].calendar",
     "unknown queue 'nowhere'"),
    (doc(**{"policies.1.calendar": "closed"}), "policies[1].calendar", None),
    (doc(**{"policies.1.targets": {}}), "policies[1].targets", None),
    (doc(**{"policies.1.id": "vip"}), "policies[1].id", "duplicate policy id 'vip'"),
    (doc(**{"policies.1.id": "Not A Slug"}), "policies[1].id", None),
    (doc(**{"policies.1.auto_close.after_days": 0}), "policies[1].auto_close.after_days",
     "must be >= 1"),
    (doc(**{"policies.1.auto_close.message": "x" * 1001}), "policies[1].auto_close.message",
     "at most 1000 characters"),
    (doc(**{"version": 0}), "version", "must be >= 1"),
    ({"policies": []}, "version", "required"),
    (["not", "a", "mapping"], "", None),
])
def test_an_invalid_field_is_named_by_its_path(data: Any, path: str,
                                               problem: str | None) -> None:
    err = failure(data)
    assert err.path == path
    if problem is not None:
        assert err.problem == problem
    assert err.status == 422 and isinstance(err, BadInput)
    assert err.reason.startswith(path)


def test_a_bad_condition_names_the_field_and_the_column() -> None:
    err = failure(doc(**{"policies.0.when": "customer.tier == "}))
    assert err.path == "policies[0].when"
    assert err.problem.startswith("column 18: ")  # the end of the text


def test_bad_yaml_is_a_whole_document_error() -> None:
    err = failure("version: [1\n")
    assert err.path == ""
