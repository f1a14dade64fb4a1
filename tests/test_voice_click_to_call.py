"""Click-to-call in the demo: a widget's ``en-US`` callback is offered to an ``en``
agent (BCP 47 fallback, hub/languages.py). Real Postgres, Valkey, HTTP, websockets."""

from __future__ import annotations

import pytest

from tests.helpers import agent_http, login, new_id
from tests.routing_live import AgentClient, configure, ids, running_router
from tests.test_voice_callbacks import ask_callback, stored_callback

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_widget_callback_in_en_us_is_offered_to_an_en_agent(hub, db, redis):
    who = ids(hub)
    await configure(hub, db, redis, {
        "offers": {"timeout_s": 30, "reoffer_cooldown_s": 0.5},
        "presence": {"heartbeat_timeout_s": 60, "away_grace_s": 0.5, "offline_after_s": 600},
        "queues": [{"id": "support", "filter": "true", "strategy": "round_robin"}],
        "agents": [{"id": who["agent1"], "queues": ["support"], "languages": ["en", "de"]},
                   {"id": who["agent2"], "queues": ["support"], "languages": ["fr"]}],
    })
    a1 = await AgentClient(hub, "agent1").connect()
    a2 = await AgentClient(hub, "agent2").connect()
    try:
        async with running_router(hub, db, redis):
            rid = new_id()
            resp = await ask_callback(hub, request_id=rid, language="en-US")
            assert resp.status_code == 202, resp.text
            cb = await stored_callback(db, rid)
            offer = await a1.wait_event("workitem.offered", work_item_id=cb["work_item_id"])
            assert offer["agent_id"] == a1.id and offer["channel"] == "voice"
            assert a2.seen("workitem.offered", work_item_id=cb["work_item_id"]) == []
    finally:
        await a1.close()
        await a2.close()


async def test_phone_conversation_offers_no_reply_channel_but_takes_notes(hub, db):
    rid = new_id()
    await ask_callback(hub, request_id=rid)
    cb = await stored_callback(db, rid)
    conv = cb["conversation_id"]
    async with agent_http(hub.base_url, await login(hub.base_url)) as agent:
        opts = (await agent.get(f"/api/v1/conversations/{conv}/reply-options")).json()
        assert opts["routes"] == [] and opts["can_reply"] is False
        assert opts["channel"] is None and opts["window_open"] is False
        assert "phone" in opts["window_reason"].lower()
        before = await db.fetchval("SELECT count(*) FROM messages WHERE conversation_id = $1",
                                   conv)
        resp = await agent.post(f"/api/v1/conversations/{conv}/messages",
                                json={"text": "Hello", "client_id": new_id()})
        assert resp.status_code == 400 and resp.json()["error"] == "no_reply_channel"
        assert await db.fetchval("SELECT count(*) FROM messages WHERE conversation_id = $1",
                                 conv) == before
        note = await agent.post(f"/api/v1/conversations/{conv}/messages",
                                json={"text": "Called, no answer", "private": True,
                                      "client_id": new_id()})
        assert note.status_code in (200, 201), note.text
