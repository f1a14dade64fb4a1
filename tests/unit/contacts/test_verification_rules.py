"""The pure rules of claim verification (hub/contacts/rules/verification.py): the derived code, input
cleaning, the answer state machine (expiry, attempts, lock), masking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.contacts.rules.verification import (
    MAX_ATTEMPTS,
    clean_code,
    derive_code,
    judge_answer,
    masked_target,
)

KEY = "k" * 32
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=10)


def test_the_code_is_six_digits_derived_from_key_id_and_salt():
    code = derive_code(KEY, 7, "salt")
    assert len(code) == 6 and code.isdigit()
    assert derive_code(KEY, 7, "salt") == code  # a retried send sends the same code
    others = {derive_code(KEY, 7, f"salt{i}") for i in range(50)}
    assert len(others) > 45  # the salt decides it
    assert derive_code("x" * 32, 7, "salt") != code or derive_code("x" * 32, 8, "s") != code


def test_typed_codes_are_cleaned_or_refused():
    assert clean_code(" 123 456 ") == "123456"
    assert clean_code("123-456") == "123456"
    for bad in ("12345", "1234567", "12a456", "", "\uff11" * 6):
        assert clean_code(bad) is None


def _judge(typed: str | None, *, attempts: int = 0, status: str = "pending",
           now: datetime = NOW) -> tuple[str, str, int]:
    a = judge_answer(status=status, attempts=attempts, expires_at=LATER, now=now,
                     expected="123456", typed=typed)
    return a.outcome, a.status, a.attempts


def test_answers_count_expire_and_lock():
    assert _judge("123456") == ("verified", "verified", 1)
    assert _judge("000000") == ("wrong_code", "pending", 1)
    assert _judge("000000", attempts=MAX_ATTEMPTS - 1) == ("locked", "locked", MAX_ATTEMPTS)
    # Locked or expired: even the right code is refused, and uses no attempt.
    assert _judge("123456", attempts=MAX_ATTEMPTS) == ("locked", "locked", MAX_ATTEMPTS)
    assert _judge("123456", status="locked") == ("locked", "locked", 0)
    assert _judge("123456", now=LATER) == ("expired", "expired", 0)
    assert _judge("123456", status="verified") == ("not_pending", "verified", 0)
    assert _judge("123456", status="superseded") == ("not_pending", "superseded", 0)


def test_masking_shows_only_what_the_visitor_typed_partly():
    assert masked_target("email", "anna@example.com") == "a***@example.com"
    assert masked_target("phone", "+4930901820") == "+49***20"
