"""Widget -> pipeline -> agent -> widget, over real websockets, Redis and Postgres."""

from __future__ import annotations

import asyncio
import json

import httpx

from tests.fixtures.helpers import (
    agent_http,
    agent_ws,
    api_post,
    is_event,
    login,
    new_id,
    recv_json,
    recv_until,
    widget_ws,
)


async def test_widget_to_agent_to_widget(hub, db):
    cookie = await login(hub.base_url)
    agent = await agent_ws(hub.ws_url, hub.base_url, cookie)
    hello = await recv_json(agent)
    assert hello["type"] == "hello" and hello["agent"]["email"] == "agent1@demo.omnihub.test"

    widget = await widget_ws(hub.ws_url, "https://shop.example")
    w_hello = await recv_json(widget)
    assert w_hello["type"] == "hello" and w_hello["conversation_id"] is None
    assert w_hello["messages"] == []
    token = w_hello["visitor_token"]

    cid = new_id()
    await widget.send(json.dumps({"type": "message", "client_id": cid, "text": "My TV is dark"}))
    ack = await recv_until(widget, lambda f: f["type"] == "ack")
    assert ack["client_id"] == cid and ack["stream_id"]

    created = await recv_until(agent, is_event("conversation.created"))
    conv = created["event"]["conversation"]
    msg = await recv_until(agent, is_event("message.created"))
    assert msg["event"]["message"]["text"] == "My TV is dark"
    assert msg["event"]["message"]["conversation_id"] == conv["id"]
    assert msg["id"] > created["id"]

    # The widget learns its conversation and sees its own stored message.
    await recv_until(widget, is_event("conversation.created"))
    own = await recv_until(widget, is_event("message.created"))
    assert own["event"]["message"]["provider_id"].endswith(cid)

    # Customer context for the agent.
    async with agent_http(hub.base_url, cookie) as client:
        ctx = (await client.get(f"/api/v1/contacts/{conv['contact_id']}/context")).json()
        assert ctx["contact"]["id"] == conv["contact_id"]
        assert {"kind": "visitor", "value": ctx["identities"][0]["value"]} == ctx["identities"][0]

    await agent.send(json.dumps({"type": "typing", "conversation_id": conv["id"], "on": True}))
    typing = await recv_until(widget, is_event("typing"))
    assert typing["event"]["author"]["kind"] == "agent" and typing["event"]["on"] is True

    reply_id = new_id()
    await agent.send(json.dumps({"type": "reply", "conversation_id": conv["id"],
                                 "client_id": reply_id, "text": "Let me check your box."}))
    # The ack and the events the reply caused arrive in either order.
    seen: list[dict] = []
    assigned = is_event("conversation.assigned", conversation_id=conv["id"])
    await recv_until(agent, lambda f: seen.append(f) or (
        any(x["type"] in ("ack", "error") for x in seen) and any(assigned(x) for x in seen)))
    ack = next(f for f in seen if f["type"] in ("ack", "error"))
    assert ack["type"] == "ack" and ack["client_id"] == reply_id
    got = await recv_until(widget, is_event("message.created", message__direction="out"))
    assert got["event"]["message"]["text"] == "Let me check your box."
    assert got["event"]["message"]["author"] == {
        "kind": "agent", "name": hello["agent"]["name"], "agent_id": hello["agent"]["id"]}

    # Replying assigned the conversation to the agent.
    assert await db.fetchval("SELECT assignee_id FROM conversations WHERE id = $1",
                             conv["id"]) == hello["agent"]["id"]

    # A page reload (new socket, same token) gets the whole conversation back.
    await widget.close()
    again = await widget_ws(hub.ws_url, "https://shop.example", token=token)
    hello2 = await recv_json(again)
    assert hello2["conversation_id"] == conv["id"]
    assert [m["text"] for m in hello2["messages"]] == ["My TV is dark", "Let me check your box."]
    await again.close()
    await agent.close()


async def test_private_note_never_reaches_widget(hub):
    cookie = await login(hub.base_url)
    widget = await widget_ws(hub.ws_url, "https://shop.example")
    await recv_json(widget)
    await widget.send(json.dumps({"type": "message", "client_id": new_id(), "text": "hi"}))
    conv = (await recv_until(widget, is_event("conversation.created")))["event"]["conversation"]
    async with agent_http(hub.base_url, cookie) as client:
        r = await client.post(f"/api/v1/conversations/{conv['id']}/messages",
                              json={"text": "internal: VIP, be nice", "private": True})
        assert r.status_code == 201
        r = await client.post(f"/api/v1/conversations/{conv['id']}/messages",
                              json={"text": "Hello!"})
        assert r.status_code == 201
    frame = await recv_until(widget, is_event("message.created", message__direction="out"))
    assert frame["event"]["message"]["text"] == "Hello!"
    await widget.close()


async def test_same_message_five_times_is_one_row_and_one_event(hub, db, redis):
    body = {"source_id": "crm-42", "text": "Router blinks red", "message_id": "ext-1",
            "name": "Dana"}
    responses = await asyncio.gather(*[api_post(hub.base_url, hub.seed["api_token"], body)
                                       for _ in range(5)])
    assert [r.status_code for r in responses] == [202] * 5
    async with asyncio.timeout(10):
        while await db.fetchval("SELECT count(*) FROM messages") == 0:
            await asyncio.sleep(0.05)
        # Let the pipeline drain all five entries.
        while (await redis.xpending(hub.settings.ingest_stream, "pipeline"))["pending"] or \
                (await redis.xlen(hub.settings.ingest_stream) and \
                (await redis.xinfo_groups(hub.settings.ingest_stream))[0]["lag"]):
            await asyncio.sleep(0.05)
    assert await db.fetchval("SELECT count(*) FROM messages") == 1
    events = await redis.xrange(hub.settings.events_stream)
    created = [e for _, e in events if json.loads(e[b"e"])["type"] == "message.created"]
    assert len(created) == 1


async def test_api_channel_delivers_to_agent_with_context(hub):
    cookie = await login(hub.base_url)
    agent = await agent_ws(hub.ws_url, hub.base_url, cookie)
    await recv_json(agent)
    # A seeded customer writes through the API with their email: matched, with accounts.
    r = await api_post(hub.base_url, hub.seed["api_token"],
                       {"source_id": "x", "text": "Upgrade my plan?", "message_id": new_id(),
                        "email": "ANNA.KOWALSKI@example.com"})
    assert r.status_code == 202, r.text
    conv = (await recv_until(agent, is_event("conversation.created")))["event"]["conversation"]
    async with agent_http(hub.base_url, cookie) as client:
        ctx = (await client.get(f"/api/v1/contacts/{conv['contact_id']}/context")).json()
    if ctx["accounts"]:
        assert {a["service"] for a in ctx["accounts"]} <= {"tv", "internet", "phone"}
    await agent.close()


async def test_rest_reload_equals_live_events(hub):
    """Zulip-style: state built from events equals a fresh REST fetch."""
    cookie = await login(hub.base_url)
    agent = await agent_ws(hub.ws_url, hub.base_url, cookie)
    await recv_json(agent)
    convs: dict[int, dict] = {}
    messages: dict[int, dict[int, dict]] = {}
    for i in range(3):
        r = await api_post(hub.base_url, hub.seed["api_token"],
                           {"source_id": f"c{i}", "text": f"hello {i}", "message_id": new_id()})
        assert r.status_code == 202
    async with agent_http(hub.base_url, cookie) as client:
        seen = 0
        async with asyncio.timeout(10):
            while seen < 3:
                frame = await recv_json(agent)
                if frame["type"] != "event":
                    continue
                ev = frame["event"]
                if ev["type"] == "conversation.created":
                    convs[ev["conversation"]["id"]] = ev["conversation"]
                elif ev["type"] == "message.created":
                    m = ev["message"]
                    messages.setdefault(m["conversation_id"], {})[m["id"]] = m
                    seen += 1
        listed = (await client.get("/api/v1/conversations?assignee=all")).json()
        rest = {c["conversation"]["id"]: c["conversation"] for c in listed["conversations"]}
        for cid, conv in convs.items():
            assert {k: v for k, v in rest[cid].items() if k != "last_message_at"} == \
                {k: v for k, v in conv.items() if k != "last_message_at"}
            detail = (await client.get(f"/api/v1/conversations/{cid}")).json()
            assert {m["id"]: m for m in detail["messages"]} == messages[cid]
    await agent.close()


async def test_supervisor_reassign_and_resolve(hub):
    sup = await login(hub.base_url, ("supervisor@demo.omnihub.test", "demo-super"))
    agent_cookie = await login(hub.base_url)
    r = await api_post(hub.base_url, hub.seed["api_token"],
                       {"source_id": "z", "text": "help", "message_id": new_id()})
    assert r.status_code == 202
    async with agent_http(hub.base_url, sup) as client:
        async with asyncio.timeout(10):
            while True:
                listed = (await client.get("/api/v1/conversations")).json()["conversations"]
                if listed:
                    break
                await asyncio.sleep(0.05)
        cid = listed[0]["conversation"]["id"]
        agent2 = hub.seed["agents"]["agent2@demo.omnihub.test"]
        r = await client.post(f"/api/v1/conversations/{cid}/assign", json={"agent_id": agent2})
        assert r.status_code == 200 and r.json()["conversation"]["assignee_id"] == agent2
    async with agent_http(hub.base_url, agent_cookie) as client:
        # An agent cannot take a conversation someone else holds.
        r = await client.post(f"/api/v1/conversations/{cid}/assign", json={})
        assert r.status_code == 409 and r.json()["error"] == "conflict"
        r = await client.post(f"/api/v1/conversations/{cid}/status", json={"status": "resolved"})
        assert r.status_code == 200 and r.json()["conversation"]["status"] == "resolved"
        r = await client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "late"})
        assert r.status_code == 409


async def test_healthz(hub):
    async with httpx.AsyncClient(base_url=hub.base_url) as client:
        r = await client.get("/healthz")
    assert r.status_code == 200 and r.json()["ok"] is True
