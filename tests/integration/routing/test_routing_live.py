"""Routing end to end: ingest -> pipeline -> router (Redis atomic layer) -> journal ->
Postgres + events -> agents' sockets, and the REST commands. Real Postgres, Valkey,
HTTP and websockets; short configured timeouts; outcomes are polled, never timed."""

from __future__ import annotations

import pytest

from tests.fixtures.helpers import eventually
from tests.fixtures.routing_live import AgentClient, configure, doc, running_router, start_chat

pytestmark = pytest.mark.asyncio(loop_scope="session")

SUPPORT_SALES = [
    {"id": "support", "filter": 'queue == "support"', "strategy": "round_robin"},
    {"id": "sales", "filter": 'queue == "sales"'},
]


async def _holder(db, item_id):
    return await db.fetchrow(
        "SELECT wi.status, wi.agent_id, c.assignee_id, wi.queue FROM work_items wi"
        " JOIN conversations c ON c.id = wi.conversation_id WHERE wi.id = $1", item_id)


async def test_chat_is_offered_to_the_right_agent_only_and_accept_assigns(hub, db, redis):
    await configure(hub, db, redis, doc(hub, queues=SUPPORT_SALES,
                                        agents={"agent1": ["support"], "agent2": ["sales"]}))
    a1 = await AgentClient(hub, "agent1").connect()
    a2 = await AgentClient(hub, "agent2").connect()
    boss = await AgentClient(hub, "supervisor").connect()
    async with running_router(hub, db, redis):
        await start_chat(hub)
        offer = await a1.wait_event("workitem.offered", agent_id=a1.id)
        item = offer["work_item_id"]
        assert offer["queue"] == "support" and offer["channel"] == "chat"
        assert offer["expires_at"] > offer["offered_at"]
        assert offer["preview"] == "Hello, my internet is down"
        await boss.wait_event("workitem.offered", work_item_id=item)  # supervisors see it
        assert (await _holder(db, item))["status"] == "offered"

        resp = await a1.post(f"/api/v1/work-items/{item}/accept")
        assert resp.status_code == 200, resp.text
        row = await _holder(db, item)  # persisted before the answer
        assert (row["status"], row["agent_id"], row["assignee_id"]) == ("assigned", a1.id, a1.id)
        await a1.wait_event("workitem.offer_ended", work_item_id=item, outcome="accepted")
        accepted = await a1.wait_event("workitem.accepted", work_item_id=item)
        assert accepted["agent_id"] == a1.id and accepted["channel"] == "chat"
        await a1.wait_event("conversation.assigned", agent_id=a1.id)

        # agent2 (sales) received the assignment but never the offer: offers go to
        # their agent and supervisors only.
        await a2.wait_event("conversation.assigned", agent_id=a1.id)
        assert a2.seen("workitem.offered") == []
        assert a2.seen("workitem.offer_ended") == []

        # Accepting twice, or someone else's offer: 409 with a reason, nothing changes.
        again = await a1.post(f"/api/v1/work-items/{item}/accept")
        assert again.status_code == 409 and again.json()["error"] == "offer_gone"
        other = await a2.post(f"/api/v1/work-items/{item}/accept")
        assert other.status_code == 409
        assert (await _holder(db, item))["agent_id"] == a1.id
    for c in (a1, a2, boss):
        await c.close()


async def test_decline_and_timeout_go_to_the_next_agent(hub, db, redis):
    await configure(hub, db, redis, doc(
        hub, queues=SUPPORT_SALES, agents={"agent1": ["support"], "agent3": ["support"]},
        offers={"timeout_s": 1.5, "reoffer_cooldown_s": 60}))
    a1 = await AgentClient(hub, "agent1").connect()
    a3 = await AgentClient(hub, "agent3").connect()
    by_id = {a1.id: a1, a3.id: a3}
    async with running_router(hub, db, redis):
        await start_chat(hub)
        first = await eventually(lambda: _first_offer(db))
        item, first_agent = first
        declining = by_id[first_agent]
        await declining.wait_event("workitem.offered", work_item_id=item)
        resp = await declining.post(f"/api/v1/work-items/{item}/decline")
        assert resp.status_code == 200, resp.text
        await declining.wait_event("workitem.offer_ended", work_item_id=item,
                                   outcome="declined")
        other = a3 if declining is a1 else a1
        await other.wait_event("workitem.offered", work_item_id=item)
        # The next one lets it time out: the offer ends timed_out; the decliner is not
        # offered it again during the cool-down, so it waits.
        await other.wait_event("workitem.offer_ended", work_item_id=item, outcome="timed_out")
        statuses = await db.fetch(
            "SELECT agent_id, status FROM work_item_offers WHERE work_item_id = $1"
            " ORDER BY offered_at", item)
        assert [(r[0], r[1]) for r in statuses] == [(declining.id, "declined"),
                                                     (other.id, "timed_out")]
        await eventually(lambda: _status_is(db, item, "queued"))
    await a1.close()
    await a3.close()


async def test_timeout_offers_the_next_agent(hub, db, redis):
    await configure(hub, db, redis, doc(
        hub, queues=SUPPORT_SALES, agents={"agent1": ["support"], "agent3": ["support"]},
        offers={"timeout_s": 1.0, "reoffer_cooldown_s": 60}))
    a1 = await AgentClient(hub, "agent1").connect()
    a3 = await AgentClient(hub, "agent3").connect()
    by_id = {a1.id: a1, a3.id: a3}
    async with running_router(hub, db, redis):
        await start_chat(hub)
        item, first_agent = await eventually(lambda: _first_offer(db))
        first = by_id[first_agent]
        other = a3 if first is a1 else a1
        await first.wait_event("workitem.offer_ended", work_item_id=item, outcome="timed_out")
        offer = await other.wait_event("workitem.offered", work_item_id=item)
        assert offer["agent_id"] == other.id
        resp = await other.post(f"/api/v1/work-items/{item}/accept")
        assert resp.status_code == 200, resp.text
        # The timed-out agent cannot take it any more.
        late = await first.post(f"/api/v1/work-items/{item}/accept")
        assert late.status_code == 409
    await a1.close()
    await a3.close()


async def test_broadcast_first_accept_wins_and_the_others_are_rescinded(hub, db, redis):
    await configure(hub, db, redis, doc(
        hub, queues=SUPPORT_SALES,
        agents={"agent1": ["support"], "agent2": ["support"], "agent3": ["support"]},
        offers={"timeout_s": 30, "mode": "broadcast", "broadcast_size": 3}))
    agents = [await AgentClient(hub, n).connect() for n in ("agent1", "agent2", "agent3")]
    async with running_router(hub, db, redis, count=2):  # two router processes
        await start_chat(hub)
        offers = [await a.wait_event("workitem.offered") for a in agents]
        item = offers[0]["work_item_id"]
        assert {o["work_item_id"] for o in offers} == {item}
        winner, *losers = agents
        resp = await winner.post(f"/api/v1/work-items/{item}/accept")
        assert resp.status_code == 200, resp.text
        assert sorted(e["outcome"] for e in resp.json()["ended"]) == [
            "accepted", "rescinded", "rescinded"]
        for loser in losers:
            await loser.wait_event("workitem.offer_ended", work_item_id=item,
                                   outcome="rescinded")
            late = await loser.post(f"/api/v1/work-items/{item}/accept")
            assert late.status_code == 409
        row = await _holder(db, item)
        assert (row["agent_id"], row["assignee_id"]) == (winner.id, winner.id)
        pending = await db.fetchval(
            "SELECT count(*) FROM work_item_offers WHERE work_item_id = $1"
            " AND status = 'pending'", item)
        assert pending == 0
    for a in agents:
        await a.close()


async def _first_offer(db):
    r = await db.fetchrow("SELECT work_item_id, agent_id FROM work_item_offers"
                          " ORDER BY offered_at LIMIT 1")
    return (r[0], r[1]) if r else None


async def _status_is(db, item, status):
    return await db.fetchval("SELECT status FROM work_items WHERE id = $1", item) == status


async def test_offers_are_answered_over_the_agent_socket(hub, db, redis):
    """The socket's ``accept`` / ``decline`` frames: same checks as REST, an ``ack`` or an
    ``error`` frame naming the work item; a malformed frame changes nothing."""
    import json

    await configure(hub, db, redis, doc(hub, queues=SUPPORT_SALES,
                                        agents={"agent1": ["support"], "agent3": ["support"]}))
    a1 = await AgentClient(hub, "agent1").connect()
    a3 = await AgentClient(hub, "agent3").connect()

    async def frame(client, body, kind):
        await client.ws.send(json.dumps(body))
        while True:
            f = json.loads(await client.ws.recv())
            client.frames.append(f)
            if f.get("type") == kind:
                return f

    async with running_router(hub, db, redis):
        await start_chat(hub)
        offer = await eventually(lambda: _offer_to_any(a1, a3))
        who, other = (a1, a3) if offer["agent_id"] == a1.id else (a3, a1)
        item = offer["work_item_id"]
        bad = await frame(who, {"type": "accept", "work_item_id": "x"}, "error")
        assert bad["code"] == "bad_frame" and "work_item_id" in bad["reason"]
        theirs = await frame(other, {"type": "accept", "work_item_id": item}, "error")
        assert (theirs["work_item_id"], theirs["code"]) == (item, "offer_gone")
        assert (await _holder(db, item))["status"] == "offered"
        # Decline: the item goes to the other agent, who accepts over the socket too.
        ack = await frame(who, {"type": "decline", "work_item_id": item}, "ack")
        assert (ack["work_item_id"], ack["outcome"]) == (item, "declined")
        await other.wait_event("workitem.offered", work_item_id=item, agent_id=other.id)
        ack = await frame(other, {"type": "accept", "work_item_id": item}, "ack")
        assert ack["outcome"] == "accepted"
        row = await _holder(db, item)
        assert (row["status"], row["agent_id"]) == ("assigned", other.id)
        await other.wait_event("workitem.accepted", work_item_id=item)
    for c in (a1, a3):
        await c.close()


async def _offer_to_any(*clients):
    for c in clients:
        try:
            return await c.wait_event("workitem.offered", timeout=0.5)
        except TimeoutError:
            continue
    return None
