"""Messaging webhooks end to end through the live hub (uvicorn + pipeline + Postgres +
Valkey): signed requests are stored once however often they are retried; every
verification failure is 401/403 and stores nothing; every bad payload is a 4xx with a
JSON reason and stores nothing; echoes and unknown kinds are skipped; the Meta
handshake. The hub runs "behind a TLS proxy": Twilio signs ``PUBLIC_URL``."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from channels.twilio.signature import compute_signature
from tests.conftest import LiveHub
from tests.fixtures.fake_providers import (
    Webhooks,
    messenger_event,
    new_sid,
    telegram_message,
    whatsapp_text,
)
from tests.fixtures.helpers import eventually
from tests.fixtures.messaging import PUBLIC_URL, fake, fake_port, settings, webhooks

__all__ = ["fake", "fake_port", "settings", "webhooks"]  # fixtures used by this module

PAGE, WA = "100000000000001", "106540352242922"


async def _nothing_stored(db: asyncpg.Pool, redis: aioredis.Redis, hub: LiveHub) -> None:
    assert await redis.xlen(hub.settings.ingest_stream) == 0
    await asyncio.sleep(0.2)
    assert await db.fetchval("SELECT count(*) FROM messages") == 0
    assert await db.fetchval("SELECT count(*) FROM message_status_reports") == 0


async def _messages(db: asyncpg.Pool, n: int) -> list[Any]:
    async def check() -> list[Any] | None:
        rows = await db.fetch("SELECT * FROM messages ORDER BY id")
        return rows if len(rows) >= n else None
    rows: list[Any] = await eventually(check)
    await asyncio.sleep(0.3)  # nothing more arrives
    assert await db.fetchval("SELECT count(*) FROM messages") == n
    return rows


async def test_twilio_sms_retried_5x_concurrently_is_one_message(
        hub: LiveHub, webhooks: Webhooks, db: asyncpg.Pool) -> None:
    params = webhooks.twilio_inbound("twilio-sms", "+447700900513", "My internet is down")
    answers = await asyncio.gather(*(webhooks.twilio("twilio-sms", params) for _ in range(5)))
    assert [r.status_code for r in answers] == [200] * 5
    assert answers[0].headers["content-type"].startswith("text/xml")
    assert "<Response>" in answers[0].text
    [row] = await _messages(db, 1)
    assert (row["channel"], row["channel_account"], row["provider_id"], row["text"]) == (
        "sms", "twilio-sms", params["MessageSid"], "My internet is down")
    conv = await db.fetchrow("SELECT * FROM conversations WHERE id = $1", row["conversation_id"])
    assert conv["contact_identity"] == "phone:+447700900513"


async def test_twilio_verification_failures_store_nothing(
        hub: LiveHub, webhooks: Webhooks, db: asyncpg.Pool, redis: aioredis.Redis) -> None:
    params = webhooks.twilio_inbound("twilio-sms", "+447700900513", "hi")
    token = webhooks.creds["twilio-sms"]["auth_token"]
    pairs = list(params.items())
    internal = f"{hub.base_url}/webhooks/twilio/sms"
    cases = [
        (await webhooks.twilio("twilio-sms", params, signature=""), 401),
        (await webhooks.twilio("twilio-sms", params, signature="AAAA" + "=" * 24), 403),
        # Signed over the URL the hub sees, not the public one Twilio called: refused.
        (await webhooks.twilio("twilio-sms", params,
                               signature=compute_signature(token, internal, pairs)), 403),
        (await webhooks.twilio("twilio-sms", {**params, "Body": "tampered"},
                               signature=compute_signature(token, f"{PUBLIC_URL}/webhooks/"
                                                           "twilio/sms", pairs)), 403),
        (await webhooks.twilio("twilio-sms", {**params, "To": "+15555550100"}), 403),  # unknown number
        (await webhooks.twilio("twilio-sms", {**params, "AccountSid": "AC" + "9" * 32}), 403),
    ]
    for resp, status in cases:
        assert resp.status_code == status, resp.text
        assert resp.json()["error"] in ("unauthorized", "bad_signature")
    await _nothing_stored(db, redis, hub)


async def test_bad_payloads_are_4xx_with_a_reason_and_store_nothing(
        hub: LiveHub, webhooks: Webhooks, db: asyncpg.Pool, redis: aioredis.Redis) -> None:
    c = webhooks.client
    url = f"{hub.base_url}/webhooks/twilio/sms"
    big = b"Body=" + b"x" * hub.settings.webhook_max_body
    checks = [
        (await c.post(url, content=big,
                      headers={"Content-Type": "application/x-www-form-urlencoded"}), 413),
        (await c.post(url, content=b"a=1&&b", headers={
            "Content-Type": "application/x-www-form-urlencoded"}), 400),
        (await c.post(url, content=b'{"Body": 1}',
                      headers={"Content-Type": "application/json"}), 415),
        # Signed correctly, but no usable message (missing From / bad SID / bad media).
        (await webhooks.twilio("twilio-sms", {"MessageSid": new_sid(), "To": "+15555550199",
                                       "AccountSid": webhooks.creds["twilio-sms"]["account_sid"],
                                       "Body": "x"}), 400),
        (await webhooks.twilio("twilio-sms", webhooks.twilio_inbound(
            "twilio-sms", "+447700900513", "x", NumMedia="1")), 400),
        (await webhooks.twilio("twilio-sms", webhooks.twilio_inbound(
            "twilio-sms", "+447700900513", "x", MessageSid="SM1")), 400),
        (await webhooks.twilio("twilio-sms", webhooks.twilio_status(
            "twilio-sms", new_sid(), "exploded", "+447700900513")), 400),
        # Meta: signed, but unknown object / wrong types / not JSON.
        (await webhooks.meta({"object": "user", "entry": []}), 400),
        (await webhooks.meta({"object": "page", "entry": [{"id": PAGE, "messaging": [
            {"sender": {"id": 1}, "recipient": {"id": PAGE}}]}]}), 400),
        (await webhooks.meta(b"{oops"), 400),
        (await c.post(f"{hub.base_url}/webhooks/meta", content=big), 413),
        # Telegram: right secret, bad update.
        (await webhooks.telegram("telegram", b'{"update_id": "ten"}'), 400),
        (await webhooks.telegram("telegram", b"not json"), 400),
    ]
    for resp, status in checks:
        assert resp.status_code == status, (status, resp.text)
        body = resp.json()
        assert body["error"] and body["reason"], body
        assert "Traceback" not in resp.text
    await _nothing_stored(db, redis, hub)


async def test_meta_and_telegram_verification_failures(
        hub: LiveHub, webhooks: Webhooks, db: asyncpg.Pool, redis: aioredis.Redis) -> None:
    event = messenger_event(PAGE, "PSID", "m_1", "hi")
    assert (await webhooks.meta(event, signature="")).status_code == 401
    assert (await webhooks.meta(event, secret="wrong-secret")).status_code == 403
    assert (await webhooks.meta(event, signature="sha1=abc")).status_code == 403
    update = telegram_message(1, 1111111, "hi")
    assert (await webhooks.telegram("telegram", update, secret="")).status_code == 401
    assert (await webhooks.telegram("telegram", update, secret="wrong")).status_code == 403
    # An unknown inbox answers exactly like a wrong secret.
    assert (await webhooks.telegram("nope", update, secret="x")).status_code == 403
    assert (await webhooks.telegram("twilio-sms", update, secret="x")).status_code == 403
    await _nothing_stored(db, redis, hub)


async def test_meta_handshake(hub: LiveHub, webhooks: Webhooks) -> None:
    token = webhooks.creds["messenger"]["verify_token"]
    url = f"{hub.base_url}/webhooks/meta"
    q = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": token}
    ok = await webhooks.client.get(url, params=q)
    assert (ok.status_code, ok.text) == (200, "1158201444")
    assert (await webhooks.client.get(url, params={**q, "hub.verify_token": "meatyhamhock"})
            ).status_code == 403
    assert (await webhooks.client.get(url, params={**q, "hub.mode": "unsubscribe"})
            ).status_code == 400


async def test_meta_batch_echo_and_unknown_kinds(hub: LiveHub, webhooks: Webhooks,
                                                db: asyncpg.Pool) -> None:
    batch = messenger_event(PAGE, "PSID", "m_in_1", "first")
    batch["entry"][0]["messaging"] += [
        {"sender": {"id": PAGE}, "recipient": {"id": "PSID"}, "timestamp": 2,
         "message": {"mid": "m_echo", "text": "our reply", "is_echo": True}},
        {"sender": {"id": "PSID"}, "recipient": {"id": PAGE}, "timestamp": 3,
         "reaction": {"reaction": "like", "action": "react", "mid": "m_in_1"}},
        {"sender": {"id": "PSID"}, "recipient": {"id": PAGE}, "timestamp": 4,
         "message": {"mid": "m_in_2", "text": "second"}},
    ]
    resp = await webhooks.meta(batch)
    assert resp.status_code == 200 and resp.json() == {"messages": 2, "statuses": 0,
                                                       "ignored": 2}
    retry = await webhooks.meta(batch)  # Meta retries the whole batch
    assert retry.status_code == 200
    rows = await _messages(db, 2)
    assert [r["provider_id"] for r in rows] == ["m_in_1", "m_in_2"]
    assert {r["conversation_id"] for r in rows} == {rows[0]["conversation_id"]}


async def test_whatsapp_and_telegram_duplicates(hub: LiveHub, webhooks: Webhooks,
                                                db: asyncpg.Pool) -> None:
    wa = whatsapp_text(WA, "16505551234", "wamid.DUP1", "Does it come in another color?")
    tg = telegram_message(10000, 1111111, "/start")
    answers = await asyncio.gather(*(webhooks.meta(wa) for _ in range(5)),
                                   *(webhooks.telegram("telegram", tg) for _ in range(5)))
    assert {r.status_code for r in answers} == {200}
    rows = await _messages(db, 2)
    assert sorted((r["channel"], r["provider_id"]) for r in rows) == [
        ("telegram", "update:10000"), ("whatsapp", "wamid.DUP1")]
    idents = {r["kind"] + ":" + r["value"] for r in await db.fetch(
        "SELECT kind, value FROM identities WHERE kind IN ('whatsapp', 'telegram')")}
    assert idents == {"whatsapp:+16505551234", "telegram:7000000001:1111111"}
