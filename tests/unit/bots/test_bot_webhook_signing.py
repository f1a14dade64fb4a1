"""The pure part of bot webhooks (hub/bots/rules.py): the signature a bot verifies,
the example bot's standalone copy of the check, the backoff and Retry-After rules."""

from __future__ import annotations

import hashlib
import hmac
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from examples.webhook_bot import verify as example_verify
from hub.bots import rules as wh

SECRET = "ohs_test-secret"
BODY = b'{"id":"d1","type":"message.created","event":{}}'
T = 1_764_445_000


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    header = wh.signature_header([SECRET], T, BODY)
    mac = hmac.new(SECRET.encode(), b"1764445000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={T},v1={mac}"
    for check in (wh.verify_signature, example_verify):
        assert check(header, BODY, SECRET, now=T + 10)
        assert not check(header, BODY + b" ", SECRET, now=T + 10)  # body changed
        assert not check(header, BODY, "ohs_other", now=T + 10)  # wrong secret
        assert not check(header, BODY, SECRET, now=T + 301)  # replayed too late
        assert not check(header.replace(f"t={T}", f"t={T + 1}"), BODY, SECRET, now=T)
        assert not check(f"v1={mac}", BODY, SECRET, now=T)  # no timestamp
        assert not check(f"t={T}", BODY, SECRET, now=T)  # no signature
        assert not check("", BODY, SECRET, now=T)


def test_rotation_grace_signs_with_both_secrets():
    header = wh.signature_header(["ohs_new", "ohs_old"], T, BODY)
    assert header.count("v1=") == 2
    for secret in ("ohs_new", "ohs_old"):
        assert wh.verify_signature(header, BODY, secret, now=T)
        assert example_verify(header, BODY, secret, now=T)
    assert not wh.verify_signature(header, BODY, "ohs_older", now=T)


def test_backoff_doubles_with_jitter_and_a_cap():
    rng = random.Random(7)
    for attempt, (low, high) in enumerate([(2.5, 5), (5, 10), (10, 20), (20, 40)], start=1):
        delays = [wh.backoff_s(attempt, 5.0, rng=rng) for _ in range(200)]
        assert all(low <= d <= high for d in delays)
        assert max(delays) - min(delays) > (high - low) / 2  # really jittered
    assert all(300 <= wh.backoff_s(30, 5.0, cap_s=600, rng=rng) <= 600 for _ in range(50))


@pytest.mark.parametrize(("status", "retry"), [
    (500, True), (502, True), (503, True), (429, True),
    (400, False), (401, False), (403, False), (404, False), (410, False), (422, False)])
def test_which_statuses_are_retried(status, retry):
    assert wh.retryable_status(status) is retry


def test_retry_after_seconds_dates_and_garbage():
    now = datetime(2026, 11, 29, 20, 0, tzinfo=UTC)
    assert wh.parse_retry_after("7") == 7.0
    assert wh.parse_retry_after("999999") == wh.MAX_RETRY_AFTER_S
    date = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert wh.parse_retry_after(date, now=now) == pytest.approx(90.0)
    past = format_datetime(now - timedelta(seconds=90), usegmt=True)
    assert wh.parse_retry_after(past, now=now) == 0.0
    for bad in (None, "", "soon", "-5", "1.5e3"):
        assert wh.parse_retry_after(bad, now=now) is None


def test_stream_pos_orders_like_the_stream():
    ids = ["1764445000123-0", "1764445000123-1", "1764445000123-10", "1764445000124-0"]
    assert sorted(ids, key=wh.stream_pos) == ids
    assert sorted(reversed(ids), key=wh.stream_pos) == ids


def test_retry_after_wins_over_a_shorter_backoff():
    rng = random.Random(7)
    assert all(wh.retry_delay_s(1, 0.2, 1.0, rng=rng) == 1.0 for _ in range(50))
    assert all(0.1 <= wh.retry_delay_s(1, 0.2, None, rng=rng) <= 0.2 for _ in range(50))
    # A longer backoff is not shortened by a small Retry-After.
    assert all(wh.retry_delay_s(5, 5.0, 1.0, rng=rng) >= 40 for _ in range(50))
