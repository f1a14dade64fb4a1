"""The wallboard snapshot (GET /api/v1/board) and its supervisor presence action, against
a live hub, real Postgres rows and Redis: today's counters from seeded work items, the
live figures from the router, who may read it, and bad input (docs/board.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fixtures.helpers import AGENT, SUPERVISOR, agent_http, eventually, login
from tests.fixtures.routing_live import AgentClient, configure, doc, ids, running_router, start_chat

SUPPORT_ONLY = {"queues": [{"id": "support"}, {"id": "sales"}],
                "agents": {"agent1": ["support"], "agent2": ["sales"]}}


async def _conversation(db, inbox: str, channel: str) -> int:
    """A resolved conversation to hang work items on (resolved: no one-open clash)."""
    contact = await db.fetchval("SELECT id FROM contacts ORDER BY id LIMIT 1")
    return await db.fetchval(
        "INSERT INTO conversations (inbox, channel, contact_id, status)"
        " VALUES ($1, $2, $3, 'resolved') RETURNING id", inbox, channel, contact)


async def _item(db, conv: int, queue: str, channel: str, status: str, *, created: datetime,
                ended: datetime | None = None, agent: int | None = None,
                assigned: datetime | None = None) -> None:
    await db.execute(
        "INSERT INTO work_items (conversation_id, queue, channel, status, agent_id, created_at,"
        " updated_at, assigned_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        conv, queue, channel, status, agent, created, ended or created, assigned)


async def _board(base_url: str, who: tuple[str, str]) -> Any:
    async with agent_http(base_url, await login(base_url, who)) as http:
        return await http.get("/api/v1/board")


def _queue(body: dict[str, Any], name: str) -> dict[str, Any]:
    return next(q for q in body["queues"] if q["queue"] == name)


def _agent(body: dict[str, Any], agent_id: int) -> dict[str, Any]:
    return next(a for a in body["agents"] if a["agent_id"] == agent_id)


async def test_snapshot_counts_today_from_postgres_rows(hub, db, redis):
    await configure(hub, db, redis, doc(hub, **SUPPORT_ONLY))
    agent1 = ids(hub)["agent1"]
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    today = max(midnight + timedelta(seconds=1), now - timedelta(minutes=1))
    yesterday = midnight - timedelta(hours=2)
    chat = await _conversation(db, "web", "chat")
    # handled today by agent1 in support: 2; yesterday's does not count
    for _ in range(2):
        await _item(db, chat, "support", "chat", "completed", created=yesterday, ended=today,
                    agent=agent1, assigned=today)
    await _item(db, chat, "support", "chat", "completed", created=yesterday, ended=yesterday,
                agent=agent1, assigned=yesterday)
    # abandoned today: cancelled before anyone held it; a cancelled held item is not
    await _item(db, chat, "support", "chat", "cancelled", created=yesterday, ended=today)
    await _item(db, chat, "sales", "chat", "cancelled", created=yesterday, ended=today,
                agent=agent1, assigned=yesterday)
    # the mailbox backlog: open email items by age; a chat item is not mail
    for age in (timedelta(minutes=30), timedelta(hours=2), timedelta(hours=2),
                timedelta(hours=30)):
        await _item(db, await _conversation(db, "mail", "email"), "support", "email", "queued",
                    created=now - age)
    await _item(db, await _conversation(db, "web", "chat"), "support", "chat", "queued",
                created=now - timedelta(hours=30))

    r = await _board(hub.base_url, SUPERVISOR)
    assert r.status_code == 200, r.text
    body = r.json()
    support, sales = _queue(body, "support"), _queue(body, "sales")
    assert (support["handled_today"], support["abandoned_today"]) == (2, 1)
    assert (sales["handled_today"], sales["abandoned_today"]) == (0, 0)
    assert support["backlog"] == {"lt_1h": 1, "1h_4h": 2, "4h_24h": 0, "gt_24h": 1}
    assert sales["backlog"] == {"lt_1h": 0, "1h_4h": 0, "4h_24h": 0, "gt_24h": 0}
    assert _agent(body, agent1)["handled_today"] == 2
    assert _agent(body, agent1)["queues"] == ["support"]
    assert "service_level" not in support  # no target in the routing config: no SLA column


async def test_snapshot_follows_a_chat_from_waiting_to_held(hub, db, redis):
    await configure(hub, db, redis, doc(hub, **SUPPORT_ONLY))
    a1 = await AgentClient(hub, "agent1").connect()
    try:
        await a1.put("/api/v1/routing/presence", {"status": "away"})
        async with running_router(hub, db, redis):
            widget = await start_chat(hub, "Board me")
            try:
                async def waiting() -> Any:
                    q = _queue((await _board(hub.base_url, SUPERVISOR)).json(), "support")
                    return q if q["waiting"] == 1 else None

                q = await eventually(waiting)
                assert q["in_progress"] == 0 and q["oldest_wait_s"] >= 0
                await a1.put("/api/v1/routing/presence", {"status": "available"})
                offer = await a1.wait_event("workitem.offered", agent_id=a1.id)
                r = await a1.post(f"/api/v1/work-items/{offer['work_item_id']}/accept")
                assert r.status_code == 200, r.text

                async def held() -> Any:
                    body = (await _board(hub.base_url, SUPERVISOR)).json()
                    me = _agent(body, a1.id)
                    return body if me["items"] and me["units"] > 0 else None

                body = await eventually(held)
                me = _agent(body, a1.id)
                assert [i["work_item_id"] for i in me["items"]] == [offer["work_item_id"]]
                assert me["load"]["chat"]["items"] == 1 and me["capacity"] > 0
                assert _queue(body, "support")["in_progress"] == 1
                assert _queue(body, "support")["waiting"] == 0
                # the router's presence announcements are logged with the journal
                logged = await db.fetchval(
                    "SELECT presence FROM agent_presence_log WHERE agent_id = $1"
                    " ORDER BY at DESC LIMIT 1", a1.id)
                assert logged == me["presence"] == "online"
                assert me["in_state_s"] is not None and me["in_state_s"] >= 0
                assert me["occupancy_today"] is not None
            finally:
                await widget.close()
    finally:
        await a1.close()


async def test_time_in_state_and_occupancy_from_the_presence_log(hub, db, redis):
    await configure(hub, db, redis, doc(hub, **SUPPORT_ONLY))
    who = ids(hub)
    agent1, agent2 = who["agent1"], who["agent2"]
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    # u: a time unit that fits four times into today so far (minutes, or less after 00:00)
    u = timedelta(seconds=max(1.0, min(600.0, (now - midnight).total_seconds() / 5)))
    log = [(midnight - timedelta(hours=1), "offline"), (now - 4 * u, "online"),
           (now - 3 * u, "away"), (now - 2 * u, "online")]
    await db.executemany("INSERT INTO agent_presence_log (agent_id, presence, at)"
                         " VALUES ($1, $2, $3)", [(agent1, p, at) for at, p in log])
    # held: 0.5u (completed), 1u (still assigned), and 0.3u inside the held one (counts once)
    for start, end, status in ((4 * u, 3.5 * u, "completed"), (1 * u, None, "assigned"),
                               (0.8 * u, 0.5 * u, "completed")):
        await _item(db, await _conversation(db, "web", "chat"), "support", "chat", status,
                    created=now - start, ended=now - end if end is not None else now - start,
                    agent=agent1, assigned=now - start)
    a1 = await AgentClient(hub, "agent1").connect()  # connected and available: online
    try:
        body = (await _board(hub.base_url, SUPERVISOR)).json()
    finally:
        await a1.close()
    me, other = _agent(body, agent1), _agent(body, agent2)
    unit = u.total_seconds()
    assert me["presence"] == "online"
    assert abs(me["staffed_today_s"] - 3 * unit) < 0.1 * unit + 5
    assert abs(me["busy_today_s"] - 1.5 * unit) < 0.1 * unit + 5
    assert me["occupancy_today"] is not None and abs(me["occupancy_today"] - 0.5) < 0.1
    assert me["in_state_s"] is not None and abs(me["in_state_s"] - 2 * unit) < 0.1 * unit + 5
    assert (other["occupancy_today"], other["in_state_s"]) == (None, None)


async def test_agents_are_kept_out_unless_the_setting_allows(hub, db, redis):
    await configure(hub, db, redis, doc(hub, **SUPPORT_ONLY))
    r = await _board(hub.base_url, AGENT)
    assert r.status_code == 403 and r.json()["reason"]
    async with agent_http(hub.base_url, await login(hub.base_url, AGENT)) as http:
        page = await http.get("/board", follow_redirects=False)
    assert (page.status_code, page.headers["location"]) == (303, "/inbox")
    async with agent_http(hub.base_url, await login(hub.base_url, SUPERVISOR)) as http:
        page = await http.get("/board", follow_redirects=False)
    assert page.status_code == 200 and "board.js" in page.text


async def test_supervisor_sets_an_agent_away_and_bad_input_changes_nothing(hub, db, redis):
    await configure(hub, db, redis, doc(hub, **SUPPORT_ONLY))
    agent1 = ids(hub)["agent1"]
    path = f"/api/v1/board/agents/{agent1}/presence"
    async with agent_http(hub.base_url, await login(hub.base_url, SUPERVISOR)) as sup:
        for body, status in (({"status": "asleep"}, 400), ({"state": "away"}, 400),
                             ({"status": 3}, 400)):
            r = await sup.post(path, json=body)
            assert r.status_code == status and r.json()["reason"], (body, r.text)
        r = await sup.post("/api/v1/board/agents/999999/presence", json={"status": "away"})
        assert r.status_code == 404 and r.json()["reason"]
        assert _agent((await sup.get("/api/v1/board")).json(), agent1)["status"] == "available"

        r = await sup.post(path, json={"status": "away"})
        assert r.status_code == 200, r.text
        assert _agent((await sup.get("/api/v1/board")).json(), agent1)["status"] == "away"
    async with agent_http(hub.base_url, await login(hub.base_url, AGENT)) as agent:
        r = await agent.post(f"/api/v1/board/agents/{ids(hub)['agent2']}/presence",
                             json={"status": "offline"})
        assert r.status_code == 403 and r.json()["reason"]
