"""The SLA clock of one conversation: a pure state machine over working time.

Every function takes the clock, the calendar (``None``: around the clock) and ``now``,
and returns a :class:`Step`: the new clock, the signals to emit (warning, breached, met,
auto_close) and the wake-ups to schedule. Nothing here reads a clock or does I/O; the
store persists the clock, a scheduler wakes a worker at each wake-up, and the worker
calls :func:`tick`.

Why wake-ups carry no identity: :func:`tick` (and every transition) first *settles*
the clock: each target past its warning instant is warned once, each target past its
due is breached once, a pending conversation past its auto-close instant is closed
once. Flags on the clock make each signal happen once, so a duplicate, late or stale
wake-up (the due moved because the conversation was paused) is a no-op, and nothing
ever needs cancelling. Exactly once across processes is the store's job: it writes the
new clock only if the old one is still current.

Targets: ``first_response`` and ``resolution`` start with the clock;
``next_response`` starts at a customer message once an agent has replied and runs until
the next agent reply. Pending (or snoozed) pauses every running target; the customer's
reply (or moving it back to open) resumes them with the working time they had left.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from hub.routing.config import BusinessHours
from hub.sla.rules.policy import TARGETS, CompiledPolicy, Target
from hub.sla.rules.worktime import add_working, add_working_days, working_between

Status = Literal["active", "active_with_misses", "hit", "missed"]
SignalKind = Literal["warning", "breached", "met", "auto_close"]
WakeKind = Literal["warning", "breach", "auto_close"]


class _Value(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Miss(_Value, frozen=True, kw_only=True):
    """One missed target (a row): when it was due and when it was met (None: not yet)."""

    target: Target
    due: float
    met_at: float | None = None


class Running(_Value, frozen=True, kw_only=True):
    """A started, not yet met target. ``left`` is the working time left at ``since``;
    ``since`` is None while paused. ``due`` and ``warn_at`` are the instants computed at
    the last (re)start (kept while paused, for the record)."""

    target: Target
    seconds: int
    left: float
    since: float | None
    due: float
    warn_at: float | None  # None: no warning left to give
    warned: bool = False
    breached: bool = False


class Clock(_Value, frozen=True, kw_only=True):
    """The clock and a snapshot of its policy's terms: a later change to the policy
    does not move a running clock (see docs/sla.md)."""

    policy: str
    targets: dict[Target, int]  # target -> seconds, as the policy said at start
    warning_percent: int
    auto_close_days: int | None = None
    running: tuple[Running, ...] = ()
    misses: tuple[Miss, ...] = ()
    agent_replied: bool = False
    paused_since: float | None = None
    auto_close_at: float | None = None
    resolved: bool = False


class Signal(_Value, frozen=True, kw_only=True):
    """Something to tell people about (``sla.warning`` / ``sla.breached`` / ``sla.met``)
    or to do (``auto_close``). ``late``: a met target that had been missed."""

    kind: SignalKind
    target: Target | None
    at: float
    due: float | None = None
    late: bool = False


class Wakeup(_Value, frozen=True, kw_only=True):
    kind: WakeKind
    target: Target | None
    at: float


class Step(_Value, frozen=True, kw_only=True):
    clock: Clock
    signals: tuple[Signal, ...] = ()
    wakeups: tuple[Wakeup, ...] = ()


# ---- reading a clock ------------------------------------------------------------------


def status(clock: Clock) -> Status:
    """Chatwoot's four states: open conversations are active (with misses or not);
    a resolved one hit every target it had, or missed at least one."""
    if clock.resolved:
        return "missed" if clock.misses else "hit"
    return "active_with_misses" if clock.misses else "active"


def wakeups(clock: Clock) -> tuple[Wakeup, ...]:
    """Every instant at which the clock will next change on its own, soonest first."""
    out: list[Wakeup] = []
    if clock.resolved:
        return ()
    for r in clock.running:
        if r.since is None:
            continue
        if r.warn_at is not None and not r.warned:
            out.append(Wakeup(kind="warning", target=r.target, at=r.warn_at))
        if not r.breached:
            out.append(Wakeup(kind="breach", target=r.target, at=r.due))
    if clock.auto_close_at is not None:
        out.append(Wakeup(kind="auto_close", target=None, at=clock.auto_close_at))
    return tuple(sorted(out, key=lambda w: (w.at, w.kind)))


def soonest_due(clock: Clock) -> float | None:
    """The nearest unbreached due of a running, unpaused target (the inbox countdown)."""
    dues = [r.due for r in clock.running if r.since is not None and not r.breached]
    return min(dues) if dues else None


# ---- transitions ----------------------------------------------------------------------


def start(policy: CompiledPolicy, now: float) -> Step:
    """A new clock under ``policy``: first response and resolution start now."""
    targets = {t: spec.seconds for t in TARGETS if (spec := policy.target(t)) is not None}
    auto = policy.raw.auto_close
    clock = Clock(policy=policy.id, targets=targets,
                  warning_percent=policy.raw.warning_percent,
                  auto_close_days=auto.after_days if auto is not None else None)
    running = tuple(_begin(clock, t, policy.hours, now)
                    for t in ("first_response", "resolution") if t in targets)
    return _done(msgspec.structs.replace(clock, running=running), ())


def tick(clock: Clock, hours: BusinessHours | None, now: float) -> Step:
    """A wake-up: give whatever warnings, breaches and auto-close are due by ``now``.
    (``hours`` is unused: every transition takes the same arguments.)"""
    return _done(*_settle(clock, now))


def customer_message(clock: Clock, hours: BusinessHours | None, now: float) -> Step:
    """The customer wrote: a paused clock resumes; after an agent's reply, the next
    response target starts (unless one is already running: it counts from the first
    unanswered message)."""
    clock, signals = _settle(clock, now)
    if clock.resolved:
        return _done(clock, signals)
    clock = _resume(clock, hours, now)
    if clock.agent_replied and "next_response" in clock.targets \
            and _find(clock, "next_response") is None:
        clock = msgspec.structs.replace(
            clock, running=(*clock.running, _begin(clock, "next_response", hours, now)))
    return _done(*_settle(clock, now, signals))


def agent_reply(clock: Clock, hours: BusinessHours | None, now: float) -> Step:
    """An agent replied to the customer: meets the running first (else next) response."""
    clock, signals = _settle(clock, now)
    if clock.resolved:
        return _done(clock, signals)
    clock = msgspec.structs.replace(clock, agent_replied=True)
    for target in ("first_response", "next_response"):
        if (r := _find(clock, target)) is not None:
            clock, met = _meet(clock, r, now)
            return _done(clock, (*signals, met))
    return _done(clock, signals)


def pause(clock: Clock, hours: BusinessHours | None, now: float) -> Step:
    """The conversation waits on the customer (pending, snoozed): every running target
    stops with the working time it had left; the auto-close wake-up is set."""
    clock, signals = _settle(clock, now)
    if clock.resolved or clock.paused_since is not None:
        return _done(clock, signals)
    running = tuple(_stop(r, hours, now) for r in clock.running)
    auto_at = (add_working_days(hours, now, clock.auto_close_days)
               if clock.auto_close_days is not None else None)
    return _done(msgspec.structs.replace(clock, running=running, paused_since=now,
                                         auto_close_at=auto_at), signals)


def resume(clock: Clock, hours: BusinessHours | None, now: float) -> Step:
    """Back to open without a customer message (an agent moved it): targets resume."""
    clock, signals = _settle(clock, now)
    if clock.resolved:
        return _done(clock, signals)
    return _done(*_settle(_resume(clock, hours, now), now, signals))


def resolve(clock: Clock, hours: BusinessHours | None, now: float) -> Step:
    """Resolved: meets the resolution target; response targets stop without a verdict
    (a miss already recorded stays a miss). The clock ends."""
    clock, signals = _settle(clock, now)
    if clock.resolved:
        return _done(clock, signals)
    if (r := _find(clock, "resolution")) is not None:
        clock, met = _meet(clock, r, now)
        signals = (*signals, met)
    return _done(msgspec.structs.replace(clock, running=(), resolved=True, paused_since=None,
                                         auto_close_at=None), signals)


# ---- helpers --------------------------------------------------------------------------


def _done(clock: Clock, signals: tuple[Signal, ...]) -> Step:
    return Step(clock=clock, signals=signals, wakeups=wakeups(clock))


def _find(clock: Clock, target: Target) -> Running | None:
    return next((r for r in clock.running if r.target == target), None)


def _warn_left(clock: Clock, r: Running) -> float:
    """Working seconds from ``r.since`` to the warning threshold (may be <= 0)."""
    return r.left - r.seconds * (100 - clock.warning_percent) / 100


def _begin(clock: Clock, target: Target, hours: BusinessHours | None, now: float) -> Running:
    seconds = clock.targets[target]
    r = Running(target=target, seconds=seconds, left=float(seconds), since=now, due=now,
                warn_at=None)
    return _schedule(clock, r, hours, now)


def _schedule(clock: Clock, r: Running, hours: BusinessHours | None, now: float) -> Running:
    """Due and warning instants for a target (re)starting at ``now``."""
    due = add_working(hours, now, max(r.left, 0.0)) if not r.breached else r.due
    warn_at = None if r.warned or r.breached else \
        add_working(hours, now, max(_warn_left(clock, r), 0.0))
    return msgspec.structs.replace(r, since=now, due=due, warn_at=warn_at)


def _stop(r: Running, hours: BusinessHours | None, now: float) -> Running:
    if r.since is None:
        return r
    return msgspec.structs.replace(r, since=None,
                                   left=r.left - working_between(hours, r.since, now))


def _resume(clock: Clock, hours: BusinessHours | None, now: float) -> Clock:
    if clock.paused_since is None:
        return clock
    running = tuple(_schedule(clock, r, hours, now) for r in clock.running)
    return msgspec.structs.replace(clock, running=running, paused_since=None,
                                   auto_close_at=None)


def _meet(clock: Clock, r: Running, now: float) -> tuple[Clock, Signal]:
    target = r.target
    misses = clock.misses
    if r.breached:
        misses = tuple(msgspec.structs.replace(m, met_at=now)
                       if m.target == target and m.met_at is None else m for m in misses)
    running = tuple(x for x in clock.running if x.target != target)
    met = Signal(kind="met", target=target, at=now, due=r.due, late=r.breached)
    return msgspec.structs.replace(clock, running=running, misses=misses), met


def _settle(clock: Clock, now: float, signals: tuple[Signal, ...] = ()
            ) -> tuple[Clock, tuple[Signal, ...]]:
    """Warn, breach and auto-close whatever is due by ``now``, each once."""
    if clock.resolved:
        return clock, signals
    out = list(signals)
    running, misses = [], list(clock.misses)
    for r in clock.running:
        if r.since is not None and not r.warned and r.warn_at is not None and r.warn_at <= now:
            r = msgspec.structs.replace(r, warned=True)
            out.append(Signal(kind="warning", target=r.target, at=now, due=r.due))
        if r.since is not None and not r.breached and r.due <= now:
            r = msgspec.structs.replace(r, breached=True, warned=True)
            misses.append(Miss(target=r.target, due=r.due))
            out.append(Signal(kind="breached", target=r.target, at=now, due=r.due))
        running.append(r)
    auto_at = clock.auto_close_at
    if clock.paused_since is not None and auto_at is not None and auto_at <= now:
        out.append(Signal(kind="auto_close", target=None, at=now, due=auto_at))
        auto_at = None
    return msgspec.structs.replace(clock, running=tuple(running), misses=tuple(misses),
                                   auto_close_at=auto_at), tuple(out)
