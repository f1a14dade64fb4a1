"""Click-to-call in the demo: a widget's ``en-US`` callback is offered to an ``en``
agent (BCP 47 fallback, hub/languages.py). Real Postgres, Valkey, HTTP, websockets."""

from __future__ import annotations

import pytest

from tests.helpers import new_id
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
