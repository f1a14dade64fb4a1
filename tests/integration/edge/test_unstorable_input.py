"""Characters Postgres cannot hold (U+0000 in text and in jsonb, lone surrogates) arrive on
every inbound edge. Each edge acknowledges the message only once its envelope is storable
(``hub.schema.encode_envelope``: U+FFFD in their place), so what was acknowledged is
stored exactly once and visible, and never dead-lettered for its characters.

Every test goes through the live hub (uvicorn + pipeline + Postgres + Valkey) over real
HTTP, websockets or SMTP; the providers' requests are signed as they would sign them."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import msgspec
import redis.asyncio as aioredis

from channels.email.ingest_sink import RedisMailSink
from hub.schema import (
    AttachmentRef,
    Envelope,
    Identity,
    PrechatAnswers,
    decode_envelope,
    encode,
    encode_envelope,
)
from hub.storable import storable_text
from tests.conftest import LiveHub
from tests.fixtures.fake_providers import Webhooks, new_sid, telegram_message, whatsapp_text
from tests.fixtures.helpers import api_post, eventually, new_id, recv_until, widget_ws
from tests.fixtures.ingest import (
    SHOP,
    add_mail_inbox,
    configure_prechat,
    make_mail,
    smtp_send,
    submit_prechat,
)
from tests.fixtures.messaging import fake_port, settings, webhooks

__all__ = ["fake_port", "settings", "webhooks"]  # fixtures

NUL, FFFD = "\x00", "\ufffd"
WA = "106540352242922"


async def stored_once(hub: LiveHub, db: asyncpg.Pool, redis: aioredis.Redis,
                      channel: str) -> asyncpg.Record:
    """Wait until the pipeline has dealt with the entry (a row, or a dead letter), then
    check it is one visible row and nothing was dead-lettered."""
    dead = hub.settings.dead_letter_stream

    async def settled() -> bool:
        rows = await db.fetchval("SELECT count(*) FROM messages WHERE channel = $1", channel)
        return bool(rows or await redis.xlen(dead))

    await eventually(settled)
    assert await redis.xlen(dead) == 0, await redis.xrange(dead)
    await asyncio.sleep(0.2)  # a duplicate would show up by now
    rows = await db.fetch(
        "SELECT m.*, c.name AS contact_name FROM messages m"
        " JOIN conversations v ON v.id = m.conversation_id"
        " JOIN contacts c ON c.id = v.contact_id WHERE m.channel = $1", channel)
    assert len(rows) == 1
    assert NUL not in rows[0]["text"] and NUL not in rows[0]["contact_name"]
    return rows[0]


# ---- the rule itself -----------------------------------------------------------------


def test_encode_envelope_makes_every_string_storable() -> None:
    env = Envelope(
        channel="api", channel_account="api", provider_id=f"p{NUL}1",
        sender=Identity(kind="external", value=f"c{NUL}1"), sender_name=f"An{NUL}na",
        subject=f"s{NUL}", text=f"a{NUL}b\ud800c", html=f"<p>{NUL}</p>",
        attachments=(AttachmentRef(ref="blob:x", filename=f"f{NUL}.txt",
                                   content_type="text/plain", size=1),),
        received_at=datetime.now(UTC), attributes={f"k{NUL}": f"v{NUL}\udfff"},
        prechat=PrechatAnswers(name=f"N{NUL}", custom={f"t{NUL}": f"x{NUL}", "b": True}))
    data = encode_envelope(env)
    assert b"\\u0000" not in data
    back = decode_envelope(data)
    assert back.text == f"a{FFFD}b{FFFD}c" and back.sender_name == f"An{FFFD}na"
    assert back.provider_id == f"p{FFFD}1" and back.sender.value == f"c{FFFD}1"
    assert back.attachments[0].filename == f"f{FFFD}.txt"
    assert back.attributes == {f"k{FFFD}": f"v{FFFD}{FFFD}"}
    assert back.prechat is not None
    assert back.prechat.custom == {f"t{FFFD}": f"x{FFFD}", "b": True}
    assert back.received_at == env.received_at
    # A retry of the same payload maps to the same idempotency key.
    assert decode_envelope(encode_envelope(env)).provider_id == back.provider_id
    # A clean envelope is encoded as it always was (no extra pass).
    clean = Envelope(channel="api", channel_account="api", provider_id="p",
                     sender=Identity(kind="external", value="c"), text="ok \\u0000 literal",
                     received_at=datetime.now(UTC))
    assert encode_envelope(clean) == encode(clean)
    # An entry written before the rule existed is cleaned when the pipeline reads it.
    assert decode_envelope(encode(msgspec.structs.replace(clean, text=f"x{NUL}"))).text == f"x{FFFD}"
    assert storable_text("ok") == "ok"


# ---- every edge, live ------------------------------------------------------------------


async def _refused_before_the_ack(hub: LiveHub, db: asyncpg.Pool,
                                  redis: aioredis.Redis) -> None:
    assert await redis.xlen(hub.settings.ingest_stream) == 0
    assert await db.fetchval("SELECT count(*) FROM messages") == 0


# Our own clients (the API channel, the widget, the pre-chat form) are told at once and
# can send again; providers' webhooks (below) are answered 2xx and their text cleaned.


async def test_api_channel_nul_is_refused_naming_the_field(hub, db, redis):
    r = await api_post(hub.base_url, hub.seed["api_token"], {
        "source_id": "crm-9", "text": f"Router{NUL} blinks", "name": "Dana",
        "message_id": new_id()})
    assert r.status_code == 400 and r.json()["reason"].startswith("$.text:"), r.text
    r = await api_post(hub.base_url, hub.seed["api_token"], {
        "source_id": "crm-9", "text": "Router blinks", "name": f"Da{NUL}na",
        "message_id": new_id()})
    assert r.status_code == 400 and r.json()["reason"].startswith("$.name:"), r.text
    await _refused_before_the_ack(hub, db, redis)


async def test_api_channel_lone_surrogate_is_refused_before_the_ack(hub, db, redis):
    # json.dumps writes "\ud800" as an escape; the strict decoder refuses it (400).
    body = json.dumps({"source_id": "crm-s", "text": "half \ud800 pair", "name": "S\udfffam",
                       "message_id": new_id()})
    async with httpx.AsyncClient(base_url=hub.base_url) as client:
        r = await client.post("/api/v1/inboxes/api/messages", content=body,
                              headers={"Authorization": f"Bearer {hub.seed['api_token']}",
                                       "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"], r.text
    assert await redis.xlen(hub.settings.ingest_stream) == 0


async def test_widget_socket_nul_is_refused_with_an_error_frame(hub, db, redis):
    ws = await widget_ws(hub.ws_url, "https://shop.example")
    async with ws:
        await recv_until(ws, lambda f: f["type"] == "hello")
        await ws.send(json.dumps({"type": "message", "client_id": new_id(),
                                  "text": f"my TV{NUL} is dark"}))
        error = await recv_until(ws, lambda f: f["type"] in ("ack", "error"))
        assert error["type"] == "error" and error["code"] == "bad_frame", error
        assert "$.text" in error["reason"]
        # The socket carries on: the same text without the NUL is acknowledged.
        cid = new_id()
        await ws.send(json.dumps({"type": "message", "client_id": cid,
                                  "text": "my TV is dark"}))
        ack = await recv_until(ws, lambda f: f["type"] in ("ack", "error"))
        assert ack["type"] == "ack" and ack["client_id"] == cid
        row = await stored_once(hub, db, redis, "chat")
        assert row["text"] == "my TV is dark"


async def _prechat(hub: LiveHub, text: str, name: str) -> httpx.Response:
    ws = await widget_ws(hub.ws_url, SHOP)
    async with ws:
        hello = await recv_until(ws, lambda f: f["type"] == "hello")
        return await submit_prechat(hub.base_url, {
            "inbox": "web", "token": hello["visitor_token"], "client_id": new_id(),
            "text": text, "values": {"name": name, "email": "eve@example.org",
                                     "topic": "Billing"}, "consent": True})


async def test_prechat_nul_is_refused_before_the_ack(hub, db, redis):
    await configure_prechat(hub.base_url)
    r = await _prechat(hub, f"hi{NUL} there", "Eve Stranger")
    assert r.status_code == 400 and r.json()["reason"].startswith("$.text:"), r.text
    r = await _prechat(hub, "hello", f"Eve{NUL} Stranger")
    assert r.status_code == 400 and "$.values.name" in r.json()["reason"], r.text
    await _refused_before_the_ack(hub, db, redis)
    assert await db.fetchval("SELECT count(*) FROM prechat_submissions") == 0


async def test_twilio_nul_in_body_and_profile_name(hub, webhooks: Webhooks, db, redis):
    params = webhooks.twilio_inbound("twilio-sms", "+447700900513", f"internet{NUL} down",
                                     ProfileName=f"Jo{NUL}hn")
    r = await webhooks.twilio("twilio-sms", params)
    assert r.status_code == 200, r.text
    row = await stored_once(hub, db, redis, "sms")
    assert row["text"] == f"internet{FFFD} down"


async def test_whatsapp_nul_in_text_and_profile_name(hub, webhooks: Webhooks, db, redis):
    r = await webhooks.meta(whatsapp_text(WA, "16505551234", f"wamid.{new_sid()}",
                                          f"another{NUL} color?", name=f"Shee{NUL}na"))
    assert r.status_code == 200, r.text
    row = await stored_once(hub, db, redis, "whatsapp")
    assert row["text"] == f"another{FFFD} color?"
    assert row["contact_name"] == f"Shee{FFFD}na"


async def test_telegram_nul_in_text_and_first_name(hub, webhooks: Webhooks, db, redis):
    user = {"id": 4242, "first_name": f"Te{NUL}st", "last_name": "L", "username": "t"}
    update = telegram_message(777, 4242, f"/start{NUL}")
    update["message"]["from"] = user
    update["message"]["chat"] = {**user, "type": "private"}
    r = await webhooks.telegram("telegram", update)
    assert r.status_code == 200, r.text
    row = await stored_once(hub, db, redis, "telegram")
    assert row["text"] == f"/start{FFFD}"
    assert FFFD in row["contact_name"]


async def test_cti_nul_in_caller_agent_and_ivr(hub, db, redis):
    body = {"event": "newCall", "callId": f"nul-{new_id()}", "direction": "in",
            "from": f"anony{NUL}mous", "to": "4930123456", "user": [f"Ag{NUL}ent"],
            "ivr": {"menu": f"1{NUL}3"}}
    async with httpx.AsyncClient(base_url=hub.base_url) as client:
        r = await client.post(f"/cti/{hub.seed['cti_token']}/events", json=body)
    assert r.status_code == 200, r.text

    async def settled() -> Any:
        row = await db.fetchrow("SELECT * FROM calls WHERE call_id = $1", body["callId"])
        return row or await redis.xlen(hub.settings.dead_letter_stream)

    row = await eventually(settled)
    assert await redis.xlen(hub.settings.dead_letter_stream) == 0
    assert row["from_number"] == f"anony{FFFD}mous"
    assert NUL not in json.dumps(dict(row), default=str)


async def test_smtp_nul_in_subject_body_and_display_name(hub, db, redis, smtp_receiver):
    await add_mail_inbox(db)
    raw = make_mail("Router blinks", "<nul1@customer.test>").replace(
        b"Router blinks", b"Router\x00 blinks").replace(
        b"Anna Kunde", b"An\x00na Kunde").replace(b"this morning", b"this\x00 morning")
    await smtp_send(smtp_receiver, raw)
    row = await stored_once(hub, db, redis, "email")
    assert NUL not in row["text"] and "morning" in row["text"]
    conv = await db.fetchrow("SELECT subject FROM conversations WHERE id = $1",
                             row["conversation_id"])
    assert NUL not in conv["subject"] and "blinks" in conv["subject"]


async def test_imap_sink_nul_is_stored(hub, db, redis, mail_sink: RedisMailSink):
    """The IMAP fetcher hands each message to the same sink as SMTP (RedisMailSink)."""
    await add_mail_inbox(db)
    raw = make_mail("Printer jam", "<nul2@customer.test>").replace(
        b"Printer jam", b"Printer\x00 jam").replace(b"Anna Kunde", b"An\x00na")
    assert len(await mail_sink.deliver(raw, ["mail"])) == 1
    row = await stored_once(hub, db, redis, "email")
    assert NUL not in row["contact_name"]


async def test_twilio_status_report_with_nul_is_recorded_not_a_500(hub, webhooks: Webhooks, db):
    """Status callbacks are committed before the 2xx: their strings must be storable too."""
    sid = new_sid()
    params = webhooks.twilio_status("twilio-sms", sid, "failed", "+447700900513",
                                    ErrorCode="39999", ErrorMessage=f"odd{NUL} failure")
    r = await webhooks.twilio("twilio-sms", params)
    assert r.status_code == 200, r.text
    error = await db.fetchval("SELECT error FROM message_status_reports"
                              " WHERE provider_ref = $1", sid)
    assert error is not None and NUL not in error and "failure" in error
