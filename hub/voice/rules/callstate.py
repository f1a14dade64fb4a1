"""The call state machine: one call record, one signal in, the next record and what
happened out. Pure: no I/O, no clock (every signal carries its own ``at``).

PBXs send events over separate HTTP requests, so they can arrive duplicated, late or
out of order, and for calls we never saw start. The rules below never move a call
backwards and never lose a fact already learned:

- ``ring`` creates the call (``ringing``); a repeated or late ``ring`` only fills in
  facts still missing (numbers, queue, IVR data, an earlier start).
- ``answer`` on a ringing call → ``answered``. On an unknown call it creates the call
  already answered. A repeated answer is ignored.
- ``hangup`` ends the call. Never answered: inbound → ``missed`` (a callback is due),
  cause ``forwarded`` → ``forwarded`` (someone else took it), outbound → ``not_answered``.
  Answered → ``completed`` with a duration. On an unknown call it creates the ended call.
- A blocked caller's call starts and stays ``blocked`` (no pop, no callback).
- Anything after the end is ignored, except an ``answer`` that was overtaken by its own
  hangup: a missed call becomes ``completed`` and its callback is withdrawn.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

Signal = Literal["ring", "answer", "hangup"]
CallDirection = Literal["in", "out"]
CallState = Literal["ringing", "answered", "missed", "forwarded", "not_answered", "completed",
                    "blocked"]
# Zammad generic CTI hangup causes (plus "failed" for provider errors, e.g. Twilio).
HangupCause = Literal["normalClearing", "busy", "cancel", "noAnswer", "congestion",
                      "notFound", "forwarded", "failed"]
HANGUP_CAUSES: tuple[str, ...] = ("normalClearing", "busy", "cancel", "noAnswer", "congestion",
                                  "notFound", "forwarded", "failed")
# "blocked": the caller is on the block list; we told the PBX to reject the call.
ENDED: frozenset[str] = frozenset({"missed", "forwarded", "not_answered", "completed",
                                   "blocked"})

# What a transition did; the store turns these into rows and events.
Effect = Literal[
    "created",     # first time we hear of this call
    "ringing",     # now ringing (screen pop to the called agents)
    "answered",    # answered (screen pop to the answering agent)
    "ended",       # ended (any end state)
    "missed",      # ended unanswered, inbound: a callback is due
    "unmissed",    # a missed call turned out answered: withdraw its callback
    "enriched",    # facts filled in, no state change
    "ignored",     # duplicate or stale: nothing changed
]


class CallSignal(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One normalised event about a call, as an adapter saw it."""

    kind: Signal
    call_id: str
    direction: CallDirection
    from_number: str = ""   # E.164 when it parsed, else the raw value ('anonymous', 'client:x')
    to_number: str = ""
    at: datetime
    users: tuple[str, ...] = ()     # agents rung (in) / calling (out), as the PBX names them
    queue: str = ""
    answering: str = ""             # the answering agent's number/login/name
    cause: str = ""                 # hangup only: one of HANGUP_CAUSES
    ivr: dict[str, str] = {}        # account, menu, language, ... (flat, strings)
    blocked: bool = False           # ring only: the hub told the PBX to reject it


class CallRecord(msgspec.Struct, frozen=True, kw_only=True):
    call_id: str
    direction: CallDirection
    state: CallState
    from_number: str = ""
    to_number: str = ""
    queue: str = ""
    users: tuple[str, ...] = ()
    answering: str = ""
    cause: str = ""
    ivr: dict[str, str] = {}
    started_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    @property
    def duration_s(self) -> int | None:
        """Talk time: answer to end (None until both are known)."""
        if self.answered_at is None or self.ended_at is None:
            return None
        return max(0, int((self.ended_at - self.answered_at).total_seconds()))

    @property
    def customer_number(self) -> str:
        return self.from_number if self.direction == "in" else self.to_number


class Transition(msgspec.Struct, frozen=True, kw_only=True):
    record: CallRecord
    effects: tuple[Effect, ...]


def _merged(rec: CallRecord, sig: CallSignal, **changes: object) -> CallRecord:
    """Fill facts the record does not have yet from the signal; never overwrite."""
    ivr = {**sig.ivr, **rec.ivr}
    fill: dict[str, object] = {
        "from_number": rec.from_number or sig.from_number,
        "to_number": rec.to_number or sig.to_number,
        "queue": rec.queue or sig.queue,
        "users": rec.users or sig.users,
        "ivr": ivr,
        "started_at": min(rec.started_at, sig.at),
    }
    fill.update(changes)
    return msgspec.structs.replace(rec, **fill)


def _ended_state(rec: CallRecord, cause: str, answered: bool) -> CallState:
    if answered:
        return "completed"
    if cause == "forwarded":
        return "forwarded"
    return "missed" if rec.direction == "in" else "not_answered"


def _hangup(rec: CallRecord, sig: CallSignal) -> Transition:
    answered = rec.answered_at is not None
    cause = sig.cause or ("normalClearing" if answered else "noAnswer")
    state = _ended_state(rec, cause, answered)
    ended_at = max(sig.at, rec.answered_at or rec.started_at)
    new = _merged(rec, sig, state=state, cause=cause, ended_at=ended_at,
                  answering=rec.answering or sig.answering)
    effects: tuple[Effect, ...] = ("ended", "missed") if state == "missed" else ("ended",)
    return Transition(record=new, effects=effects)


def start_record(sig: CallSignal) -> CallRecord:
    state: CallState = "blocked" if sig.blocked else "ringing"
    return CallRecord(call_id=sig.call_id, direction=sig.direction, state=state,
                      from_number=sig.from_number, to_number=sig.to_number, queue=sig.queue,
                      users=sig.users, ivr=dict(sig.ivr), started_at=sig.at)


def apply_signal(rec: CallRecord | None, sig: CallSignal) -> Transition:
    """The next state of a call (``rec`` None: we have not heard of it)."""
    if rec is None:
        fresh = start_record(sig)
        if sig.kind == "ring":
            if fresh.state == "blocked":
                return Transition(record=fresh, effects=("created", "ended"))
            return Transition(record=fresh, effects=("created", "ringing"))
        inner = apply_signal(fresh, sig)
        return Transition(record=inner.record, effects=("created", *inner.effects))
    if sig.call_id != rec.call_id:
        raise ValueError("signal for another call")

    if sig.kind == "ring":
        enriched = _merged(rec, sig)
        return Transition(record=enriched,
                          effects=("enriched",) if enriched != rec else ("ignored",))

    if sig.kind == "answer":
        if rec.state == "ringing":
            at = max(sig.at, rec.started_at)
            new = _merged(rec, sig, state="answered", answered_at=at, answering=sig.answering)
            return Transition(record=new, effects=("answered",))
        if rec.state == "missed" and rec.ended_at is not None:
            # The answer was overtaken by its own hangup: the call was taken after all.
            at = min(max(sig.at, rec.started_at), rec.ended_at)
            new = _merged(rec, sig, state="completed", answered_at=at, answering=sig.answering,
                          cause="normalClearing" if rec.cause in ("noAnswer", "cancel")
                          else rec.cause)
            return Transition(record=new, effects=("unmissed", "answered"))
        return Transition(record=rec, effects=("ignored",))

    # hangup
    if rec.ended:
        return Transition(record=rec, effects=("ignored",))
    return _hangup(rec, sig)
