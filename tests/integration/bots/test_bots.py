"""Bots against the live hub: admin creates a bot (token hashed), puts it in front of a
queue; the example bot (examples/echo_bot.py) greets, answers and hands off over a real
websocket; agents see the transcript and the reason; bad frames and foreign
conversations get error frames or close codes; a bot sees only its own conversations."""

from __future__ import annotations

import asyncio
import hashlib
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from examples.echo_bot import GREETING, EchoBot
from tests.fixtures.bots import ADMIN, bot_ws, make_bot
from tests.fixtures.helpers import (
    agent_http,
    agent_ws,
    api_post,
    eventually,
    is_event,
    login,
    new_id,
    recv_json,
    recv_until,
    widget_ws,
)


async def _customer_says(widget, text: str) -> None:
    await widget.send(json.dumps({"type": "message", "client_id": new_id(), "text": text}))


def _bot_said(frame, text: str | None = None) -> bool:
    if frame.get("type") != "event" or frame["event"]["type"] != "message.created":
        return False
    m = frame["event"]["message"]
    return m["author"]["kind"] == "bot" and (text is None or text in m["text"])


async def test_example_bot_greets_answers_and_hands_off(hub, db):
    bot_id, token, _ = await make_bot(hub, "Helper")
    stored = await db.fetchrow("SELECT * FROM bots WHERE id = $1", bot_id)
    assert stored["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps({k: str(v) for k, v in dict(stored).items()})

    stop = asyncio.Event()
    bot = EchoBot(f"{hub.ws_url}/ws/bot", token, "sales")
    runner = asyncio.create_task(bot.run(stop))
    cookie = await login(hub.base_url)
    agent = await agent_ws(hub.ws_url, hub.base_url, cookie)
    await recv_json(agent)
    try:
        widget = await widget_ws(hub.ws_url, "https://shop.example")
        await recv_json(widget)
        await _customer_says(widget, "hello there")
        await recv_until(widget, lambda f: _bot_said(f, GREETING))
        await recv_until(widget, lambda f: _bot_said(f, "You said: hello there"))
        conv_id = await db.fetchval("SELECT id FROM conversations WHERE inbox = 'web'")
        item = await db.fetchrow("SELECT status, bot_id, agent_id FROM work_items"
                                 " WHERE conversation_id = $1", conv_id)
        assert (item["status"], item["bot_id"], item["agent_id"]) == ("bot", bot_id, None)

        await _customer_says(widget, "what are your opening hours?")
        await recv_until(widget, lambda f: _bot_said(f, "Monday to Friday"))
        await _customer_says(widget, "I want to talk to an agent please")
        await recv_until(widget, lambda f: _bot_said(f, "Connecting you"))

        # The agent sees the hand-off: the item queued in the target queue, and a note.
        updated = await recv_until(agent, is_event("workitem.updated",
                                                   work_item__status="queued"))
        assert updated["event"]["work_item"]["queue"] == "sales"
        item = await db.fetchrow("SELECT status, queue, attributes FROM work_items"
                                 " WHERE conversation_id = $1", conv_id)
        assert (item["status"], item["queue"]) == ("queued", "sales")
        assert json.loads(item["attributes"])["handoff_reason"].startswith("customer asked")
        async with agent_http(hub.base_url, cookie) as client:
            conv = (await client.get(f"/api/v1/conversations/{conv_id}")).json()
        kinds = [(m["author"]["kind"], m["private"]) for m in conv["messages"]]
        assert kinds.count(("contact", False)) == 3
        assert kinds.count(("bot", False)) == 4  # greeting, echo, hours, "connecting"
        note = [m for m in conv["messages"] if m["author"]["kind"] == "system"]
        assert len(note) == 1 and note[0]["private"]
        assert "handed off to sales: customer asked for a human" in note[0]["text"]
        # The widget never sees the private note.
        await _customer_says(widget, "still there?")
        seen = await recv_until(widget, is_event("message.created", message__text="still there?"))
        assert seen
        assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'bot.handoff'") == 1
        # No longer held: the bot does not answer any more.
        assert await db.fetchval("SELECT count(*) FROM messages WHERE author_kind = 'bot'") == 4
        await widget.close()
    finally:
        stop.set()
        await asyncio.wait_for(runner, 10)
        await agent.close()


async def test_bot_socket_rejects_bad_tokens_and_frames(hub, db):
    _, token, _ = await make_bot(hub, "Strict")
    for headers in ({"Authorization": "Bearer ohb_wrong"}, {}, {"Authorization": "Basic x"}):
        async with connect(f"{hub.ws_url}/ws/bot", additional_headers=headers) as ws:
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 1008
    ws = await bot_ws(hub, token)
    hello = await recv_json(ws)
    assert hello["type"] == "hello" and hello["bot"]["name"] == "Strict"
    assert hello["conversations"] == []
    cases = [
        ("not json", "bad_json"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "reply", "conversation_id": "x", "client_id": "a", "text": "t"}', "bad_frame"),
        ('{"type": "reply", "conversation_id": 1, "client_id": "a", "text": "t", "x": 1}',
         "bad_frame"),
        ('{"type": "reply", "conversation_id": 999999, "client_id": "a", "text": "t"}',
         "not_held"),
        ('{"type": "handoff", "conversation_id": 999999, "queue": "sales", "reason": "r"}',
         "not_held"),
        ('{"type": "reply", "conversation_id": 1, "client_id": "", "text": "t"}', "bad_input"),
    ]
    for raw, code in cases:
        await ws.send(raw)
        frame = await recv_until(ws, lambda f: f["type"] == "error")
        assert frame["code"] == code, (raw, frame)
    await ws.send('{"type": "ping"}')
    assert (await recv_until(ws, lambda f: f["type"] != "error"))["type"] == "pong"
    await ws.send(b"\x00binary")
    with pytest.raises(ConnectionClosed):
        while True:
            await ws.recv()
    assert ws.close_code == 1003
    assert await db.fetchval("SELECT count(*) FROM messages") == 0


async def test_a_bot_sees_only_its_own_conversations(hub, db):
    a_id, a_token, _ = await make_bot(hub, "Alpha", "support")
    b_id, b_token, _ = await make_bot(hub, "Beta", "sales")
    a, b = await bot_ws(hub, a_token), await bot_ws(hub, b_token)
    await recv_json(a)
    await recv_json(b)
    # 'web' -> support (Alpha); 'api' -> sales (Beta).
    widget = await widget_ws(hub.ws_url, "https://shop.example")
    await recv_json(widget)
    await _customer_says(widget, "for alpha only")
    got = await recv_until(a, is_event("message.created", message__text="for alpha only"))
    alpha_conv = got["event"]["message"]["conversation_id"]
    r = await api_post(hub.base_url, hub.seed["api_token"],
                       {"source_id": "u-1", "text": "for beta only", "message_id": "b1"})
    assert r.status_code == 202
    seen_by_b = []
    await recv_until(b, lambda f: seen_by_b.append(f) or is_event(
        "message.created", message__text="for beta only")(f))
    # Beta's socket processed the stream in order up to its own event: nothing of Alpha's.
    assert not [f for f in seen_by_b if f.get("type") == "event"
                and json.dumps(f).find("for alpha only") >= 0]
    assert all(f["event"].get("work_item", {}).get("bot_id", b_id) == b_id
               for f in seen_by_b if f.get("type") == "event")
    # Beta cannot write into Alpha's conversation; Alpha can.
    await b.send(json.dumps({"type": "reply", "conversation_id": alpha_conv,
                             "client_id": "x1", "text": "sneaky"}))
    err = await recv_until(b, lambda f: f["type"] == "error")
    assert err["code"] == "not_held"
    await a.send(json.dumps({"type": "reply", "conversation_id": alpha_conv,
                             "client_id": "x1", "text": "hi from alpha"}))
    ack = await recv_until(a, lambda f: f["type"] == "ack")
    await a.send(json.dumps({"type": "reply", "conversation_id": alpha_conv,
                             "client_id": "x1", "text": "hi from alpha"}))
    again = await recv_until(a, lambda f: f["type"] == "ack")
    assert again["message_id"] == ack["message_id"]  # a retried reply is stored once
    assert await db.fetchval("SELECT count(*) FROM messages WHERE author_kind = 'bot'") == 1
    # A reconnecting bot gets what it holds, with the transcript.
    await a.close()
    a2 = await bot_ws(hub, a_token)
    hello = await recv_json(a2)
    assert [c["id"] for c in hello["conversations"]] == [alpha_conv]
    assert [m["text"] for m in hello["conversations"][0]["messages"]] == [
        "for alpha only", "hi from alpha"]
    # An agent replying takes the conversation away from the bot.
    cookie = await login(hub.base_url)
    async with agent_http(hub.base_url, cookie) as client:
        r = await client.post(f"/api/v1/conversations/{alpha_conv}/messages",
                              json={"text": "a human here"})
        assert r.status_code == 201
    released = await recv_until(a2, is_event("workitem.updated"))
    assert released["event"]["work_item"]["status"] == "assigned"
    await a2.send(json.dumps({"type": "reply", "conversation_id": alpha_conv,
                              "client_id": "x2", "text": "too late"}))
    assert (await recv_until(a2, lambda f: f["type"] == "error"))["code"] == "not_held"
    for ws in (a2, b, widget):
        await ws.close()
    assert a_id != b_id


async def test_bot_admin_routes_are_admin_only(hub, db):
    cookie = await login(hub.base_url)
    async with agent_http(hub.base_url, cookie) as client:
        assert (await client.post("/api/v1/bots", json={"name": "x"})).status_code == 403
        assert (await client.post("/api/v1/queues/support/bot",
                                  json={"bot_id": None})).status_code == 403
    admin = await login(hub.base_url, ADMIN)
    async with agent_http(hub.base_url, admin) as client:
        for body in ({"name": ""}, {"name": "x" * 101}, {}, {"name": 3}):
            assert (await client.post("/api/v1/bots", json=body)).status_code == 400
        assert (await client.post("/api/v1/queues/nope/bot",
                                  json={"bot_id": None})).status_code == 404
        assert (await client.post("/api/v1/queues/support/bot",
                                  json={"bot_id": 99999})).status_code == 400
        listed = (await client.get("/api/v1/bots")).json()["bots"]
        assert listed == []
    assert await db.fetchval("SELECT count(*) FROM bots") == 0


async def test_bot_rest_api(hub, db):
    import httpx

    _, token, _ = await make_bot(hub, "Resty")
    auth = {"Authorization": f"Bearer {token}"}
    widget = await widget_ws(hub.ws_url, "https://shop.example")
    await recv_json(widget)
    await _customer_says(widget, "rest bot, are you there?")
    async with httpx.AsyncClient(base_url=hub.base_url) as client:
        async def held():
            r = await client.get("/api/v1/bot/conversations", headers=auth)
            return r.json()["conversations"] if r.json()["conversations"] else None
        (conv,) = await eventually(held)
        assert conv["messages"][0]["text"] == "rest bot, are you there?"
        cid = conv["id"]
        url = f"/api/v1/bot/conversations/{cid}"
        r = await client.post(f"{url}/messages", headers=auth,
                              json={"text": "Yes!", "client_id": "r1"})
        assert r.status_code == 201 and r.json()["message"]["author"]["kind"] == "bot"
        r2 = await client.post(f"{url}/messages", headers=auth,
                               json={"text": "Yes!", "client_id": "r1"})
        assert r2.status_code == 200 and r2.json()["message"]["id"] == r.json()["message"]["id"]
        await recv_until(widget, lambda f: _bot_said(f, "Yes!"))
        for path, body, headers, code in (
            ("messages", {"text": "x", "client_id": "r2"}, {}, 401),
            ("messages", {"text": "x", "client_id": "r2"},
             {"Authorization": "Bearer ohb_nope"}, 401),
            ("messages", {"text": "", "client_id": "r2"}, auth, 400),
            ("messages", {"text": "x"}, auth, 400),
            ("handoff", {"queue": "nope", "reason": "r"}, auth, 400),
            ("handoff", {"queue": "sales", "reason": ""}, auth, 400),
        ):
            r = await client.post(f"{url}/{path}", headers=headers, json=body)
            assert r.status_code == code, (path, body, r.text)
        r = await client.post("/api/v1/bot/conversations/999999/messages", headers=auth,
                              json={"text": "x", "client_id": "r3"})
        assert r.status_code == 403 and r.json()["error"] == "not_held"
        r = await client.post(f"{url}/handoff", headers=auth,
                              json={"queue": "sales", "reason": "needs sales"})
        assert r.status_code == 200 and r.json()["work_item"]["status"] == "queued"
        r = await client.post(f"{url}/handoff", headers=auth,
                              json={"queue": "sales", "reason": "again"})
        assert r.status_code == 403  # no longer held
    assert await db.fetchval("SELECT count(*) FROM messages WHERE author_kind = 'bot'") == 1
    await widget.close()
