"""Delivery status rules (pure): a status only moves forward along
queued < sending < sent < delivered < read; ``failed`` is terminal and can only replace a
status that does not prove delivery. The reports channel adapters parse are these types;
``hub.messaging.actions`` stores them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from hub.schema import MessageStatus

RANK: dict[str, int] = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "read": 4}
MAX_ERROR = 500


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One provider report about one of our outbound messages."""

    provider: str  # twilio | meta | telegram
    provider_ref: str
    status: MessageStatus
    error: str = ""


@dataclass(frozen=True, slots=True)
class Watermark:
    """Messenger/Instagram ``read``/``delivery`` watermark: every outbound message of the
    conversation with this contact sent at or before ``at`` reached ``status``."""

    inbox: str
    contact_identity: str  # identity key, e.g. messenger:<page>:<psid>
    status: MessageStatus
    at: datetime


def may_move(current: str, new: str) -> bool:
    """Whether a message in ``current`` status may take ``new``."""
    if current == new or current == "failed" or current not in RANK:
        return False
    if new == "failed":
        return current in ("queued", "sending", "sent")
    return new in RANK and RANK[new] > RANK[current]


def best_status(current: str, reports: Sequence[tuple[str, str]]) -> tuple[str, str] | None:
    """Apply ``reports`` ((status, error), any order) to ``current``; the final status and
    error, or None when nothing moves. Order-independent: the result is the same for
    every permutation of ``reports``."""
    statuses = {s for s, _ in reports}
    errors = {s: e for s, e in reports}
    # Proof of delivery wins over a failure report; a failure over mere acceptance.
    for candidate in ("read", "delivered", "failed", "sent", "sending", "queued"):
        if candidate in statuses and may_move(current, candidate):
            return candidate, errors.get(candidate, "")
    return None
