"""Every kind of bad input gets a clear error, stores nothing, crashes nothing, and
leaves other connections alone."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.fixtures.helpers import (
    agent_ws,
    api_post,
    is_event,
    login,
    new_id,
    recv_json,
    recv_until,
    widget_ws,
)


async def _counts(db, redis, hub) -> tuple[int, int]:
    return (await db.fetchval("SELECT count(*) FROM messages"),
            await redis.xlen(hub.settings.ingest_stream))


async def _closed_code(ws) -> int | None:
    try:
        async with asyncio.timeout(10):
            while True:
                await ws.recv()
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None


@pytest.fixture
async def bystander(hub):
    """A healthy agent socket that must keep working through every bad input."""
    cookie = await login(hub.base_url)
    ws = await agent_ws(hub.ws_url, hub.base_url, cookie)
    await recv_json(ws)
    yield ws
    # Still alive and still receiving live events.
    r = await api_post(hub.base_url, hub.seed["api_token"],
                       {"source_id": "ok", "text": "still here", "message_id": new_id()})
    assert r.status_code == 202
    await recv_until(ws, is_event("message.created", message__text="still here"))
    await ws.close()


async def test_widget_bad_frames_get_error_frames_and_socket_survives(hub, db, redis, bystander):
    before = await _counts(db, redis, hub)
    ws = await widget_ws(hub.ws_url, "https://shop.example")
    await recv_json(ws)
    cases = [
        ("{not json", "bad_json"),
        (json.dumps({"type": "explode"}), "unknown_type"),
        (json.dumps({"type": "message", "client_id": "a", "text": "x", "extra": 1}), "bad_frame"),
        (json.dumps({"type": "message", "client_id": "a"}), "bad_frame"),
        (json.dumps({"type": "message", "client_id": "a", "text": 5}), "bad_frame"),
        (json.dumps({"type": "message", "client_id": "a", "text": "   "}), "bad_input"),
        (json.dumps({"type": "message", "client_id": "", "text": "hi"}), "bad_input"),
        (json.dumps([1, 2]), "bad_frame"),
    ]
    for raw, code in cases:
        await ws.send(raw)
        frame = await recv_json(ws)
        assert frame["type"] == "error" and frame["code"] == code, (raw, frame)
        assert frame["reason"]
    await ws.send(json.dumps({"type": "ping"}))
    assert await recv_json(ws) == {"type": "pong"}
    assert await _counts(db, redis, hub) == before
    await ws.close()


async def test_oversized_frame_closes_1009(hub, db, redis, bystander):
    before = await _counts(db, redis, hub)
    ws = await widget_ws(hub.ws_url, "https://shop.example")
    await recv_json(ws)
    await ws.send(json.dumps({"type": "message", "client_id": "big", "text": "x" * 70_000}))
    assert await _closed_code(ws) == 1009
    assert await _counts(db, redis, hub) == before


async def test_binary_frame_closes_1003(hub, bystander):
    ws = await widget_ws(hub.ws_url, "https://shop.example")
    await recv_json(ws)
    await ws.send(b"\x00\x01")
    assert await _closed_code(ws) == 1003


async def test_agent_socket_refuses_wrong_origin_and_no_session(hub, bystander):
    cookie = await login(hub.base_url)
    for origin, headers in [("https://evil.example", {"Cookie": f"oh_session={cookie}"}),
                            (hub.base_url, {}),
                            (hub.base_url, {"Cookie": "oh_session=forged"})]:
        from websockets.asyncio.client import connect

        ws = await connect(f"{hub.ws_url}/ws/agent", origin=origin, additional_headers=headers)
        assert await _closed_code(ws) == 1008


async def test_widget_refuses_forged_token_and_unknown_inbox(hub, bystander):
    for kw in ({"token": "Zm9v.forged"}, {"inbox": "nope"}, {"inbox": "api"}):
        ws = await widget_ws(hub.ws_url, "https://shop.example", **kw)
        assert await _closed_code(ws) == 1008


async def test_widget_token_is_bound_to_its_inbox(hub, db, bystander):
    await db.execute("INSERT INTO inboxes (slug, name, channel, default_queue, allowed_origins)"
                     " VALUES ('web2', 'Second shop', 'chat', 'support', '{*}')")
    ws = await widget_ws(hub.ws_url, "https://shop.example")
    token = (await recv_json(ws))["visitor_token"]
    await ws.close()
    ok = await widget_ws(hub.ws_url, "https://shop.example", token=token)
    assert (await recv_json(ok))["type"] == "hello"
    await ok.close()
    other = await widget_ws(hub.ws_url, "https://shop.example", inbox="web2", token=token)
    assert await _closed_code(other) == 1008


async def test_agent_bad_frames(hub, db, bystander):
    cookie = await login(hub.base_url)
    ws = await agent_ws(hub.ws_url, hub.base_url, cookie)
    await recv_json(ws)
    await ws.send(json.dumps({"type": "reply", "conversation_id": 999999, "client_id": "c",
                              "text": "hi"}))
    frame = await recv_until(ws, lambda f: f["type"] == "error")
    assert frame["code"] == "not_found" and frame["client_id"] == "c"
    await ws.send("[")
    frame = await recv_until(ws, lambda f: f["type"] == "error")
    assert frame["code"] == "bad_json"
    await ws.send(json.dumps({"type": "ping"}))
    await recv_until(ws, lambda f: f["type"] == "pong")
    assert await db.fetchval("SELECT count(*) FROM messages") == 0
    await ws.close()


async def test_bad_last_id_is_refused(hub, bystander):
    cookie = await login(hub.base_url)
    ws = await agent_ws(hub.ws_url, hub.base_url, cookie, last_id="banana")
    assert await _closed_code(ws) == 1008


async def test_http_bad_inputs(hub, db, redis, bystander):
    before = await _counts(db, redis, hub)
    token = hub.seed["api_token"]
    url = f"{hub.base_url}/api/v1/inboxes/api/messages"
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient() as c:
        cases = [
            (dict(content=b"{bad", headers={**auth, "Content-Type": "application/json"}),
             400, "bad_json"),
            (dict(json={"text": "no source"}, headers=auth), 400, "invalid_body"),
            (dict(json={"source_id": "a", "text": "x", "evil": 1}, headers=auth), 400,
             "invalid_body"),
            (dict(json={"source_id": "a", "text": ""}, headers=auth), 400, "bad_input"),
            (dict(json={"source_id": "a b c", "text": "x"}, headers=auth), 400, "bad_input"),
            (dict(json={"source_id": "a", "text": "x", "email": "not-an-email"},
                  headers=auth), 400, "bad_input"),
            (dict(content=b"x" * 70_000, headers={**auth, "Content-Type": "application/json"}),
             413, "too_large"),
            (dict(content=b"source_id=a", headers={**auth, "Content-Type": "text/plain"}),
             415, "unsupported_media_type"),
            (dict(json={"source_id": "a", "text": "x"}), 401, "unauthorized"),
            (dict(json={"source_id": "a", "text": "x"},
                  headers={"Authorization": "Bearer wrong"}), 401, "unauthorized"),
        ]
        for kw, status, code in cases:
            r = await c.post(url, **kw)
            assert r.status_code == status, (kw, r.text)
            assert r.json()["error"] == code and r.json()["reason"]
            assert "Traceback" not in r.text
        # An unknown inbox answers like a wrong token: inbox names are not revealed.
        r = await c.post(f"{hub.base_url}/api/v1/inboxes/nope/messages",
                         json={"source_id": "a", "text": "x"}, headers=auth)
        assert r.status_code == 401
        # Chunked body without Content-Length over the limit.
        async def chunks():
            for _ in range(20):
                yield b"x" * 8192
        r = await c.post(url, content=chunks(), headers={**auth, "Content-Type": "application/json"})
        assert r.status_code == 413
    assert await _counts(db, redis, hub) == before


async def test_agent_rest_requires_session_role_and_origin(hub, db):
    async with httpx.AsyncClient(base_url=hub.base_url) as c:
        r = await c.get("/api/v1/conversations")
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        r = await c.get("/api/v1/conversations", cookies={"oh_session": "x" * 500})
        assert r.status_code == 401
    cookie = await login(hub.base_url)
    async with httpx.AsyncClient(base_url=hub.base_url, cookies={"oh_session": cookie}) as c:
        # Cross-site write: refused even with a valid cookie.
        r = await c.post("/api/v1/conversations/1/status", json={"status": "resolved"},
                         headers={"Origin": "https://evil.example"})
        assert r.status_code == 403
        r = await c.get("/api/v1/conversations?status=weird")
        assert r.status_code == 400
        r = await c.get("/api/v1/conversations/99999")
        assert r.status_code == 404
        r = await c.get("/api/v1/contacts/1/context")
        assert r.status_code == 403  # no conversation with this contact in agent's inboxes
    async with httpx.AsyncClient(base_url=hub.base_url) as c:
        r = await c.post("/login", data={"email": "agent1@demo.omnihub.test",
                                         "password": "wrong"}, headers={"Origin": hub.base_url})
        assert r.status_code == 303 and r.headers["location"] == "/login?error=1"
        r = await c.get("/inbox")
        assert r.status_code == 303 and r.headers["location"] == "/login"


async def test_unknown_socket_path_is_refused(hub):
    from websockets.asyncio.client import connect

    with pytest.raises(InvalidStatus):
        await connect(f"{hub.ws_url}/ws/nope", origin=hub.base_url)


# ---- crafted shapes (issue 11): deep JSON, NUL, 2^63 ----------------------------------

DEEP = b'{"a":' * 1000 + b"1" + b"}" * 1000  # ~7 KB: well within every size limit
ADMIN = ("admin@demo.omnihub.test", "demo-admin")


async def _conversation(hub, db) -> int:
    r = await api_post(hub.base_url, hub.seed["api_token"],
                       {"source_id": "fuzz-customer", "text": "hello", "message_id": new_id()})
    assert r.status_code == 202, r.text

    async def found():
        return await db.fetchval("SELECT conversation_id FROM messages WHERE text = 'hello'")

    from tests.fixtures.helpers import eventually
    return int(await eventually(found))


async def test_deep_json_gets_400_on_public_routes(hub, db, redis, bystander):
    before = await _counts(db, redis, hub)
    creds = hub.seed["messaging"]["telegram"]
    # Deep inside a field typed Any (the answers), where a typed decode cannot stop it.
    prechat = (b'{"inbox": "web", "token": "t", "client_id": "c", "text": "hi", "values": '
               + DEEP + b"}")
    async with httpx.AsyncClient(base_url=hub.base_url) as c:
        r = await c.post("/api/v1/widget/prechat", content=prechat,
                         headers={"Origin": "https://shop.example",
                                  "Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"] == "bad_json", r.text
        for path, headers in [
            ("/api/v1/widget/prechat", {"Origin": "https://shop.example"}),
            (f"/cti/{hub.seed['cti_token']}/events", {}),
            ("/webhooks/telegram/telegram",
             {"X-Telegram-Bot-Api-Secret-Token": creds["secret_token"]}),
        ]:
            r = await c.post(path, content=DEEP,
                             headers={**headers, "Content-Type": "application/json"})
            assert r.status_code == 400, (path, r.text)
            assert r.json()["error"] == "bad_json" and "nested" in r.json()["reason"]
    assert await _counts(db, redis, hub) == before


async def test_deep_json_and_2_63_ids_get_error_frames(hub, db, redis, bystander):
    before = await _counts(db, redis, hub)
    cookie = await login(hub.base_url)
    agent = await agent_ws(hub.ws_url, hub.base_url, cookie)
    await recv_json(agent)
    widget = await widget_ws(hub.ws_url, "https://shop.example")
    await recv_json(widget)
    for ws in (agent, widget):
        await ws.send(DEEP.decode())
        frame = await recv_until(ws, lambda f: f["type"] == "error")
        assert frame["code"] == "bad_json" and "nested" in frame["reason"]
    for kind in ("reply", "typing"):
        body = {"type": kind, "conversation_id": 2**63}
        body.update({"client_id": "c", "text": "hi"} if kind == "reply" else {"on": True})
        await agent.send(json.dumps(body))
        frame = await recv_until(agent, lambda f: f["type"] == "error")
        assert frame["code"] == "bad_frame" and "conversation_id" in frame["reason"], frame
    for ws in (agent, widget):
        await ws.send(json.dumps({"type": "ping"}))
        await recv_until(ws, lambda f: f["type"] == "pong")
        await ws.close()
    assert await _counts(db, redis, hub) == before


async def test_nul_in_agent_reply_is_refused_naming_the_field(hub, db, redis, bystander):
    conv = await _conversation(hub, db)
    before = await _counts(db, redis, hub)
    cookie = await login(hub.base_url, ADMIN)
    async with httpx.AsyncClient(base_url=hub.base_url, cookies={"oh_session": cookie},
                                 headers={"Origin": hub.base_url}) as c:
        r = await c.post(f"/api/v1/conversations/{conv}/messages", json={"text": "a\x00b"})
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "invalid_body" and "$.text" in r.json()["reason"]
        assert "NUL" in r.json()["reason"]
    ws = await agent_ws(hub.ws_url, hub.base_url, cookie)
    await recv_json(ws)
    await ws.send(json.dumps({"type": "reply", "conversation_id": conv, "client_id": "n",
                              "text": "a\x00b"}))
    frame = await recv_until(ws, lambda f: f["type"] == "error")
    assert frame["code"] == "bad_frame" and "$.text" in frame["reason"], frame
    # The same reply without the NUL goes through: the socket is fine.
    await ws.send(json.dumps({"type": "reply", "conversation_id": conv, "client_id": "ok",
                              "text": "ab"}))
    assert (await recv_until(ws, lambda f: f["type"] == "ack"))["client_id"] == "ok"
    await ws.close()
    assert (await _counts(db, redis, hub))[0] == before[0] + 1  # only the clean reply


async def test_nul_in_query_and_login_form_is_refused(hub, db, bystander):
    cookie = await login(hub.base_url)
    async with httpx.AsyncClient(base_url=hub.base_url, cookies={"oh_session": cookie}) as c:
        r = await c.get("/api/v1/conversations?inbox=%00")
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "bad_input" and "inbox" in r.json()["reason"]
        r = await c.get("/api/v1/admin/inboxes/web%00")
        assert r.status_code == 400 and "path" in r.json()["reason"]
    sessions = await db.fetchval("SELECT count(*) FROM sessions")
    async with httpx.AsyncClient(base_url=hub.base_url) as c:
        for field in ("email", "password"):
            data = {"email": "agent1@demo.omnihub.test", "password": "demo-agent"}
            data[field] = data[field] + "\x00"
            r = await c.post("/login", data=data, headers={"Origin": hub.base_url})
            assert r.status_code == 400, r.text
            assert r.json()["reason"].startswith(field)
    assert await db.fetchval("SELECT count(*) FROM sessions") == sessions


async def test_invalid_utf8_text_frame_closes_1007_and_others_carry_on(hub, db, redis,
                                                                        bystander):
    before = await _counts(db, redis, hub)
    cookie = await login(hub.base_url)
    for ws in (await widget_ws(hub.ws_url, "https://shop.example"),
               await agent_ws(hub.ws_url, hub.base_url, cookie)):
        await recv_json(ws)
        await ws.send(b'{"type": "ping", "x": "\xff\xfe"}', text=True)
        assert await _closed_code(ws) == 1007  # invalid frame payload data (RFC 6455)
    assert await _counts(db, redis, hub) == before
