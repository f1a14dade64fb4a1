"""Callback requests ("Call me back" in the widget, or a missed call): the wire shape
and the status rules. Pure."""

from __future__ import annotations

from typing import Literal

import msgspec

CallbackStatus = Literal["requested", "offered", "dialing", "connected", "completed",
                         "failed", "cancelled"]
CallbackSource = Literal["widget", "missed_call", "agent"]
# Order of progress: a status never moves back to an earlier one (late provider
# callbacks arrive out of order); the terminal ones are final.
_RANK: dict[str, int] = {"requested": 0, "offered": 1, "dialing": 2, "connected": 3,
                         "completed": 4, "failed": 4, "cancelled": 4}
TERMINAL = frozenset({"completed", "failed", "cancelled"})


class CallbackRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """On the ingest stream with a voice envelope: a customer asks to be called."""

    request_id: str          # the widget's idempotency key (uuid), also the status key
    phone: str               # E.164, validated at the edge
    topic: str = ""
    source: CallbackSource = "widget"
    language: str = ""


def next_status(current: str, wanted: str) -> str | None:
    """The status to store, or None when ``wanted`` would move backwards or leave a
    final status. A failed attempt may go back to ``requested`` for a retry only
    through ``retry_status``."""
    if current in TERMINAL:
        return None
    if _RANK[wanted] < _RANK[current]:
        return None
    if wanted == current:
        return None
    return wanted


def retry_status(current: str) -> str | None:
    """After a failed originate with attempts left: back in the queue."""
    return "requested" if current in ("offered", "dialing") else None


# Why a dial failed: a stable code (stored in ``callbacks.reason``, sent as
# ``reason_code``) and a short message for agents. Provider detail (exception text, a
# PBX's message) goes to the worker log only, never into a response or event.
DIAL_FAILURES: dict[str, str] = {
    "pbx_unreachable": "The phone system cannot be reached right now.",
    "pbx_timeout": "The phone system did not answer in time.",
    "pbx_login_refused": "The phone system refused the hub's login: ask an admin to check"
                         " the voice settings.",
    "originate_refused": "The phone system refused to place the call.",
    "agent_busy": "Your phone was busy.",
    "agent_no_answer": "Your phone did not answer.",
    "agent_leg_failed": "Your phone could not be rung.",
    "provider_refused": "The telephony provider refused the call.",
    "provider_unavailable": "The telephony provider is unavailable right now.",
    "agent_not_in_inbox": "You are not a member of this inbox.",
    "no_extension": "You have no phone extension: ask an admin to add one.",
    "no_provider": "No telephony provider is configured for this inbox.",
    "call_ended": "The call ended before it was connected.",
    "call_failed": "The call could not be placed.",
}


def failure_code(stored: str | None) -> str:
    """The stable code of a stored reason ('' for none); anything unknown (rows from
    before the codes) is ``call_failed``."""
    if not stored:
        return ""
    return stored if stored in DIAL_FAILURES else "call_failed"


def failure_message(stored: str | None) -> str:
    """The agent-facing message for a stored reason ('' for none)."""
    code = failure_code(stored)
    return DIAL_FAILURES[code] if code else ""
