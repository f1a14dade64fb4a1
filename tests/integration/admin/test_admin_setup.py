"""Settings can finish the job (docs/admin.md "What is missing"): every agent and inbox
says what keeps it from working, and an admin can fix each item there: an agent's
routing profile (queues, skills, languages, capacity), an inbox's members, a chat inbox's
allowed origins. Admin role and Origin on every route; refusals change nothing."""

from __future__ import annotations

from typing import Any

from hub.admin.rules import agent_missing, inbox_missing
from tests.fixtures.helpers import SUPERVISOR, agent_http, login

ADMIN = ("admin@demo.omnihub.test", "demo-admin")


def test_missing_items_rules():
    assert [m["code"] for m in agent_missing(active=True, inboxes=[], queues=None)] == [
        "no_queues", "no_inboxes"]
    assert "never receive work" in agent_missing(active=True, inboxes=["web"], queues=[])[0][
        "text"]
    assert agent_missing(active=True, inboxes=["web"], queues=["support"]) == []
    assert agent_missing(active=False, inboxes=[], queues=None) == []  # deactivated on purpose
    chat = inbox_missing(channel="chat", allowed_origins=[], members=0, has_account=False,
                         default_queue="support", queue_agents=0)
    assert [m["code"] for m in chat] == ["no_members", "queue_unstaffed", "no_origins"]
    assert "only works on this hub's own pages" in chat[2]["text"]
    assert [m["code"] for m in inbox_missing(
        channel="sms", allowed_origins=[], members=1, has_account=False,
        default_queue="support", queue_agents=2)] == ["no_account"]
    assert inbox_missing(channel="chat", allowed_origins=["https://shop.example"], members=1,
                         has_account=False, default_queue="support", queue_agents=1) == []


def _codes(item: dict[str, Any]) -> list[str]:
    return [m["code"] for m in item["missing"]]


async def test_an_admin_sees_what_is_missing_and_fixes_it(hub, db):
    admin = await login(hub.base_url, ADMIN)
    async with agent_http(hub.base_url, admin) as client:
        r = await client.post("/api/v1/admin/agents", json={
            "email": "new@demo.omnihub.test", "name": "New Agent", "role": "agent",
            "password": "a-long-password"})
        assert r.status_code == 201, r.text
        new = r.json()["agent"]
        assert new["routing"] is None and _codes(new) == ["no_queues", "no_inboxes"]
        r = await client.post("/api/v1/admin/inboxes", json={
            "slug": "shop2", "name": "Shop 2 chat", "channel": "chat",
            "default_queue": "support"})
        assert r.status_code == 201, r.text
        assert _codes(r.json()["inbox"]) == ["no_members", "no_origins"]
        assert r.json()["inbox"]["members"] == []

        # Members of the inbox (the other side of an agent's inbox list).
        r = await client.put("/api/v1/admin/inboxes/shop2/members",
                             json={"agents": [new["id"]]})
        assert r.status_code == 200, r.text
        assert r.json()["inbox"]["members"] == [{"id": new["id"], "name": "New Agent"}]
        assert _codes(r.json()["inbox"]) == ["no_origins"]
        r = await client.patch("/api/v1/admin/inboxes/shop2",
                               json={"allowed_origins": ["https://shop2.example"]})
        assert r.status_code == 200 and _codes(r.json()["inbox"]) == []

        # The agent's routing profile, through the routing API Settings uses.
        agents = (await client.get("/api/v1/admin/agents")).json()
        assert "support" in agents["routing_queues"]
        mine = next(a for a in agents["agents"] if a["id"] == new["id"])
        assert _codes(mine) == ["no_queues"]  # shop2 gave them an inbox
        r = await client.put(f"/api/v1/routing/agents/{new['id']}", json={
            "queues": ["support"], "skills": {"billing": 5}, "languages": ["de", "en"],
            "capacity": 40})
        assert r.status_code == 200, r.text
        agents = (await client.get("/api/v1/admin/agents")).json()["agents"]
        mine = next(a for a in agents if a["id"] == new["id"])
        assert mine["missing"] == []
        assert mine["routing"]["queues"] == ["support"]
        assert mine["routing"]["skills"] == {"billing": 5} and mine["routing"]["capacity"] == 40
        # A bad profile names the field and changes nothing.
        r = await client.put(f"/api/v1/routing/agents/{new['id']}", json={"queues": ["nope"]})
        assert r.status_code == 422 and "profile" in r.json()["path"]
        agents = (await client.get("/api/v1/admin/agents")).json()["agents"]
        assert next(a for a in agents if a["id"] == new["id"])["routing"]["queues"] == [
            "support"]
    assert await db.fetchval("SELECT details FROM audit_log WHERE action = 'inbox.members_set'"
                             ) == f'{{"agents": [{new["id"]}]}}'


async def test_members_route_checks_role_origin_and_body(hub, db):
    before = await db.fetch("SELECT agent_id, inbox FROM agent_inboxes ORDER BY 1, 2")
    sup = await login(hub.base_url, SUPERVISOR)
    async with agent_http(hub.base_url, sup) as client:
        assert (await client.put("/api/v1/admin/inboxes/web/members",
                                 json={"agents": []})).status_code == 403
        assert (await client.get("/api/v1/admin/agents")).status_code == 403
        assert (await client.put("/api/v1/routing/agents/1",
                                 json={"queues": []})).status_code == 403
    admin = await login(hub.base_url, ADMIN)
    async with agent_http(hub.base_url, admin) as client:
        for body, status in [({"agents": [999999]}, 400), ({"agents": "x"}, 400),
                             ({"agents": [], "surprise": 1}, 400), ({}, 400)]:
            r = await client.put("/api/v1/admin/inboxes/web/members", json=body)
            assert r.status_code == status, (body, r.text)
            assert r.json()["reason"]
        r = await client.put("/api/v1/admin/inboxes/nope/members", json={"agents": []})
        assert r.status_code == 404
        r = await client.put("/api/v1/admin/inboxes/web/members", json={"agents": []},
                             headers={"Origin": "https://evil.example"})
        assert r.status_code == 403
    assert await db.fetch("SELECT agent_id, inbox FROM agent_inboxes ORDER BY 1, 2") == before
    assert await db.fetchval("SELECT count(*) FROM audit_log") == 0
