"""Call scripts: a graph of steps an agent walks during a call. Pure: parse and
validate an uploaded YAML/JSON document, fill variables from the caller's context, and
run it (answer → next step, branches on earlier answers).

```yaml
name: Internet outage
queue: support            # chosen for calls in this queue ...
topic: internet           # ... or for this callback / IVR topic (topic wins)
start: greet
steps:
  greet:
    prompt: "Hello {contact.name}, is the light on your {account.plan} router on?"
    options:
      - {label: "Yes", value: "yes", next: devices}
      - {label: "No", next: power}        # value defaults to the label
  devices: {prompt: "Which devices are offline?", input: text, next: decide}
  decide:                                   # no prompt: evaluated at once
    branch:
      - {if: {step: greet, equals: "no"}, next: visit}
      - {if: {step: devices, in: ["none", "-"]}, next: done}
    default: visit
  power: {prompt: "Unplug it for 10 s.", options: [{label: Works, next: done},
                                                     {label: Still down, next: visit}]}
  visit: {prompt: "Booking a technician for {account.no}.", end: true}
  done: {prompt: "Glad it works, {contact.first_name}!", end: true}
```

Validation rejects, naming the step: dangling targets, unreachable steps, cycles with
no way to an end step, unknown variables, malformed steps.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import msgspec

from hub.errors import BadInput, Conflict
from hub.untrusted import decode_json, load_yaml

_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_VAR = re.compile(r"\{([^{}]*)\}")
MAX_STEPS = 200
MAX_OPTIONS = 20
MAX_TEXT = 2000
MAX_SOURCE = 200_000

VARIABLES: frozenset[str] = frozenset({
    "contact.name", "contact.first_name", "contact.email", "contact.phone", "contact.tier",
    "contact.locale", "account.no", "account.plan", "account.service", "account.status",
    "account.monthly_fee", "order.no", "order.status", "order.total", "ivr.account",
    "ivr.menu", "ivr.language", "call.from", "call.to", "call.queue", "callback.topic",
    "agent.name",
})


class ScriptError(BadInput):
    """An uploaded script is invalid; ``step`` names where (empty: the document)."""

    status = 422
    code = "invalid_script"

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"step {step!r}: {reason}" if step else reason)
        self.step = step
        self.detail = reason


class Option(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    label: str
    next: str
    value: str = ""


class Condition(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    step: str
    equals: str | None = None
    # "in" is a Python keyword: the YAML key is mapped by rename.
    any_of: list[str] | None = msgspec.field(default=None, name="in")
    not_equals: str | None = None


class Branch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # "if" is a keyword too.
    when: Condition = msgspec.field(name="if")
    next: str = ""


class Step(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    prompt: str = ""
    options: list[Option] | None = None
    input: str | None = None          # "text" | "number"
    next: str | None = None           # after input
    branch: list[Branch] | None = None
    default: str | None = None        # branch fallback
    end: bool = False


class ScriptDoc(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: str
    start: str
    steps: dict[str, Step]
    queue: str = ""
    topic: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class Script:
    doc: ScriptDoc
    order: tuple[str, ...]    # steps in document order (error messages, listing)

    def step(self, step_id: str) -> Step:
        return self.doc.steps[step_id]


def _kind(step: Step) -> str:
    kinds = [k for k, present in (("options", step.options is not None),
                                  ("input", step.input is not None),
                                  ("branch", step.branch is not None),
                                  ("end", step.end)) if present]
    return kinds[0] if len(kinds) == 1 else ("" if not kinds else "+".join(kinds))


def targets(step: Step) -> list[str]:
    if step.options is not None:
        return [o.next for o in step.options]
    if step.input is not None:
        return [step.next or ""]
    if step.branch is not None:
        return [b.next for b in step.branch] + [step.default or ""]
    return []


def option_value(option: Option) -> str:
    return option.value or option.label


def _check_text(step_id: str, text: str, what: str, answerable: set[str]) -> None:
    if len(text) > MAX_TEXT:
        raise ScriptError(step_id, f"{what}: at most {MAX_TEXT} characters")
    for var in _VAR.findall(text.replace("{{", "").replace("}}", "")):
        name = var.strip()
        if name.startswith("answers."):
            if name[8:] not in answerable:
                raise ScriptError(step_id, f"{what}: unknown variable {{{name}}}"
                                           " (no answerable step of that name)")
        elif name not in VARIABLES:
            raise ScriptError(step_id, f"{what}: unknown variable {{{name}}}")


def _check_step(step_id: str, step: Step, doc: ScriptDoc, answerable: set[str]) -> None:
    if not _ID.match(step_id):
        raise ScriptError(step_id, "ids are 1-40 of a-z, 0-9, _ starting with a letter")
    kind = _kind(step)
    if kind not in ("options", "input", "branch", "end"):
        raise ScriptError(step_id, "needs exactly one of options, input, branch, end: true"
                          + (f" (has {kind})" if kind else ""))
    if kind != "branch" and not step.prompt.strip():
        raise ScriptError(step_id, "prompt: required")
    if kind == "branch" and step.prompt:
        raise ScriptError(step_id, "a branch step has no prompt (it is evaluated at once)")
    if step.next is not None and kind != "input":
        raise ScriptError(step_id, "next: only input steps have one (options carry theirs)")
    if step.default is not None and kind != "branch":
        raise ScriptError(step_id, "default: only branch steps have one")
    _check_text(step_id, step.prompt, "prompt", answerable)
    if kind == "options":
        assert step.options is not None
        if not 1 <= len(step.options) <= MAX_OPTIONS:
            raise ScriptError(step_id, f"options: 1-{MAX_OPTIONS}")
        values = [option_value(o) for o in step.options]
        if any(not o.label.strip() for o in step.options):
            raise ScriptError(step_id, "options: every option needs a label")
        if len(set(values)) != len(values):
            raise ScriptError(step_id, "options: values must be distinct")
        for o in step.options:
            _check_text(step_id, o.label, "option label", answerable)
    if kind == "input" and step.input not in ("text", "number"):
        raise ScriptError(step_id, "input: text or number")
    if kind == "branch":
        assert step.branch is not None
        if not step.branch or not step.default:
            raise ScriptError(step_id, "branch: at least one rule and a default")
        for rule in step.branch:
            cond = rule.when
            if cond.step not in answerable:
                raise ScriptError(step_id, f"branch: {cond.step!r} is not a step with an"
                                           " answer")
            given = [x is not None for x in (cond.equals, cond.any_of, cond.not_equals)]
            if sum(given) != 1:
                raise ScriptError(step_id, "branch: each rule needs one of equals, in,"
                                           " not_equals")
            source = doc.steps[cond.step]
            if source.options is not None:
                allowed = {option_value(o) for o in source.options}
                used = [cond.equals, cond.not_equals, *(cond.any_of or [])]
                for value in used:
                    if value is not None and value not in allowed:
                        raise ScriptError(step_id, f"branch: {value!r} is not an option of"
                                                   f" {cond.step!r}")
    for target in targets(step):
        if not target:
            raise ScriptError(step_id, "a next step is missing")
        if target not in doc.steps:
            raise ScriptError(step_id, f"next step {target!r} does not exist")


def _graph_checks(script: Script) -> None:
    doc = script.doc
    seen = {doc.start}
    todo = [doc.start]
    while todo:
        for t in targets(doc.steps[todo.pop()]):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    for step_id in script.order:
        if step_id not in seen:
            raise ScriptError(step_id, f"unreachable from the start step {doc.start!r}")
    # Every step must be able to reach an end step; the ones that cannot sit in a
    # cycle with no exit (a step without a way on was rejected above).
    can_end = {s for s in script.order if doc.steps[s].end}
    changed = True
    while changed:
        changed = False
        for step_id in script.order:
            if step_id not in can_end and any(t in can_end for t in targets(doc.steps[step_id])):
                can_end.add(step_id)
                changed = True
    stuck = [s for s in script.order if s not in can_end]
    if stuck:
        raise ScriptError(stuck[0], "cycle without an exit: from here no end step can be"
                                    f" reached (steps {', '.join(stuck)})")
    # A cycle made only of branch steps would spin at runtime without asking anything.
    for step_id in script.order:
        if doc.steps[step_id].branch is not None and _branch_loop(doc, step_id):
            raise ScriptError(step_id, "cycle of branch steps with no question in between")


def _branch_loop(doc: ScriptDoc, start: str) -> bool:
    todo, seen = [start], set()
    while todo:
        current = todo.pop()
        for t in targets(doc.steps[current]):
            if t == start:
                return True
            if t not in seen and doc.steps[t].branch is not None:
                seen.add(t)
                todo.append(t)
    return False


def parse_script(source: bytes | str, content_type: str = "") -> Script:
    """Parse YAML (a superset of JSON) or JSON, then validate; raise ScriptError."""
    raw = source.encode() if isinstance(source, str) else source
    if len(raw) > MAX_SOURCE:
        raise ScriptError("", f"script larger than {MAX_SOURCE} bytes")
    try:
        data = decode_json(raw) if "json" in content_type else load_yaml(raw)
    except BadInput as exc:
        raise ScriptError("", f"not valid YAML/JSON: {exc.reason[:300]}") from None
    if not isinstance(data, dict):
        raise ScriptError("", "the document must be a mapping with name, start, steps")
    steps = data.get("steps")
    if not isinstance(steps, dict):
        raise ScriptError("", "steps: a mapping of step id to step")
    order = tuple(str(k) for k in steps)
    # Convert step by step so an error names its step.
    converted: dict[str, Step] = {}
    for key, value in steps.items():
        try:
            converted[str(key)] = msgspec.convert(value, Step)
        except msgspec.ValidationError as exc:
            raise ScriptError(str(key), str(exc)) from None
    try:
        doc = msgspec.convert({**data, "steps": {}}, ScriptDoc, str_keys=True)
    except msgspec.ValidationError as exc:
        raise ScriptError("", str(exc)) from None
    doc = msgspec.structs.replace(doc, steps=converted)
    if not doc.name.strip() or len(doc.name) > 100:
        raise ScriptError("", "name: 1-100 characters")
    if not doc.steps:
        raise ScriptError("", "steps: at least one")
    if len(doc.steps) > MAX_STEPS:
        raise ScriptError("", f"steps: at most {MAX_STEPS}")
    if doc.start not in doc.steps:
        raise ScriptError(doc.start, "start: no such step")
    script = Script(doc=doc, order=order)
    answerable = {s for s, st in doc.steps.items() if st.options is not None
                  or st.input is not None}
    for step_id in order:
        _check_step(step_id, doc.steps[step_id], doc, answerable)
    _graph_checks(script)
    return script


def script_from_graph(graph: dict[str, Any]) -> Script:
    """A stored (already validated) graph back into a Script."""
    return parse_script(json.dumps(graph), "application/json")


def graph_of(script: Script) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(script.doc)
    out["steps"] = {s: out["steps"][s] for s in script.order}
    return out


# ---- variables ----------------------------------------------------------------------


def variables_from_context(context: dict[str, Any], *, agent_name: str = "",
                           call: dict[str, Any] | None = None,
                           topic: str = "") -> dict[str, str]:
    """Flatten a screen-pop context into the script variables."""
    out: dict[str, str] = {}
    contact = context.get("contact") or {}
    name = str(contact.get("name") or "")
    out["contact.name"] = name
    out["contact.first_name"] = name.split(" ")[0] if name else ""
    for key in ("email", "phone", "tier", "locale"):
        out[f"contact.{key}"] = str(contact.get(key) or "")
    accounts = context.get("accounts") or []
    ivr = context.get("ivr") or {}
    account = next((a for a in accounts if a.get("account_no") == ivr.get("account")),
                   accounts[0] if accounts else {})
    out["account.no"] = str(account.get("account_no") or "")
    for key in ("plan", "service", "status", "monthly_fee"):
        out[f"account.{key}"] = str(account.get(key) or "")
    orders = context.get("orders") or []
    order = orders[0] if orders else {}
    out["order.no"] = str(order.get("order_no") or "")
    out["order.status"] = str(order.get("status") or "")
    out["order.total"] = str(order.get("total") or "")
    for key in ("account", "menu", "language"):
        out[f"ivr.{key}"] = str(ivr.get(key) or "")
    call = call or {}
    out["call.from"] = str(call.get("from_number") or "")
    out["call.to"] = str(call.get("to_number") or "")
    out["call.queue"] = str(call.get("queue") or "")
    out["callback.topic"] = topic
    out["agent.name"] = agent_name
    return out


def fill(text: str, values: dict[str, str], answers: dict[str, str]) -> str:
    """Replace {variables}; a value we do not have shows as '—' (never the raw name)."""
    def one(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name.startswith("answers."):
            return answers.get(name[8:], "—") or "—"
        return values.get(name, "") or "—"
    parts = text.split("{{")
    return "{".join("}".join(_VAR.sub(one, p) for p in part.split("}}")) for part in parts)


# ---- running ------------------------------------------------------------------------


class RunState(msgspec.Struct, kw_only=True):
    current: str
    path: list[str] = []
    answers: dict[str, str] = {}
    done: bool = False


def _matches(cond: Condition, answers: dict[str, str]) -> bool:
    answer = answers.get(cond.step)
    if cond.equals is not None:
        return answer == cond.equals
    if cond.any_of is not None:
        return answer in cond.any_of
    return answer != cond.not_equals


def _settle(script: Script, state: RunState) -> RunState:
    """Follow branch steps until a step that asks something (or ends)."""
    for _ in range(MAX_STEPS + 1):
        step = script.step(state.current)
        if step.branch is None:
            state.done = step.end
            return state
        nxt = next((b.next for b in step.branch if _matches(b.when, state.answers)),
                   step.default or "")
        state.path.append(state.current)
        state.current = nxt
    raise Conflict("script loops through branches")  # validation rules this out


def start_run(script: Script) -> RunState:
    return _settle(script, RunState(current=script.doc.start))


def answer_step(script: Script, state: RunState, step_id: str, value: str) -> RunState:
    """Record the answer to the current step and move on."""
    if state.done:
        raise Conflict("the script is finished")
    if step_id != state.current:
        raise Conflict(f"the current step is {state.current!r}, not {step_id!r}")
    step = script.step(step_id)
    value = value.strip()
    if step.options is not None:
        chosen = next((o for o in step.options if option_value(o) == value), None)
        if chosen is None:
            allowed = ", ".join(option_value(o) for o in step.options)
            raise BadInput(f"value: one of {allowed}")
        nxt = chosen.next
    else:
        if not value or len(value) > MAX_TEXT:
            raise BadInput(f"value: 1-{MAX_TEXT} characters")
        if step.input == "number":
            try:
                float(value)
            except ValueError:
                raise BadInput("value: a number") from None
        nxt = step.next or ""
    new = RunState(current=nxt, path=[*state.path, step_id],
                   answers={**state.answers, step_id: value})
    return _settle(script, new)


def back_step(script: Script, state: RunState) -> RunState:
    """Undo the last answer (agents mis-click)."""
    path = list(state.path)
    while path:
        previous = path.pop()
        if script.step(previous).branch is None:
            answers = {k: v for k, v in state.answers.items() if k != previous}
            return RunState(current=previous, path=path, answers=answers)
    return start_run(script)


def render(script: Script, state: RunState, values: dict[str, str]) -> dict[str, Any]:
    """What the agent sees now: the step's prompt and choices, variables filled."""
    step = script.step(state.current)
    out: dict[str, Any] = {
        "step": state.current, "prompt": fill(step.prompt, values, state.answers),
        "done": state.done, "answers": dict(state.answers), "path": list(state.path),
    }
    if step.options is not None:
        out["options"] = [{"label": fill(o.label, values, state.answers),
                           "value": option_value(o)} for o in step.options]
    if step.input is not None:
        out["input"] = step.input
    return out
