"""Bot webhooks, the pure part (docs/bots.md "Webhooks"): the signed request a bot
receives, how a bot verifies it, and the retry schedule. No I/O here; the worker side is
workers/bot_webhooks.py.

Signature: ``X-Omnihub-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
"<t>." + raw body)>`` — one ``v1`` per valid secret (two during a secret rotation's grace
period). The bot recomputes it over the raw bytes it received, compares in constant
time, and refuses timestamps older than a few minutes (replays)."""

from __future__ import annotations

import hashlib
import hmac
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

SIGNATURE_HEADER = "X-Omnihub-Signature"
DELIVERY_HEADER = "X-Omnihub-Delivery"
EVENT_HEADER = "X-Omnihub-Event"
DEFAULT_TOLERANCE_S = 300
MAX_RETRY_AFTER_S = 3600.0


def stream_pos(stream_id: str) -> int:
    """A stream id ("<ms>-<seq>") as one sortable integer."""
    ms, _, seq = stream_id.partition("-")
    return (int(ms) << 20) | min(int(seq or 0), (1 << 20) - 1)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body,
                    hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    return ",".join([f"t={timestamp}", *(f"v1={sign(s, timestamp, body)}" for s in secrets)])


def verify_signature(header: str, body: bytes, secret: str, *,
                     tolerance_s: int = DEFAULT_TOLERANCE_S, now: float | None = None) -> bool:
    """The check a bot runs (examples/webhook_bot.py has a standalone copy): any ``v1``
    matches the HMAC of ``"<t>." + body`` and ``t`` is within ``tolerance_s`` of now."""
    timestamp, candidates = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body)
    # Check every candidate so the time taken does not say which one matched.
    ok = False
    for candidate in candidates:
        ok |= hmac.compare_digest(expected, candidate)
    return ok


def retryable_status(status: int) -> bool:
    """429 and 5xx are worth another try; any other 4xx means the request is refused."""
    return status == 429 or status >= 500


def backoff_s(attempt: int, base_s: float, cap_s: float = 600.0,
              rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: attempt 1 → [base/2, base], 2 → [base, 2·base]…,
    capped at ``cap_s``. The jitter spreads retries of many deliveries that failed
    together (a bot restart) instead of hammering it in lockstep."""
    ceiling = min(cap_s, base_s * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(ceiling / 2, ceiling)


def retry_delay_s(attempt: int, base_s: float, retry_after: float | None,
                  rng: random.Random | None = None) -> float:
    """The wait before the next try: the backoff, or the bot's Retry-After if longer."""
    delay = backoff_s(attempt, base_s, rng=rng)
    return delay if retry_after is None else max(delay, retry_after)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), capped at 1 h;
    None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(0.0, delta), MAX_RETRY_AFTER_S)
