"""Checks on SLA wake-ups before they are scheduled (pure; docs/sla.md "Timers").

A wake-up is ``(member, due)``: ``member`` names a clock (``conv:123``), ``due`` is the
epoch second at which the clock's ``tick`` should run. Both come from the hub's own
code, but a bad one would sit in Redis and be handed to a worker forever, so they are
refused here, all or nothing, before anything is written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from hub.errors import BadInput

# kind ":" id, e.g. "conv:123". No spaces, no control characters, nothing a log line or
# a Redis reply could confuse; short enough that a lease entry stays small.
MEMBER_RE = re.compile(r"[a-z][a-z0-9_]{0,31}:[A-Za-z0-9_.\-]{1,96}")
# 0001-01-01 would be negative; 10000-01-01 is beyond every calendar the core handles.
MAX_DUE = 253402300800.0


def check_member(member: object) -> str:
    """``member`` if it is a clock key (``kind:id``), else ``BadInput``."""
    if not isinstance(member, str) or MEMBER_RE.fullmatch(member) is None:
        raise BadInput(f"bad SLA timer member {_show(member)}: expected kind:id such as "
                       "conv:123", code="bad_timer")
    return member


def check_due(due: object) -> float:
    """``due`` as a float if it is a finite epoch second in (0, 10000-01-01)."""
    if isinstance(due, bool) or not isinstance(due, int | float):
        raise BadInput(f"bad SLA timer due {_show(due)}: expected epoch seconds",
                       code="bad_timer")
    value = float(due)
    if not math.isfinite(value) or not 0 < value < MAX_DUE:
        raise BadInput(f"bad SLA timer due {_show(due)}: outside 1970..9999",
                       code="bad_timer")
    return value


def earliest_per_member(items: Iterable[tuple[object, object]]) -> dict[str, float]:
    """Checked wake-ups, one per member (its earliest due); ``BadInput`` on any bad one."""
    out: dict[str, float] = {}
    for member, due in items:
        m, d = check_member(member), check_due(due)
        if m not in out or d < out[m]:
            out[m] = d
    return out


def latest_per_member(items: Iterable[tuple[object, object]]) -> dict[str, float]:
    """Checked wake-ups, one per member: the last one given wins (a replacing write)."""
    out: dict[str, float] = {}
    for member, due in items:
        out[check_member(member)] = check_due(due)
    return out


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
