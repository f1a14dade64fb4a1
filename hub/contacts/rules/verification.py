"""Verifying a claimed email or phone with a one-time code: the rules. Pure: no I/O.

A visitor typed an email/phone (an unverified claim, docs/identity.md). An agent may ask
the hub to send a 6-digit code to that address; the visitor enters it in the widget. Only
a visitor who can read that mailbox or phone can answer, so a correct code turns the
claim into a verified identity (and links it to the customer who owns it).

Rules:
- The code is never stored. It is ``HMAC-SHA256(secret_key, "verify-code:<id>:<salt>")``
  reduced to 6 digits, with a random per-verification salt in the row: the sending job
  and the check recompute it, a database dump alone reveals nothing, and a retried send
  sends the same code.
- A verification lives ``CODE_TTL_S`` (10 min) and allows ``MAX_ATTEMPTS`` (5) answers;
  the 5th wrong answer locks it. A correct answer after expiry or lock is refused.
- Answers are compared in constant time (``hmac.compare_digest``).
- At most ``PER_TARGET_LIMIT`` codes per address and ``PER_AGENT_LIMIT`` per agent in
  ``RATE_WINDOW_S``: a customer's mailbox is not a spam target, an agent not a spammer.
- What the visitor sees never depends on whether the address belongs to a customer.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

CODE_DIGITS = 6
CODE_TTL_S = 600
MAX_ATTEMPTS = 5
RATE_WINDOW_S = 3600
PER_TARGET_LIMIT = 3
PER_AGENT_LIMIT = 20

Outcome = Literal["verified", "wrong_code", "expired", "locked", "not_pending"]
_CODE = re.compile(r"^[0-9]{6}$")  # ASCII only: \d also matches other scripts


def derive_code(secret_key: str, verification_id: int, salt: str) -> str:
    """The 6-digit code of one verification (same inputs, same code)."""
    mac = hmac.new(secret_key.encode(), f"verify-code:{verification_id}:{salt}".encode(),
                   hashlib.sha256).digest()
    return str(int.from_bytes(mac[:8], "big") % 10**CODE_DIGITS).zfill(CODE_DIGITS)


def clean_code(raw: str) -> str | None:
    """The typed code without spaces or dashes, or None when it cannot be a code."""
    text = re.sub(r"[\s-]", "", raw[:32])
    return text if _CODE.match(text) else None


def codes_match(expected: str, typed: str) -> bool:
    return hmac.compare_digest(expected.encode(), typed.encode())


def channel_for(kind: str) -> Literal["email", "sms"]:
    return "email" if kind == "email" else "sms"


def expiry(now: datetime) -> datetime:
    return now + timedelta(seconds=CODE_TTL_S)


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one answer does: the outcome, the row's new status and attempt count."""

    outcome: Outcome
    status: str
    attempts: int

    @property
    def attempts_left(self) -> int:
        return max(0, MAX_ATTEMPTS - self.attempts)


def judge_answer(*, status: str, attempts: int, expires_at: datetime, now: datetime,
                 expected: str, typed: str | None) -> Attempt:
    """Decide one answer. Expired and locked verifications refuse even the right code;
    every judged answer (right or wrong) counts as an attempt."""
    if status != "pending":
        return Attempt("locked" if status == "locked" else "not_pending", status, attempts)
    if now >= expires_at:
        return Attempt("expired", "expired", attempts)
    if attempts >= MAX_ATTEMPTS:
        return Attempt("locked", "locked", attempts)
    attempts += 1
    if typed is not None and codes_match(expected, typed):
        return Attempt("verified", "verified", attempts)
    if attempts >= MAX_ATTEMPTS:
        return Attempt("locked", "locked", attempts)
    return Attempt("wrong_code", "pending", attempts)


VISITOR_TEXT: dict[str, str] = {
    "verified": "Thanks, you're verified.",
    "wrong_code": "That code is not right. Please check it and try again.",
    "expired": "That code has expired. Ask the agent for a new one.",
    "locked": "Too many wrong codes. Ask the agent for a new one.",
    "not_pending": "This code is no longer valid. Ask the agent for a new one.",
}


def masked_target(kind: str, value: str) -> str:
    """What the widget shows of where the code went (the visitor typed it themselves)."""
    if kind == "email":
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    return f"{value[:3]}***{value[-2:]}"
