"""Routing end to end, continued: escalation, after hours, presence via real sockets,
supervisor moves, the admin config API, role checks, the bot contract, queue stats."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.helpers import eventually, recv_until
from tests.fixtures.routing_live import AgentClient, configure, doc, ids, running_router, start_chat

pytestmark = pytest.mark.asyncio(loop_scope="session")

CLOSED = {"tz": "Europe/Berlin", "weekly": {}}  # no periods: closed all week


async def _item_of_latest_chat(db):
    return await db.fetchval("SELECT max(id) FROM work_items")


async def test_escalation_moves_to_the_next_step_after_its_timeout(hub, db, redis):
    await configure(hub, db, redis, doc(hub, queues=[
        {"id": "support", "filter": 'queue == "support"',
         "escalation": [{"queues": ["support"], "timeout_s": 1},
                        {"queues": ["support", "sales"], "priority_boost": 1}]},
        {"id": "sales"},
    ], agents={"agent1": ["support"], "agent2": ["sales"]}))
    a2 = await AgentClient(hub, "agent2").connect()  # only the sales agent is online
    boss = await AgentClient(hub, "supervisor").connect()
    async with running_router(hub, db, redis):
        await start_chat(hub)
        escalated = await boss.wait_event("workitem.escalated")
        assert (escalated["queue"], escalated["step"]) == ("support", 1)
        assert escalated["queues"] == ["support", "sales"]
        offer = await a2.wait_event("workitem.offered", agent_id=a2.id)
        assert offer["work_item_id"] == escalated["work_item_id"]
        assert offer["queue"] == "support"  # still the item's queue; drawn from sales' pool
        item = offer["work_item_id"]
        assert await db.fetchval("SELECT step FROM work_items WHERE id = $1", item) == 1
    await a2.close()
    await boss.close()


async def test_after_hours_auto_reply_keeps_it_queued_and_overflow_moves_it(hub, db, redis):
    await configure(hub, db, redis, doc(hub, queues=[
        {"id": "support", "filter": 'queue == "support"',
         "hours": {**CLOSED, "after_hours": {"action": "auto_reply",
                                             "message": "We are closed; back at 9."}}},
        {"id": "sales", "filter": 'queue == "sales"',
         "hours": {**CLOSED, "after_hours": {"action": "overflow", "queue": "night"}}},
        {"id": "night"},
    ], agents={"agent1": ["support"], "agent2": ["night"]}))
    a1 = await AgentClient(hub, "agent1").connect()
    a2 = await AgentClient(hub, "agent2").connect()
    async with running_router(hub, db, redis):
        widget = await start_chat(hub)
        reply = await recv_until(widget, lambda f: f.get("type") == "event"
                                 and f["event"]["type"] == "message.created"
                                 and f["event"]["message"]["author"]["kind"] == "system")
        assert reply["event"]["message"]["text"] == "We are closed; back at 9."
        item = await _item_of_latest_chat(db)
        # Closed queue: the online support agent gets nothing; it waits.
        assert await db.fetchval("SELECT status FROM work_items WHERE id = $1", item) == "queued"
        assert a1.seen("workitem.offered") == []
        # One auto-reply per item, however many turns run.
        count = await db.fetchval("SELECT count(*) FROM messages WHERE author_kind = 'system'"
                                  " AND conversation_id = (SELECT conversation_id FROM"
                                  " work_items WHERE id = $1)", item)
        assert count == 1

        # The API inbox defaults to sales, closed with overflow to the night queue.
        from tests.fixtures.helpers import api_post
        resp = await api_post(hub.base_url, hub.seed["api_token"],
                              {"source_id": "night-owl", "text": "Still open?"})
        assert resp.status_code == 202
        moved = await a2.wait_event("workitem.transferred", to_queue="night")
        assert moved["from_queue"] == "sales" and moved["reason"] == "after_hours"
        offer = await a2.wait_event("workitem.offered", agent_id=a2.id)
        assert offer["work_item_id"] == moved["work_item_id"] and offer["queue"] == "night"
    await a1.close()
    await a2.close()


async def test_presence_from_real_sockets(hub, db, redis):
    await configure(hub, db, redis, doc(hub, queues=[{"id": "support"}],
                                        agents={"agent1": ["support"]},
                                        presence={"heartbeat_timeout_s": 60,
                                                  "away_grace_s": 0.5,
                                                  "offline_after_s": 600}))
    boss = await AgentClient(hub, "supervisor").connect()
    async with running_router(hub, db, redis):
        a1 = await AgentClient(hub, "agent1").connect()
        await boss.wait_event("agent.presence", agent_id=a1.id, presence="online")
        # The agent chooses busy, then available again.
        resp = await a1.put("/api/v1/routing/presence", {"status": "busy"})
        assert resp.status_code == 200
        await boss.wait_event("agent.presence", agent_id=a1.id, presence="busy")
        bad = await a1.put("/api/v1/routing/presence", {"status": "sleeping"})
        assert bad.status_code == 400 and "status" in bad.json()["reason"]
        await a1.put("/api/v1/routing/presence", {"status": "available"})
        await boss.wait_new("agent.presence", agent_id=a1.id, presence="online")
        # Disconnect: nothing changes during the grace period, then auto-away.
        before = len(boss.seen("agent.presence", agent_id=a1.id))
        await a1.close()
        await boss.wait_event("agent.presence", agent_id=a1.id, presence="away")
        assert len(boss.seen("agent.presence", agent_id=a1.id)) == before + 1
        # A reconnect brings him back online.
        a1 = await AgentClient(hub, "agent1").connect()
        await boss.wait_new("agent.presence", agent_id=a1.id, presence="online")
        mine = await a1.get("/api/v1/routing/presence")
        assert mine.json()["agents"] == [{"agent_id": a1.id, "presence": "online",
                                          "status": "available"}]
        await a1.close()
    await boss.close()


async def test_supervisor_reassign_and_transfer_and_agents_cannot(hub, db, redis):
    await configure(hub, db, redis, doc(hub, queues=[
        {"id": "support", "filter": 'queue == "support"'}, {"id": "sales"}],
        agents={"agent1": ["support"], "agent3": ["support"], "agent2": ["sales"]}))
    a1 = await AgentClient(hub, "agent1").connect()
    boss = await AgentClient(hub, "supervisor").connect()
    async with running_router(hub, db, redis):
        await start_chat(hub)
        offer = await a1.wait_event("workitem.offered", agent_id=a1.id)
        item = offer["work_item_id"]
        assert (await a1.post(f"/api/v1/work-items/{item}/accept")).status_code == 200

        # Agents cannot reassign, see everyone's offers or change the config.
        a3 = await AgentClient(hub, "agent3").connect()
        a2_id = ids(hub)["agent2"]
        denied = await a1.post(f"/api/v1/work-items/{item}/reassign", {"agent_id": a3.id})
        assert denied.status_code == 403
        assert (await a1.get("/api/v1/routing/offers?all=1")).status_code == 403
        assert (await a1.put("/api/v1/routing/config", "version: 99\nqueues: []",
                             "application/yaml")).status_code == 403
        bad = await boss.post(f"/api/v1/work-items/{item}/reassign", {"agent": 1})
        assert bad.status_code == 400

        # The board shows supervisors who holds what (and whom to hand it to); agents don't.
        mine = (await a1.get("/api/v1/routing/queues")).json()
        assert "active" not in mine and "agents" not in mine
        boss_board = (await boss.get("/api/v1/routing/queues")).json()
        held = [x for x in boss_board["active"] if x["work_item_id"] == item]
        assert [(x["agent_id"], x["status"], x["queue"]) for x in held] == [
            (a1.id, "assigned", "support")]
        assert held[0]["conversation_id"] is not None
        assert {a["agent_id"] for a in boss_board["agents"]} == {a1.id, a2_id, a3.id}
        assert boss_board["queue_names"] == ["support", "sales"]
        moved = await boss.post(f"/api/v1/work-items/{item}/reassign", {"agent_id": a3.id})
        assert moved.status_code == 200, moved.text
        event = await boss.wait_event("workitem.reassigned", work_item_id=item)
        assert (event["from_agent_id"], event["to_agent_id"], event["by_agent_id"]) == (
            a1.id, a3.id, boss.id)
        row = await db.fetchrow("SELECT wi.agent_id, c.assignee_id FROM work_items wi JOIN"
                                " conversations c ON c.id = wi.conversation_id WHERE wi.id = $1",
                                item)
        assert (row[0], row[1]) == (a3.id, a3.id)

        # Transfer to the sales queue: unassigned, routed again, offered to agent2.
        a2 = await AgentClient(hub, "agent2").connect()
        unknown = await boss.post(f"/api/v1/work-items/{item}/transfer", {"queue": "nope"})
        assert unknown.status_code == 404 and unknown.json()["error"] == "queue_unknown"
        sent = await boss.post(f"/api/v1/work-items/{item}/transfer", {"queue": "sales"})
        assert sent.status_code == 200, sent.text
        await boss.wait_event("workitem.transferred", work_item_id=item, to_queue="sales")
        offer2 = await a2.wait_event("workitem.offered", work_item_id=item)
        assert offer2["queue"] == "sales"
        assert await db.fetchval("SELECT c.assignee_id FROM work_items wi JOIN conversations c"
                                 " ON c.id = wi.conversation_id WHERE wi.id = $1", item) is None
        # Transfer to an agent (supervisor): straight to agent1.
        direct = await boss.post(f"/api/v1/work-items/{item}/transfer", {"agent_id": a1.id})
        assert direct.status_code == 200, direct.text
        await a2.wait_event("workitem.offer_ended", work_item_id=item, outcome="rescinded")
        # The holder completes; the item is done.
        done = await a1.post(f"/api/v1/work-items/{item}/complete")
        assert done.status_code == 200, done.text
        await eventually(lambda: _status(db, item, "completed"))
        await a2.close()
        await a3.close()
    await a1.close()
    await boss.close()


async def _status(db, item, status):
    return await db.fetchval("SELECT status FROM work_items WHERE id = $1", item) == status


async def test_bad_config_via_rest_is_rejected_with_its_path_and_not_applied(hub, db, redis):
    admin = await AgentClient(hub, "admin").connect()
    current = (await admin.get("/api/v1/routing/config")).json()
    version = current["version"]
    bad = (f"version: {version + 1}\n"
           "queues:\n  - id: support\n  - id: sales\n"
           "    escalation:\n      - {queues: [sales], timeout_s: -5}\n")
    resp = await admin.put("/api/v1/routing/config", bad, "application/yaml")
    assert resp.status_code == 422
    body = resp.json()
    assert body["path"] == "queues[1].escalation[0].timeout_s"
    assert body["reason"].startswith("queues[1].escalation[0].timeout_s: must be > 0")
    stale = await admin.put("/api/v1/routing/config", current["yaml"], "application/yaml")
    assert stale.status_code == 422 and stale.json()["path"] == "version"
    after = (await admin.get("/api/v1/routing/config")).json()
    assert after["version"] == version and after["yaml"] == current["yaml"]
    wrong_type = await admin.put("/api/v1/routing/config", "x", "image/png")
    assert wrong_type.status_code == 415

    good = current["yaml"].replace(f"version: {version}", f"version: {version + 1}", 1)
    ok = await admin.put("/api/v1/routing/config", good, "application/yaml")
    assert ok.status_code == 201, ok.text
    versions = (await admin.get("/api/v1/routing/config/versions")).json()["versions"]
    assert [v["version"] for v in versions][:2] == [version + 1, version]

    # Agent profiles through the admin API: a new version; bad levels name the field.
    agent1 = hub.seed["agents"]["agent1@demo.omnihub.test"]
    resp = await admin.put(f"/api/v1/routing/agents/{agent1}",
                           {"skills": {"billing": 99}})
    assert resp.status_code == 422 and resp.json()["path"].startswith("profile.skills")
    resp = await admin.put(f"/api/v1/routing/agents/{agent1}",
                           {"skills": {"billing": 7}, "languages": ["de"], "capacity": 80})
    assert resp.status_code == 200, resp.text
    profile = (await admin.get(f"/api/v1/routing/agents/{agent1}")).json()
    assert profile["profile"]["skills"] == {"billing": 7} and profile["version"] == version + 2
    assert (await admin.put("/api/v1/routing/agents/999999", {"skills": {}})).status_code == 404
    await admin.close()


async def test_bot_items_are_not_routed_until_handed_back(hub, db, redis):
    await configure(hub, db, redis, doc(hub, queues=[{"id": "support"}],
                                        agents={"agent1": ["support"]}))
    async with running_router(hub, db, redis):
        await start_chat(hub)
        item = await eventually(lambda: _item_of_latest_chat(db))
        # A bot takes it before any agent is online.
        await db.execute("UPDATE work_items SET status = 'bot' WHERE id = $1", item)
        a1 = await AgentClient(hub, "agent1").connect()
        await eventually(lambda: _not_routed(redis, hub.settings, item))
        boss = await AgentClient(hub, "supervisor").connect()
        await boss.wait_event("queue.stats", queue="support", depth=0)
        assert a1.seen("workitem.offered") == []
        # Hand-off: back to 'queued' in a human queue; routed normally.
        await db.execute("UPDATE work_items SET status = 'queued' WHERE id = $1", item)
        offer = await a1.wait_event("workitem.offered", work_item_id=item)
        assert offer["agent_id"] == a1.id
        stats = await boss.wait_event("queue.stats", queue="support", offered=1)
        assert stats["depth"] == 1 and stats["agents_online"] == 1
        assert a1.seen("queue.stats") == []  # the board is for supervisors
        await a1.close()
        await boss.close()


async def _not_routed(redis, settings, item):
    from hub.routing.store import load_state

    return item not in (await load_state(redis, settings)).items


async def test_socket_frames_are_not_affected_by_routing_errors(hub, db, redis):
    """A malformed command never changes anything: 404 for an unknown item."""
    a1 = await AgentClient(hub, "agent1").connect()
    resp = await a1.post("/api/v1/work-items/424242/accept")
    assert resp.status_code == 404 and resp.json()["error"] == "item_gone"
    resp = await a1.post("/api/v1/work-items/424242/transfer", {"queue": "x", "agent_id": 1})
    assert resp.status_code == 400
    assert a1.ws is not None
    await a1.ws.send(json.dumps({"type": "ping"}))
    await a1.close()
