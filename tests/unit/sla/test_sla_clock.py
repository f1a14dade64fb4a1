"""The SLA clock state machine (hub/sla/rules/clock.py): start, warning, breach, met,
pause on pending and resume on the customer's reply, next response, auto-close and
Chatwoot's four statuses; hypothesis properties: pausing never spends the working budget,
every warning/breach/met happens once, a repeated or stale wake-up changes nothing, and
no wake-up falls in closed time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.routing.config import BusinessHours
from hub.routing.hours import is_open
from hub.sla.rules.clock import (
    Clock,
    Miss,
    Step,
    agent_reply,
    customer_message,
    pause,
    resolve,
    resume,
    soonest_due,
    start,
    status,
    tick,
)
from hub.sla.rules.policy import AutoClose, CompiledPolicy, Policy, Targets, TargetSpec
from hub.sla.rules.worktime import add_working_days, working_between

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600
OFFICE = msgspec.convert({"tz": "Europe/Berlin", "weekly": {
    d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}}, BusinessHours)


def at(*args: int) -> float:
    return datetime(*args, tzinfo=BERLIN).timestamp()  # type: ignore[misc]


def policy(hours: BusinessHours | None = None, *, first: int | None = HOUR,
           nxt: int | None = None, resolution: int | None = None, pct: int = 80,
           auto_close: int | None = None) -> CompiledPolicy:
    def spec(s: int | None) -> TargetSpec | None:
        return TargetSpec(seconds=s) if s is not None else None

    raw = Policy(id="p", warning_percent=pct,
                 targets=Targets(first_response=spec(first), next_response=spec(nxt),
                                 resolution=spec(resolution)),
                 auto_close=AutoClose(after_days=auto_close) if auto_close else None)
    return CompiledPolicy(raw=raw, condition=None, hours=hours)  # type: ignore[arg-type]


def kinds(step: Step) -> list[tuple[str, str | None]]:
    return [(s.kind, s.target) for s in step.signals]


def wakes(step: Step) -> list[tuple[str, str | None, float]]:
    return [(w.kind, w.target, w.at) for w in step.wakeups]


# ---- examples --------------------------------------------------------------------------


def test_start_schedules_warning_and_breach_of_first_response_and_resolution() -> None:
    step = start(policy(first=1000, resolution=10000), 0.0)
    assert step.signals == ()
    assert wakes(step) == [("warning", "first_response", 800.0),
                           ("breach", "first_response", 1000.0),
                           ("warning", "resolution", 8000.0),
                           ("breach", "resolution", 10000.0)]
    assert status(step.clock) == "active" and soonest_due(step.clock) == 1000.0


def test_friday_1630_with_a_one_hour_target_breaches_monday_0930() -> None:
    step = start(policy(OFFICE, first=HOUR), at(2025, 3, 7, 16, 30))
    # The warning at 80 % (48 working minutes): 30 on Friday, 18 on Monday.
    assert wakes(step) == [("warning", "first_response", at(2025, 3, 10, 9, 18)),
                           ("breach", "first_response", at(2025, 3, 10, 9, 30))]


def test_a_reply_in_time_is_met_and_its_wakeups_go() -> None:
    clock = start(policy(first=1000, resolution=10000), 0.0).clock
    step = agent_reply(clock, None, 500.0)
    assert kinds(step) == [("met", "first_response")]
    assert not step.signals[0].late
    assert [w[1] for w in wakes(step)] == ["resolution", "resolution"]


def test_warning_and_breach_each_fire_once_then_the_late_reply_closes_the_miss() -> None:
    clock = start(policy(first=1000), 0.0).clock
    warned = tick(clock, None, 800.0)
    assert kinds(warned) == [("warning", "first_response")]
    assert tick(warned.clock, None, 900.0).signals == ()  # a duplicate wake-up
    breached = tick(warned.clock, None, 1000.0)
    assert kinds(breached) == [("breached", "first_response")]
    assert breached.clock.misses == (Miss(target="first_response", due=1000.0),)
    assert status(breached.clock) == "active_with_misses"
    assert breached.wakeups == ()
    again = tick(breached.clock, None, 5000.0)
    assert again.signals == () and again.clock == breached.clock
    met = agent_reply(breached.clock, None, 1500.0)
    assert kinds(met) == [("met", "first_response")] and met.signals[0].late
    assert met.clock.misses == (Miss(target="first_response", due=1000.0, met_at=1500.0),)


def test_a_reply_after_the_due_without_any_wakeup_is_a_miss_all_the_same() -> None:
    clock = start(policy(first=1000), 0.0).clock
    step = agent_reply(clock, None, 1200.0)
    assert kinds(step) == [("warning", "first_response"), ("breached", "first_response"),
                           ("met", "first_response")]
    assert step.clock.misses == (Miss(target="first_response", due=1000.0, met_at=1200.0),)


def test_pending_pauses_and_the_customers_reply_resumes_with_the_time_left() -> None:
    # Fri 16:00, 2 working hours. Pending at 16:30 (1.5 h left); the customer answers
    # Monday 11:00: due 12:30, and the old due (Monday 10:00) is a stale wake-up.
    clock = start(policy(OFFICE, first=2 * HOUR), at(2025, 3, 7, 16, 0)).clock
    paused = pause(clock, OFFICE, at(2025, 3, 7, 16, 30))
    assert paused.wakeups == () and soonest_due(paused.clock) is None
    assert tick(paused.clock, OFFICE, at(2025, 3, 10, 10, 0)).signals == ()
    back = customer_message(paused.clock, OFFICE, at(2025, 3, 10, 11, 0))
    assert ("breach", "first_response", at(2025, 3, 10, 12, 30)) in wakes(back)
    assert tick(back.clock, OFFICE, at(2025, 3, 10, 12, 29)).signals[0].kind == "warning"


def test_pause_and_resume_twice_are_no_ops() -> None:
    clock = start(policy(first=1000), 0.0).clock
    paused = pause(clock, None, 100.0)
    assert pause(paused.clock, None, 200.0).clock == paused.clock
    resumed = resume(paused.clock, None, 300.0)
    assert resume(resumed.clock, None, 400.0).clock == resumed.clock
    assert ("breach", "first_response", 1200.0) in wakes(resumed)


def test_next_response_starts_at_a_customer_message_after_a_reply_and_counts_from_the_first() -> None:
    clock = start(policy(first=1000, nxt=600), 0.0).clock
    before = customer_message(clock, None, 10.0)  # no reply yet: first response runs
    assert [w[1] for w in wakes(before)] == ["first_response", "first_response"]
    replied = agent_reply(before.clock, None, 100.0).clock
    asked = customer_message(replied, None, 200.0)
    assert ("breach", "next_response", 800.0) in wakes(asked)
    again = customer_message(asked.clock, None, 300.0)
    assert ("breach", "next_response", 800.0) in wakes(again)
    answered = agent_reply(again.clock, None, 700.0)
    assert kinds(answered) == [("warning", "next_response"), ("met", "next_response")]
    assert answered.wakeups == ()


def test_resolution_decides_hit_or_missed_and_ends_the_clock() -> None:
    clock = start(policy(first=1000, resolution=5000), 0.0).clock
    hit = resolve(agent_reply(clock, None, 10.0).clock, None, 100.0)
    assert kinds(hit) == [("met", "resolution")] and status(hit.clock) == "hit"
    assert hit.wakeups == ()
    missed = resolve(clock, None, 2000.0)  # first response never came: breached, stopped
    assert ("breached", "first_response") in kinds(missed)
    assert status(missed.clock) == "missed"
    after = customer_message(missed.clock, None, 3000.0)
    assert after.clock == missed.clock and after.signals == () and after.wakeups == ()


def test_pending_long_enough_auto_closes_once_unless_the_customer_answers() -> None:
    pol = policy(OFFICE, first=HOUR, auto_close=2)
    clock = agent_reply(start(pol, at(2025, 3, 7, 10)).clock, OFFICE, at(2025, 3, 7, 10, 5)).clock
    paused = pause(clock, OFFICE, at(2025, 3, 7, 11))
    due = at(2025, 3, 11, 11)  # Friday + 2 working days: Tuesday, same time
    assert ("auto_close", None, due) in wakes(paused)
    fired = tick(paused.clock, OFFICE, due)
    assert kinds(fired) == [("auto_close", None)]
    assert tick(fired.clock, OFFICE, due + 60).signals == ()
    answered = customer_message(paused.clock, OFFICE, at(2025, 3, 10, 9))
    assert all(w[0] != "auto_close" for w in wakes(answered))
    assert tick(answered.clock, OFFICE, due).signals == ()


def test_a_running_clock_keeps_the_terms_it_started_with() -> None:
    clock = start(policy(first=1000, nxt=600), 0.0).clock
    assert clock.targets == {"first_response": 1000, "next_response": 600}
    roundtrip = msgspec.json.decode(msgspec.json.encode(clock), type=Clock)
    assert roundtrip == clock  # storable as JSON with the conversation


# ---- properties -----------------------------------------------------------------------

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
T0 = at(2025, 3, 3, 0, 0)  # a Monday; DST begins four weeks later
calendars = st.sampled_from([None, OFFICE, msgspec.convert(
    {"tz": "Europe/Berlin", "weekly": {"sun": ["01:00-05:00"], "sat": ["22:00-24:00"]}},
    BusinessHours)])


@PROPS
@given(calendars, st.integers(60, 40 * HOUR),
       st.lists(st.integers(1, 3 * 86400), min_size=0, max_size=8))
def test_pausing_never_spends_the_working_budget(h: BusinessHours | None, seconds: int,
                                                 gaps: list[int]) -> None:
    now = T0
    step = start(policy(h, first=seconds, resolution=None), now)
    active: list[tuple[float, float]] = []
    since: float | None = now
    for i, gap in enumerate(gaps):
        due = next(w.at for w in step.wakeups if w.kind == "breach") if step.wakeups else None
        if due is not None and now + gap >= due:
            break  # would breach first: stop the walk here
        now += gap
        if i % 2 == 0:
            step = pause(step.clock, h, now)
            assert since is not None
            active.append((since, now))
            since = None
        else:
            step = resume(step.clock, h, now)
            since = now
    if since is None:
        step = resume(step.clock, h, now)
        since = now
    due = next(w.at for w in step.wakeups if w.kind == "breach")
    worked = sum(working_between(h, a, b) for a, b in [*active, (since, due)])
    assert abs(worked - seconds) < 1e-3
    assert is_open(h, due) or is_open(h, due - 1)


def _ops(h: BusinessHours | None) -> dict[str, Callable[[Clock, float], Step]]:
    return {
        "tick": lambda c, t: tick(c, h, t),
        "customer": lambda c, t: customer_message(c, h, t),
        "agent": lambda c, t: agent_reply(c, h, t),
        "pause": lambda c, t: pause(c, h, t),
        "resume": lambda c, t: resume(c, h, t),
        "resolve": lambda c, t: resolve(c, h, t),
    }


@PROPS
@given(calendars, st.lists(st.tuples(
    st.sampled_from(["tick", "tick", "customer", "agent", "pause", "resume", "resolve"]),
    st.integers(0, 12 * HOUR)), max_size=25))
def test_each_signal_once_and_repeated_wakeups_change_nothing(
        h: BusinessHours | None, script: list[tuple[str, int]]) -> None:
    ops = _ops(h)
    step = start(policy(h, first=2 * HOUR, nxt=HOUR, resolution=20 * HOUR, auto_close=1), T0)
    now, seen = T0, Counter[Any]()
    runs = Counter[str]()  # next response may run several times: once per run
    for name, gap in script:
        now += gap
        before = step.clock
        step = ops[name](step.clock, now)
        if name == "customer" and any(r.target == "next_response" for r in step.clock.running) \
                and not any(r.target == "next_response" for r in before.running):
            runs["next_response"] += 1
        for s in step.signals:
            seen[(s.kind, s.target)] += 1
        # A second delivery of the same wake-up is a no-op.
        again = tick(step.clock, h, now)
        assert again.signals == () and again.clock == step.clock
        for w in step.wakeups:
            assert w.at > now
            assert is_open(h, w.at) or is_open(h, w.at - 1)
    for target in ("first_response", "resolution"):
        for kind in ("warning", "breached", "met"):
            assert seen[(kind, target)] <= 1, (kind, target)
    for kind in ("warning", "breached", "met"):
        assert seen[(kind, "next_response")] <= runs["next_response"]
    assert len(step.clock.misses) == sum(n for (k, _), n in seen.items() if k == "breached")
    if step.clock.resolved:
        assert status(step.clock) == ("missed" if step.clock.misses else "hit")
        assert step.wakeups == ()
    else:
        assert status(step.clock) in ("active", "active_with_misses")


@PROPS
@given(calendars, st.integers(0, 30 * 86400), st.integers(1, 5))
def test_auto_close_is_due_in_working_time_days_later(h: BusinessHours | None, offset: int,
                                                      days: int) -> None:
    clock = start(policy(h, first=HOUR, auto_close=days), T0).clock
    paused = pause(clock, h, T0 + offset)
    wake = [w.at for w in paused.wakeups if w.kind == "auto_close"]
    assert wake == [add_working_days(h, T0 + offset, days)]
    assert is_open(h, wake[0])
