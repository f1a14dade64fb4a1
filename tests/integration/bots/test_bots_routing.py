"""The bot/router contract with the real router loop: an item held by a bot (status
'bot') is never offered to humans; after the bot hands off, the router offers it in the
target queue, and the agent sees the transcript and the reason."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.bots import bot_ws, make_bot
from tests.fixtures.helpers import eventually, new_id, recv_until
from tests.fixtures.routing_live import AgentClient, configure, doc, running_router, start_chat

pytestmark = pytest.mark.asyncio(loop_scope="session")

QUEUES = [
    {"id": "support", "filter": 'queue == "support"', "strategy": "round_robin"},
    {"id": "sales", "filter": 'queue == "sales"'},
]


async def test_router_leaves_bot_items_alone_until_hand_off(hub, db, redis):
    await configure(hub, db, redis, doc(hub, queues=QUEUES,
                                        agents={"agent1": ["support", "sales"]}))
    _, token, _ = await make_bot(hub, "Gatekeeper", "support")
    bot = await bot_ws(hub, token)
    await recv_until(bot, lambda f: f["type"] == "hello")
    a1 = await AgentClient(hub, "agent1").connect()
    async with running_router(hub, db, redis) as (router,):
        widget = await start_chat(hub, "is anyone there?")
        got = await recv_until(bot, lambda f: f.get("type") == "event"
                               and f["event"]["type"] == "message.created")
        conv = got["event"]["message"]["conversation_id"]
        # Let the router run full resyncs over the held item: it must not route it.
        start = router.turns
        await eventually(lambda: _after(router, start + 8))
        item = await db.fetchrow("SELECT id, status, queue FROM work_items"
                                 " WHERE conversation_id = $1", conv)
        assert item["status"] == "bot"
        assert a1.seen("workitem.offered") == []
        await bot.send(json.dumps({"type": "reply", "conversation_id": conv,
                                   "client_id": new_id(), "text": "Let me get a human."}))
        await recv_until(bot, lambda f: f["type"] == "ack")
        await bot.send(json.dumps({"type": "handoff", "conversation_id": conv,
                                   "queue": "sales", "reason": "wants to upgrade"}))
        done = await recv_until(bot, lambda f: f["type"] in ("handed_off", "error"))
        assert done == {"type": "handed_off", "conversation_id": conv, "queue": "sales",
                        "work_item_id": item["id"]}
        offer = await a1.wait_event("workitem.offered", work_item_id=item["id"])
        assert offer["queue"] == "sales"
        resp = await a1.post(f"/api/v1/work-items/{item['id']}/accept")
        assert resp.status_code == 200, resp.text
        thread = (await a1.get(f"/api/v1/conversations/{conv}")).json()["messages"]
        assert [m["author"]["kind"] for m in thread] == ["contact", "bot", "system"]
        assert thread[2]["text"] == "Gatekeeper handed off to sales: wants to upgrade"
        await widget.close()
    await bot.close()
    await a1.close()


async def _after(router, turns: int) -> bool:
    return router.turns >= turns
