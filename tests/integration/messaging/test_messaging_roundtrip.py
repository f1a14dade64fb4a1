"""Full round trip per channel, all real parts except the provider, which is a local fake
over real HTTP: fake provider -> signed webhook -> ingest stream -> pipeline -> Postgres
-> agent socket -> agent reply (REST) -> arq worker -> fake provider -> status callback
-> live ``message.status`` on the agent socket. Plus: out-of-order and duplicate status
callbacks never move a status backwards; a callback racing ahead of the send job is
applied once the job records the provider id; provider errors and retries; the WhatsApp
24-hour window and templates."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
from websockets.asyncio.client import ClientConnection

from tests.conftest import LiveHub
from tests.fixtures.fake_providers import (
    FakeProviders,
    Webhooks,
    instagram_event,
    messenger_event,
    new_sid,
    telegram_message,
    whatsapp_status,
    whatsapp_text,
)
from tests.fixtures.helpers import (
    agent_http,
    agent_ws,
    eventually,
    is_event,
    login,
    new_id,
    recv_until,
)
from tests.fixtures.messaging import fake, fake_port, settings, webhooks, worker

__all__ = ["fake", "fake_port", "settings", "webhooks", "worker"]

PAGE, IG, WA = "100000000000001", "17841400000000001", "106540352242922"


class Agent:
    def __init__(self, hub: LiveHub, ws: ClientConnection, http: httpx.AsyncClient) -> None:
        self.hub, self.ws, self.http = hub, ws, http

    async def inbound(self, inbox: str, send: Callable[[], Awaitable[httpx.Response]]
                      ) -> dict[str, Any]:
        resp = await send()
        assert resp.status_code == 200, resp.text
        frame = await recv_until(self.ws, is_event("message.created", inbox=inbox))
        return frame["event"]["message"]  # type: ignore[no-any-return]

    async def reply(self, conversation_id: int, text: str) -> dict[str, Any]:
        r = await self.http.post(f"/api/v1/conversations/{conversation_id}/messages",
                                 json={"text": text, "client_id": new_id()})
        assert r.status_code == 201, r.text
        msg: dict[str, Any] = r.json()["message"]
        assert msg["status"] == "queued"
        return msg

    async def status(self, message_id: int, status: str) -> dict[str, Any]:
        frame = await recv_until(self.ws, is_event("message.status", message_id=message_id,
                                                   status=status))
        return frame["event"]  # type: ignore[no-any-return]


async def _agent(hub: LiveHub) -> tuple[ClientConnection, httpx.AsyncClient]:
    cookie = await login(hub.base_url)
    ws = await agent_ws(hub.ws_url, hub.base_url, cookie)
    await recv_until(ws, lambda f: f.get("type") == "hello")
    return ws, agent_http(hub.base_url, cookie)


async def _ref(db: asyncpg.Pool, message_id: int) -> str:
    ref: str = await eventually(lambda: db.fetchval(
        "SELECT provider_ref FROM outbound_provider_ids WHERE message_id = $1", message_id))
    return ref


async def _final(db: asyncpg.Pool, message_id: int) -> tuple[str, str]:
    r = await db.fetchrow("SELECT status, status_error FROM messages WHERE id = $1", message_id)
    return r["status"], r["status_error"]


async def _status_events(hub: LiveHub, redis: Any, message_id: int) -> list[str]:
    import json
    out = []
    for _, f in await redis.xrange(hub.settings.events_stream):
        ev = json.loads(f[b"e"])
        if ev["type"] == "message.status" and ev["message_id"] == message_id:
            out.append(ev["status"])
    return out


async def test_sms_round_trip_with_out_of_order_callbacks(
        hub: LiveHub, fake: FakeProviders, webhooks: Webhooks, worker: Any,
        db: asyncpg.Pool, redis: Any) -> None:
    ws, http = await _agent(hub)
    async with http:
        a = Agent(hub, ws, http)
        msg = await a.inbound("twilio-sms", lambda: webhooks.twilio("twilio-sms", webhooks.twilio_inbound(
            "twilio-sms", "+447700900513", "My router blinks red")))
        assert msg["text"] == "My router blinks red" and msg["channel"] == "sms"
        out = await a.reply(msg["conversation_id"], "Please restart it, we reset the line.")
        await a.status(out["id"], "sent")
        [sent] = fake.sent_by("twilio")
        assert sent.form["To"] == "+447700900513" and sent.form["From"] == "+15555550199"
        assert sent.form["Body"] == "Please restart it, we reset the line."
        assert sent.form["StatusCallback"].startswith("https://hub.example.test/omnihub/")
        sid = await _ref(db, out["id"])
        cb = lambda st, **kw: webhooks.twilio("twilio-sms", webhooks.twilio_status(  # noqa: E731
            "twilio-sms", sid, st, "+447700900513", **kw))
        for st in ("delivered", "sent", "queued", "delivered", "sending"):  # late + repeated
            assert (await cb(st)).status_code == 200
        await a.status(out["id"], "delivered")
        assert (await cb("undelivered", ErrorCode="30003")).status_code == 200
        assert (await cb("read")).status_code == 200
        await a.status(out["id"], "read")
    await ws.close()
    assert await _final(db, out["id"]) == ("read", "")
    assert await _status_events(hub, redis, out["id"]) == ["sent", "delivered", "read"]
    assert await db.fetchval("SELECT count(*) FROM message_status_reports") == 6


async def test_twilio_failure_callback_and_provider_errors(
        hub: LiveHub, fake: FakeProviders, webhooks: Webhooks, worker: Any,
        db: asyncpg.Pool) -> None:
    ws, http = await _agent(hub)
    async with http:
        a = Agent(hub, ws, http)
        msg = await a.inbound("wa-twilio", lambda: webhooks.twilio(
            "wa-twilio", webhooks.twilio_inbound("wa-twilio", "whatsapp:+14155238886", "hola",
                                                 ProfileName="Ana")))
        out = await a.reply(msg["conversation_id"], "Hola Ana")
        await a.status(out["id"], "sent")
        assert fake.sent_by("twilio")[-1].form["To"] == "whatsapp:+14155238886"
        assert fake.sent_by("twilio")[-1].form["From"] == "whatsapp:+15555550198"
        sid = await _ref(db, out["id"])
        await webhooks.twilio("wa-twilio", webhooks.twilio_status(
            "wa-twilio", sid, "undelivered", "whatsapp:+14155238886", ErrorCode="63016"))
        ev = await a.status(out["id"], "failed")
        assert ev["error"] == "Twilio 63016: outside the WhatsApp 24-hour window: send a template"
        # The provider refuses the send itself: failed at once with its reason, no retry.
        fake.fail_next("twilio", 400, {"code": 21610, "message": "Attempt to send to"
                                       " unsubscribed recipient", "status": 400})
        out2 = await a.reply(msg["conversation_id"], "are you there?")
        ev = await a.status(out2["id"], "failed")
        assert ev["error"] == "Twilio 21610: Attempt to send to unsubscribed recipient"
        # 503 then success: retried with backoff, sent once.
        fake.fail_next("twilio", 503, {"code": 20500, "message": "Internal Server Error"})
        n = len(fake.sent_by("twilio"))
        out3 = await a.reply(msg["conversation_id"], "third try")
        await recv_until(ws, is_event("message.status", message_id=out3["id"], status="sent"),
                         timeout=20)
        assert len(fake.sent_by("twilio")) == n + 2
    await ws.close()
    assert await _final(db, out3["id"]) == ("sent", "")


async def test_callback_before_the_send_job_records_the_id(
        hub: LiveHub, fake: FakeProviders, webhooks: Webhooks, db: asyncpg.Pool) -> None:
    """No worker running: the delivered report arrives first, waits, and is applied when
    the send job records the provider id."""
    from hub.messaging.actions import record_sent

    ws, http = await _agent(hub)
    async with http:
        a = Agent(hub, ws, http)
        msg = await a.inbound("twilio-sms", lambda: webhooks.twilio("twilio-sms", webhooks.twilio_inbound(
            "twilio-sms", "+447700900514", "hi")))
        out = await a.reply(msg["conversation_id"], "hello")
        sid = new_sid()
        r = await webhooks.twilio("twilio-sms", webhooks.twilio_status("twilio-sms", sid, "delivered",
                                                                "+447700900514"))
        assert r.status_code == 200
        assert await _final(db, out["id"]) == ("queued", "")
        await db.execute("UPDATE messages SET status = 'sending' WHERE id = $1", out["id"])
        await record_sent(db, hub.app.state.hub.publisher, out["id"], "twilio", sid)
        await a.status(out["id"], "delivered")
    await ws.close()
    assert await _final(db, out["id"]) == ("delivered", "")


async def test_whatsapp_cloud_round_trip_window_and_template(
        hub: LiveHub, fake: FakeProviders, webhooks: Webhooks, worker: Any,
        db: asyncpg.Pool) -> None:
    ws, http = await _agent(hub)
    async with http:
        a = Agent(hub, ws, http)
        msg = await a.inbound("whatsapp", lambda: webhooks.meta(whatsapp_text(
            WA, "16505551234", "wamid.IN1", "Does it come in another color?")))
        cid = msg["conversation_id"]
        out = await a.reply(cid, "Yes: black and white.")
        await a.status(out["id"], "sent")
        body = fake.sent_by("meta")[-1].json
        assert body == {"messaging_product": "whatsapp", "recipient_type": "individual",
                        "to": "16505551234", "type": "text",
                        "text": {"preview_url": False, "body": "Yes: black and white."}}
        wamid = await _ref(db, out["id"])
        for st in ("read", "delivered", "sent"):  # "delivered may be skipped"; late ones
            assert (await webhooks.meta(whatsapp_status(WA, wamid, st, "16505551234"))
                    ).status_code == 200
        await a.status(out["id"], "read")
        assert await _final(db, out["id"]) == ("read", "")

        # The customer's last message is now 25 hours old: free text is refused.
        await db.execute("UPDATE messages SET created_at = now() - interval '25 hours'"
                         " WHERE direction = 'in'")
        r = await http.post(f"/api/v1/conversations/{cid}/messages",
                            json={"text": "Still there?", "client_id": new_id()})
        assert r.status_code == 409 and r.json()["error"] == "whatsapp_window_closed"
        opts = (await http.get(f"/api/v1/conversations/{cid}/templates")).json()
        assert opts["window_open"] is False and opts["channel"] == "whatsapp"
        assert [(t["name"], t["params"]) for t in opts["templates"]] == [
            ("follow_up", 1), ("order_update", 2)]
        bad = await http.post(f"/api/v1/conversations/{cid}/template",
                              json={"name": "follow_up", "language": "en", "params": []})
        assert bad.status_code == 400
        r = await http.post(f"/api/v1/conversations/{cid}/template", json={
            "name": "follow_up", "language": "en", "params": ["Sheena"], "client_id": new_id()})
        assert r.status_code == 201, r.text
        tpl = r.json()["message"]
        assert tpl["text"].startswith("Hi Sheena, this is omnihub support")
        await a.status(tpl["id"], "sent")
        assert fake.sent_by("meta")[-1].json["template"] == {
            "name": "follow_up", "language": {"code": "en"},
            "components": [{"type": "body", "parameters": [{"type": "text",
                                                            "text": "Sheena"}]}]}
        # A failed status from WhatsApp carries its error to the agent.
        await webhooks.meta(whatsapp_status(WA, await _ref(db, tpl["id"]), "failed",
                                            "16505551234", errors=[
                                                {"code": 131026, "title": "Undeliverable"}]))
        ev = await a.status(tpl["id"], "failed")
        assert ev["error"] == "WhatsApp 131026: Undeliverable"
    await ws.close()


async def test_messenger_and_instagram_round_trips(
        hub: LiveHub, fake: FakeProviders, webhooks: Webhooks, worker: Any,
        db: asyncpg.Pool) -> None:
    ws, http = await _agent(hub)
    async with http:
        a = Agent(hub, ws, http)
        msg = await a.inbound("messenger", lambda: webhooks.meta(
            messenger_event(PAGE, "PSID7", "m_in_7", "hello, world!")))
        out = await a.reply(msg["conversation_id"], "Hi! How can we help?")
        await a.status(out["id"], "sent")
        sent = fake.sent_by("meta")[-1]
        assert sent.path == f"/v21.0/{PAGE}/messages"
        assert sent.json == {"recipient": {"id": "PSID7"}, "messaging_type": "RESPONSE",
                             "message": {"text": "Hi! How can we help?"}}
        assert sent.headers["authorization"].startswith("Bearer EAA")
        mid = await _ref(db, out["id"])
        # Our own send echoed back: dropped. Delivery by mid, read by watermark.
        echo = messenger_event(PAGE, PAGE, mid, "Hi! How can we help?", is_echo=True)
        assert (await webhooks.meta(echo)).json()["ignored"] == 1
        ev = {"sender": {"id": "PSID7"}, "recipient": {"id": PAGE}, "timestamp": 1}
        await webhooks.meta({"object": "page", "entry": [{"id": PAGE, "messaging": [
            {**ev, "delivery": {"mids": [mid]}}]}]})
        await a.status(out["id"], "delivered")
        await webhooks.meta({"object": "page", "entry": [{"id": PAGE, "messaging": [
            {**ev, "read": {"watermark": 4102444800000}}]}]})  # 2100-01-01
        await a.status(out["id"], "read")

        ig = await a.inbound("instagram", lambda: webhooks.meta(
            instagram_event(IG, "IGSID9", "aWdfMSG9", "is my order shipped?")))
        out_ig = await a.reply(ig["conversation_id"], "It ships today.")
        await a.status(out_ig["id"], "sent")
        assert fake.sent_by("meta")[-1].json["recipient"] == {"id": "IGSID9"}
        await webhooks.meta({"object": "instagram", "entry": [{"id": IG, "messaging": [
            {"sender": {"id": "IGSID9"}, "recipient": {"id": IG},
             "read": {"mid": await _ref(db, out_ig["id"])}}]}]})
        await a.status(out_ig["id"], "read")
    await ws.close()
    assert await db.fetchval("SELECT count(*) FROM messages WHERE direction = 'in'") == 2


async def test_telegram_round_trip(hub: LiveHub, fake: FakeProviders, webhooks: Webhooks,
                                   worker: Any, db: asyncpg.Pool) -> None:
    ws, http = await _agent(hub)
    async with http:
        a = Agent(hub, ws, http)
        msg = await a.inbound("telegram", lambda: webhooks.telegram(
            "telegram", telegram_message(10001, 1111111, "/start")))
        assert msg["author"]["name"] == "Test Test Lastname"
        out = await a.reply(msg["conversation_id"], "Welcome! How can we help?")
        await a.status(out["id"], "sent")
        assert fake.sent_by("telegram")[-1].json == {"chat_id": "1111111",
                                                     "text": "Welcome! How can we help?"}
        # Telegram 429: retried after its retry_after, then sent once.
        fake.fail_next("telegram", 429, {"ok": False, "error_code": 429,
                                         "description": "Too Many Requests: retry after 1",
                                         "parameters": {"retry_after": 1}})
        out2 = await a.reply(msg["conversation_id"], "Are you still there?")
        await recv_until(ws, is_event("message.status", message_id=out2["id"], status="sent"),
                         timeout=20)
        # Long replies are refused up front with the channel's limit.
        r = await http.post(f"/api/v1/conversations/{msg['conversation_id']}/messages",
                            json={"text": "x" * 4097, "client_id": new_id()})
        assert r.status_code == 400 and "4096" in r.json()["reason"]
    await ws.close()
    assert await db.fetchval(
        "SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'sent'") == 2
