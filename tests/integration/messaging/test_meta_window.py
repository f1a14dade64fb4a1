"""Meta's Messenger/Instagram messaging window (hub/messaging/rules.py): the pure bands, then
against the fake Graph API over real HTTP: within 24 h a RESPONSE, 24 h - 7 d a
MESSAGE_TAG with HUMAN_AGENT (only where the account allows it), beyond that 409
``meta_window_closed`` with nothing stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from hub.messaging.rules import human_agent_enabled, meta_window
from tests.conftest import LiveHub
from tests.fixtures.fake_providers import FakeProviders, Webhooks, instagram_event, messenger_event
from tests.fixtures.helpers import agent_http, agent_ws, is_event, login, new_id, recv_until
from tests.fixtures.messaging import fake, fake_port, settings, webhooks, worker

__all__ = ["fake", "fake_port", "settings", "webhooks", "worker"]

PAGE, IG = "100000000000001", "17841400000000001"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("ago", "human", "want"), [
    (timedelta(minutes=1), True, ("RESPONSE", "")),
    (timedelta(hours=23, minutes=59), False, ("RESPONSE", "")),
    (timedelta(hours=24), True, ("MESSAGE_TAG", "HUMAN_AGENT")),
    (timedelta(days=6, hours=23), True, ("MESSAGE_TAG", "HUMAN_AGENT")),
    (timedelta(hours=24), False, None),
    (timedelta(days=7), True, None),
    (timedelta(days=30), True, None),
])
def test_bands(ago, human, want):
    w = meta_window("messenger", NOW - ago, NOW, human)
    if want is None:
        assert not w.open and w.reason and w.messaging_type == ""
    else:
        assert w.open and (w.messaging_type, w.tag) == want
        assert w.closes_at == NOW - ago + (timedelta(hours=24) if want[1] == "" else
                                           timedelta(days=7))


def test_never_wrote_is_closed_and_defaults_per_channel():
    assert not meta_window("instagram", None, NOW, True).open
    assert human_agent_enabled("messenger", None) is True
    assert human_agent_enabled("instagram", None) is False
    assert human_agent_enabled("instagram", True) is True
    assert human_agent_enabled("messenger", False) is False
    assert meta_window("messenger", NOW, NOW, True).attributes() == {
        "meta.messaging_type": "RESPONSE"}


async def _age(db: asyncpg.Pool, account: str, ago: str) -> None:
    await db.execute("UPDATE messages SET created_at = now() - $2::text::interval"
                     " WHERE direction = 'in' AND channel_account = $1", account, ago)


async def _reply(http: httpx.AsyncClient, conv: int, text: str) -> httpx.Response:
    return await http.post(f"/api/v1/conversations/{conv}/messages",
                           json={"text": text, "client_id": new_id()})


async def test_messenger_and_instagram_bands_against_the_fake_graph_api(
        hub: LiveHub, fake: FakeProviders, webhooks: Webhooks, worker: Any,
        db: asyncpg.Pool) -> None:
    cookie = await login(hub.base_url)
    ws = await agent_ws(hub.ws_url, hub.base_url, cookie)
    await recv_until(ws, lambda f: f.get("type") == "hello")
    async with agent_http(hub.base_url, cookie) as http:
        assert (await webhooks.meta(messenger_event(PAGE, "PSID7", "m_in_1", "hello"))
                ).status_code == 200
        ev = await recv_until(ws, is_event("message.created", inbox="messenger"))
        conv = ev["event"]["message"]["conversation_id"]

        async def sent_json(text: str) -> dict[str, Any]:
            r = await _reply(http, conv, text)
            assert r.status_code == 201, r.text
            out = r.json()["message"]
            await recv_until(ws, is_event("message.status", message_id=out["id"],
                                          status="sent"))
            body = fake.sent_by("meta")[-1].json
            assert body["message"] == {"text": text}
            return body

        # Within 24 h: a standard RESPONSE.
        await _age(db, "messenger", "2 hours")
        opts = (await http.get(f"/api/v1/conversations/{conv}/reply-options")).json()
        assert (opts["window_kind"], opts["window_open"], opts["meta_messaging_type"]) == (
            "meta", True, "RESPONSE")
        assert await sent_json("Within the day") == {
            "recipient": {"id": "PSID7"}, "messaging_type": "RESPONSE",
            "message": {"text": "Within the day"}}

        # 24 h - 7 d: a human agent's reply with the HUMAN_AGENT tag.
        await _age(db, "messenger", "30 hours")
        opts = (await http.get(f"/api/v1/conversations/{conv}/reply-options")).json()
        assert opts["window_open"] and opts["meta_messaging_type"] == "HUMAN_AGENT"
        assert "HUMAN_AGENT" in opts["window_reason"]
        assert await sent_json("Sorry for the wait") == {
            "recipient": {"id": "PSID7"}, "messaging_type": "MESSAGE_TAG",
            "tag": "HUMAN_AGENT", "message": {"text": "Sorry for the wait"}}
        attrs = await db.fetchval("SELECT attributes::text FROM messages"
                                  " WHERE text = 'Sorry for the wait'")
        assert '"meta.tag": "HUMAN_AGENT"' in attrs

        # Beyond 7 days: refused up front, nothing stored or sent.
        n_rows = await db.fetchval("SELECT count(*) FROM messages")
        n_sent = len(fake.sent_by("meta"))
        await _age(db, "messenger", "8 days")
        r = await _reply(http, conv, "Hello again?")
        assert r.status_code == 409 and r.json()["error"] == "meta_window_closed"
        assert "7 days" in r.json()["reason"]
        opts = (await http.get(f"/api/v1/conversations/{conv}/reply-options")).json()
        assert opts["window_open"] is False and "7 days" in opts["window_reason"]
        # An account without the human-agent tag stops at 24 h.
        await db.execute("UPDATE channel_accounts SET human_agent = false"
                         " WHERE inbox = 'messenger'")
        await _age(db, "messenger", "30 hours")
        r = await _reply(http, conv, "Hello again?")
        assert r.status_code == 409 and r.json()["error"] == "meta_window_closed"
        assert "HUMAN_AGENT" in r.json()["reason"]
        assert await db.fetchval("SELECT count(*) FROM messages") == n_rows
        assert len(fake.sent_by("meta")) == n_sent

        # Instagram: off by default (docs/channels.md), on when the account enables it.
        assert (await webhooks.meta(instagram_event(IG, "IGSID9", "aWdfMSG1", "hi"))
                ).status_code == 200
        ev = await recv_until(ws, is_event("message.created", inbox="instagram"))
        ig_conv = ev["event"]["message"]["conversation_id"]
        await _age(db, "instagram", "30 hours")
        r = await _reply(http, ig_conv, "Still here")
        assert r.status_code == 409 and r.json()["error"] == "meta_window_closed"
        await db.execute("UPDATE channel_accounts SET human_agent = true"
                         " WHERE inbox = 'instagram'")
        conv = ig_conv
        assert await sent_json("Still here") == {
            "recipient": {"id": "IGSID9"}, "messaging_type": "MESSAGE_TAG",
            "tag": "HUMAN_AGENT", "message": {"text": "Still here"}}
    await ws.close()
