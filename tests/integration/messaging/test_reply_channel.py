"""The reply channel of a joined conversation (hub/conversations/rules.py): the pure choice,
then end to end in a 'join' queue: a verified widget chat, then an SMS from the same
customer's phone, land in one conversation; the agent's reply goes out as an SMS to the
fake Twilio over real HTTP; an override back to the widget reaches the widget socket; an
invalid ``via`` is refused and stores nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import asyncpg
import pytest
from websockets.asyncio.client import connect

from hub.conversations.rules import InboundUse, ReplyRoute, choose_reply_route, reply_routes
from hub.errors import BadInput
from tests.conftest import LiveHub
from tests.fixtures.fake_providers import FakeProviders, Webhooks
from tests.fixtures.helpers import agent_http, agent_ws, is_event, login, new_id, recv_until
from tests.fixtures.messaging import fake, fake_port, settings, webhooks, worker

__all__ = ["fake", "fake_port", "settings", "webhooks", "worker"]

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def use(channel: str, account: str, minutes: int) -> InboundUse:
    return InboundUse(channel, account, T0 + timedelta(minutes=minutes))


# ---- pure ----------------------------------------------------------------------------


def test_a_conversation_that_never_joined_replies_on_its_own_channel():
    assert choose_reply_route("sms", "twilio-sms", [use("sms", "twilio-sms", 0)]) == \
        ReplyRoute("sms", "twilio-sms")
    # No inbound at all (e.g. an agent-started conversation): its own account.
    assert choose_reply_route("email", "mail", []) == ReplyRoute("email", "mail")
    assert reply_routes("email", "mail", []) == [ReplyRoute("email", "mail")]


def test_the_customers_last_channel_wins_and_every_used_one_can_be_picked():
    uses = [use("chat", "web", 0), use("sms", "twilio-sms", 5), use("chat", "web", 1)]
    assert reply_routes("chat", "web", uses) == [ReplyRoute("sms", "twilio-sms"),
                                                 ReplyRoute("chat", "web")]
    assert choose_reply_route("chat", "web", uses) == ReplyRoute("sms", "twilio-sms")
    assert choose_reply_route("chat", "web", uses, "web") == ReplyRoute("chat", "web")
    # The customer went back to the chat: the chat is the default again.
    later = [*uses, use("chat", "web", 9)]
    assert choose_reply_route("chat", "web", later) == ReplyRoute("chat", "web")


def test_via_must_be_an_account_the_customer_used_here():
    uses = [use("chat", "web", 0), use("sms", "twilio-sms", 5)]
    for bad in ("whatsapp", "", "mail", "x" * 500):
        with pytest.raises(BadInput) as exc:
            choose_reply_route("chat", "web", uses, bad)
        assert "twilio-sms, web" in exc.value.reason and len(exc.value.reason) < 300


def test_threads_and_calls_are_not_offered_as_alternatives():
    uses = [use("chat", "web", 0), use("email", "mail", 5), use("voice", "phone", 6)]
    assert reply_routes("chat", "web", uses) == [ReplyRoute("chat", "web")]
    # ... but an email conversation still answers by email.
    assert reply_routes("email", "mail", [use("email", "mail", 1)]) == [
        ReplyRoute("email", "mail")]


# ---- end to end ----------------------------------------------------------------------


async def _messages(db: asyncpg.Pool, conv: int) -> list[tuple[str, str, str, str]]:
    rows = await db.fetch("SELECT direction, channel, channel_account, text FROM messages"
                          " WHERE conversation_id = $1 ORDER BY id", conv)
    return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_join_queue_reply_follows_the_customer_to_sms_and_back_to_the_widget(
        hub: LiveHub, fake: FakeProviders, webhooks: Webhooks, worker: Any,
        db: asyncpg.Pool) -> None:
    await db.execute("UPDATE queues SET cross_channel = 'join' WHERE slug = 'support'")
    anna = await db.fetchrow("SELECT id, email, phone FROM contacts ORDER BY id LIMIT 1")
    user_hash = hmac.new(hub.seed["identity_secret"].encode(), anna["email"].encode(),
                         hashlib.sha256).hexdigest()
    cookie = await login(hub.base_url)
    agent = await agent_ws(hub.ws_url, hub.base_url, cookie)
    await recv_until(agent, lambda f: f.get("type") == "hello")
    widget = await connect(f"{hub.ws_url}/ws/widget?inbox=web&email={quote(anna['email'])}"
                           f"&hash={user_hash}", origin="https://shop.example")
    async with agent_http(hub.base_url, cookie) as http:
        await recv_until(widget, lambda f: f["type"] == "hello")
        await widget.send(json.dumps({"type": "message", "client_id": new_id(),
                                      "text": "chat: my router blinks"}))
        chat = await recv_until(agent, is_event("message.created", message__channel="chat"))
        conv = chat["event"]["message"]["conversation_id"]
        r = await webhooks.twilio("twilio-sms", webhooks.twilio_inbound(
            "twilio-sms", anna["phone"], "sms: still blinking, left the house"))
        assert r.status_code == 200
        sms = await recv_until(agent, is_event("message.created", message__channel="sms"))
        assert sms["event"]["message"]["conversation_id"] == conv  # joined

        opts = (await http.get(f"/api/v1/conversations/{conv}/reply-options")).json()
        assert opts["via"] == opts["default_via"] == "twilio-sms" and opts["channel"] == "sms"
        assert [(o["via"], o["channel"], o["label"]) for o in opts["routes"]] == [
            ("twilio-sms", "sms", f"SMS ({anna['phone']})"), ("web", "chat", "Web chat")]

        # Default: the SMS the customer sent last.
        r = await http.post(f"/api/v1/conversations/{conv}/messages",
                            json={"text": "We reset the line, try now.", "client_id": new_id()})
        assert r.status_code == 201, r.text
        out = r.json()["message"]
        assert (out["channel"], out["status"]) == ("sms", "queued")
        await recv_until(agent, is_event("message.status", message_id=out["id"],
                                         status="sent"))
        [sent] = fake.sent_by("twilio")
        assert sent.form["To"] == anna["phone"] and sent.form["From"] == "+15555550199"
        assert sent.form["Body"] == "We reset the line, try now."

        # Override back to the widget: stored as chat, live on the widget socket, never
        # sent to a provider.
        r = await http.post(f"/api/v1/conversations/{conv}/messages", json={
            "text": "Or here in the chat.", "client_id": new_id(), "via": "web"})
        assert r.status_code == 201, r.text
        assert (r.json()["message"]["channel"], r.json()["message"]["status"]) == (
            "chat", "sent")
        got = await recv_until(widget, is_event("message.created", message__direction="out",
                                                message__text="Or here in the chat."))
        assert got["event"]["message"]["channel"] == "chat"

        # The socket path takes the same `via`.
        cid = new_id()
        await agent.send(json.dumps({"type": "reply", "conversation_id": conv,
                                     "client_id": cid, "text": "socket, via web",
                                     "via": "web"}))
        ack = await recv_until(agent, lambda f: f.get("type") in ("ack", "error")
                               and f.get("client_id") == cid)
        assert ack["type"] == "ack"

        before = await _messages(db, conv)
        for bad in ("whatsapp", "telegram", "nope"):
            r = await http.post(f"/api/v1/conversations/{conv}/messages", json={
                "text": "lost?", "client_id": new_id(), "via": bad})
            assert r.status_code == 400, r.text
            assert r.json()["error"] == "bad_input" and "twilio-sms, web" in r.json()["reason"]
        cid = new_id()
        await agent.send(json.dumps({"type": "reply", "conversation_id": conv,
                                     "client_id": cid, "text": "lost?", "via": "nope"}))
        err = await recv_until(agent, lambda f: f.get("type") in ("ack", "error")
                               and f.get("client_id") == cid)
        assert err["type"] == "error" and err["code"] == "bad_input"
        r = await http.get(f"/api/v1/conversations/{conv}/reply-options?via=nope")
        assert r.status_code == 400
        assert await _messages(db, conv) == before
        assert len(fake.sent_by("twilio")) == 1

        # Retrying the SMS reply with the same client_id after the customer moved back to
        # the chat is still the one stored reply.
        cid = new_id()
        r1 = await http.post(f"/api/v1/conversations/{conv}/messages",
                             json={"text": "one", "client_id": cid})
        await widget.send(json.dumps({"type": "message", "client_id": new_id(),
                                      "text": "chat: back at my desk"}))
        await recv_until(agent, is_event("message.created", message__text="chat: back at my desk"))
        r2 = await http.post(f"/api/v1/conversations/{conv}/messages",
                             json={"text": "one", "client_id": cid})
        assert r2.status_code == 200 and r2.json()["message"]["id"] == r1.json()["message"]["id"]
        # ... and a new reply now defaults to the chat.
        opts = (await http.get(f"/api/v1/conversations/{conv}/reply-options")).json()
        assert opts["default_via"] == "web"
    await widget.close()
    await agent.close()
    rows = await _messages(db, conv)
    assert ("out", "sms", "twilio-sms", "We reset the line, try now.") in rows
    assert ("out", "chat", "web", "Or here in the chat.") in rows
    assert await db.fetchval("SELECT count(*) FROM conversations WHERE contact_id = $1",
                             anna["id"]) == 1


def test_a_phone_conversation_offers_no_phone_reply_channel():
    # Only calls: nothing can carry a written reply.
    assert reply_routes("voice", "phone", [use("voice", "phone", 0)]) == []
    try:
        choose_reply_route("voice", "phone", [use("voice", "phone", 0)])
        raise AssertionError("a phone reply channel was chosen")
    except BadInput as exc:
        assert exc.code == "no_reply_channel"
    # The caller also texted: the SMS is offered, the call never is.
    uses = [use("voice", "phone", 0), use("sms", "twilio-sms", 1)]
    assert reply_routes("voice", "phone", uses) == [ReplyRoute("sms", "twilio-sms")]
