"""Pure tests of call scripts: parsing, validation (each rejection names the step),
variables and the runner."""

from __future__ import annotations

import json

import pytest

from hub.errors import BadInput, Conflict
from hub.voice.rules.scripts import (
    ScriptError,
    answer_step,
    back_step,
    fill,
    graph_of,
    parse_script,
    render,
    script_from_graph,
    start_run,
    variables_from_context,
)

GOOD = """
name: Internet outage
queue: support
topic: internet
start: greet
steps:
  greet:
    prompt: "Hello {contact.name}, is the light on your {account.plan} router on?"
    options:
      - {label: "Yes", value: "yes", next: devices}
      - {label: "No", value: "no", next: power}
  devices: {prompt: "Which devices are offline?", input: text, next: decide}
  decide:
    branch:
      - {if: {step: greet, equals: "no"}, next: visit}
      - {if: {step: devices, in: ["none", "-"]}, next: done}
    default: visit
  power:
    prompt: "Unplug it for 10 s."
    options: [{label: Works, next: done}, {label: Still down, next: greet}]
  visit: {prompt: "Booking a technician for {account.no} ({answers.devices}).", end: true}
  done: {prompt: "Glad it works, {contact.first_name}!", end: true}
"""


def bad(text: str) -> ScriptError:
    with pytest.raises(ScriptError) as exc:
        parse_script(text)
    assert exc.value.status == 422
    return exc.value


def mutate(**steps: object) -> str:
    import yaml
    doc = yaml.safe_load(GOOD)
    for key, value in steps.items():
        if value is None:
            del doc["steps"][key]
        else:
            doc["steps"][key] = value
    return json.dumps(doc)


def test_good_script_parses_in_yaml_and_json_and_round_trips():
    script = parse_script(GOOD)
    assert script.order == ("greet", "devices", "decide", "power", "visit", "done")
    as_json = json.dumps(graph_of(script))
    again = parse_script(as_json, "application/json")
    assert graph_of(again) == graph_of(script)
    assert graph_of(script_from_graph(graph_of(script))) == graph_of(script)


def test_dangling_target_names_the_step():
    err = bad(mutate(devices={"prompt": "x", "input": "text", "next": "nowhere"}))
    assert err.step == "devices" and "'nowhere' does not exist" in err.reason


def test_unreachable_step_is_named():
    err = bad(mutate(orphan={"prompt": "never asked", "end": True}))
    assert err.step == "orphan" and "unreachable" in err.reason


def test_cycle_without_exit_is_rejected():
    err = bad(mutate(
        power={"prompt": "p", "options": [{"label": "a", "next": "loop"}]},
        loop={"prompt": "l", "options": [{"label": "b", "next": "power"}]}))
    assert err.step in ("power", "loop") and "cycle without an exit" in err.reason
    # A cycle that has a way out is fine (power -> greet -> ... -> done).
    parse_script(GOOD)


def test_branch_only_cycle_is_rejected():
    text = mutate(decide={"branch": [{"if": {"step": "greet", "equals": "no"},
                                      "next": "visit"}], "default": "decide2"},
                  decide2={"branch": [{"if": {"step": "greet", "equals": "yes"},
                                       "next": "done"}], "default": "decide"})
    err = bad(text)
    assert err.step in ("decide", "decide2")


def test_unknown_variables_are_named():
    err = bad(mutate(visit={"prompt": "Hi {customer.shoe_size}", "end": True}))
    assert err.step == "visit" and "{customer.shoe_size}" in err.reason
    err = bad(mutate(visit={"prompt": "Hi {answers.nope}", "end": True}))
    assert err.step == "visit" and "answers.nope" in err.reason
    err = bad(mutate(greet={"prompt": "ok", "options": [
        {"label": "{contact.nickname}", "next": "devices"}]}))
    assert err.step == "greet"


@pytest.mark.parametrize(("steps", "step", "words"), [
    ({"greet": {"prompt": "x"}}, "greet", "exactly one of"),
    ({"greet": {"prompt": "x", "end": True, "options": [{"label": "a", "next": "done"}]}},
     "greet", "exactly one of"),
    ({"greet": {"options": [{"label": "a", "next": "devices"}]}}, "greet", "prompt"),
    ({"greet": {"prompt": "x", "options": []}}, "greet", "options"),
    ({"greet": {"prompt": "x", "options": [{"label": "a", "next": "devices"},
                                           {"label": "a", "next": "power"}]}},
     "greet", "distinct"),
    ({"devices": {"prompt": "x", "input": "date", "next": "decide"}}, "devices", "input"),
    ({"devices": {"prompt": "x", "input": "text"}}, "devices", "missing"),
    ({"decide": {"branch": [{"if": {"step": "visit", "equals": "x"}, "next": "done"}],
                 "default": "visit"}}, "decide", "not a step with an answer"),
    ({"decide": {"branch": [{"if": {"step": "greet", "equals": "maybe"}, "next": "done"}],
                 "default": "visit"}}, "decide", "not an option"),
    ({"decide": {"branch": [{"if": {"step": "greet"}, "next": "done"}],
                 "default": "visit"}}, "decide", "one of equals"),
    ({"decide": {"branch": [{"if": {"step": "greet", "equals": "no"}, "next": "done"}]}},
     "decide", "default"),
    ({"Bad-Id": {"prompt": "x", "end": True}}, "Bad-Id", "ids"),
    ({"greet": {"prompt": "x", "colour": "red", "end": True}}, "greet", "colour"),
])
def test_malformed_steps(steps, step, words):
    err = bad(mutate(**steps))
    assert err.step == step, err.reason
    assert words in err.reason


def test_document_level_errors():
    assert "mapping" in bad("- a\n- b").reason
    assert "YAML" in bad("name: [unclosed").reason
    assert bad(GOOD.replace("start: greet", "start: nope")).step == "nope"
    assert "name" in bad(GOOD.replace("name: Internet outage", "name: ''")).reason
    assert bad('{"name": "x", "start": "a", "steps": {}}').reason.startswith("steps")


CONTEXT = {"contact": {"name": "Emma Müller", "email": "e@x", "phone": "+49301"},
           "accounts": [{"account_no": "AC-1", "plan": "Fibre 300"},
                        {"account_no": "AC-2", "plan": "TV Plus"}],
           "orders": [{"order_no": "ORD-9", "status": "shipped", "total": 99.0}],
           "ivr": {"account": "AC-2", "language": "de"}}


def test_variables_prefer_the_ivr_account_and_fill_unknowns_with_a_dash():
    values = variables_from_context(CONTEXT, agent_name="Maya")
    assert values["account.plan"] == "TV Plus"   # the account the caller keyed in
    assert values["contact.first_name"] == "Emma"
    assert fill("{contact.name} / {account.no} / {order.no} / {ivr.menu}", values, {}) == \
        "Emma Müller / AC-2 / ORD-9 / —"
    assert fill("{{literal}} {agent.name}", values, {}) == "{literal} Maya"


def test_run_follows_options_inputs_and_branches():
    script = parse_script(GOOD)
    values = variables_from_context(CONTEXT)
    state = start_run(script)
    view = render(script, state, values)
    assert view["prompt"] == "Hello Emma Müller, is the light on your TV Plus router on?"
    assert [o["value"] for o in view["options"]] == ["yes", "no"]
    state = answer_step(script, state, "greet", "yes")
    assert state.current == "devices"
    state = answer_step(script, state, "devices", "none")
    assert state.current == "done" and state.done       # branch: devices in [none, -]
    assert state.path == ["greet", "devices", "decide"]
    assert state.answers == {"greet": "yes", "devices": "none"}

    state = answer_step(script, start_run(script), "greet", "yes")
    state = answer_step(script, state, "devices", "TV box")
    assert state.current == "visit"                     # default
    assert render(script, state, values)["prompt"] == \
        "Booking a technician for AC-2 (TV box)."


def test_run_rejects_wrong_answers_and_stale_steps_and_can_go_back():
    script = parse_script(GOOD)
    state = start_run(script)
    with pytest.raises(BadInput):
        answer_step(script, state, "greet", "perhaps")
    with pytest.raises(Conflict):
        answer_step(script, state, "devices", "x")
    state = answer_step(script, state, "greet", "no")
    assert state.current == "power"
    state = back_step(script, state)
    assert state.current == "greet" and state.answers == {}
    state = answer_step(script, state, "greet", "no")
    state = answer_step(script, state, "power", "Works")
    assert state.done
    with pytest.raises(Conflict):
        answer_step(script, state, "done", "x")
