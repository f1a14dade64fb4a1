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
