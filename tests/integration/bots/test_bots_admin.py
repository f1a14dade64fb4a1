"""Bot administration against the live hub (docs/bots.md): disable closes the bot's
sockets and hands its conversations to humans, enable restores new items only, token
rotation revokes the old token on REST and sockets (at once or after a grace period),
and every bad request to the new routes is a 4xx JSON that changes nothing."""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.fixtures.bots import ADMIN, bot_ws, make_bot
from tests.fixtures.helpers import (
    agent_http,
    eventually,
    login,
    new_id,
    recv_json,
    recv_until,
    widget_ws,
)


async def customer_says(hub, text: str, visitor: str | None = None):
    widget = await widget_ws(hub.ws_url, "https://shop.example")
    await recv_json(widget)
    await widget.send(json.dumps({"type": "message", "client_id": new_id(), "text": text}))
    return widget


async def closed_with(ws) -> tuple[int | None, str | None]:
    with pytest.raises(ConnectionClosed):
        while True:
            await recv_json(ws, timeout=15)
    return ws.close_code, ws.close_reason


async def item_of(db, text: str):
    async def find():
        return await db.fetchrow(
            "SELECT w.* FROM work_items w JOIN messages m ON m.conversation_id ="
            " w.conversation_id WHERE m.text = $1", text)
    return await eventually(find)


async def rest_status(hub, token: str) -> int:
    async with httpx.AsyncClient(base_url=hub.base_url) as client:
        r = await client.get("/api/v1/bot/conversations",
                             headers={"Authorization": f"Bearer {token}"})
        return r.status_code


async def test_disable_closes_sockets_hands_off_and_enable_restores_new_items(hub, db):
    bot_id, token, _ = await make_bot(hub, "Doomed")
    ws = await bot_ws(hub, token)
    assert (await recv_json(ws))["type"] == "hello"
    widget = await customer_says(hub, "hello bot")
    held = await item_of(db, "hello bot")
    assert (held["status"], held["bot_id"]) == ("bot", bot_id)
    await recv_until(ws, lambda f: f.get("type") == "event"
                     and f["event"]["type"] == "message.created")

    admin = await login(hub.base_url, ADMIN)
    async with agent_http(hub.base_url, admin) as client:
        r = await client.post(f"/api/v1/bots/{bot_id}/disable", json={})
        assert r.status_code == 200, r.text
        assert r.json()["handed_off"] == 1 and r.json()["bot"]["active"] is False
        # The socket is closed with a clear code and reason.
        assert await closed_with(ws) == (1008, "bot disabled")
        item = await db.fetchrow("SELECT status, queue, agent_id, attributes FROM work_items"
                                 " WHERE id = $1", held["id"])
        assert (item["status"], item["queue"]) == ("queued", "support")
        assert json.loads(item["attributes"])["handoff_reason"] == "bot disabled"
        # The agent sees why: a private note under the transcript.
        conv = (await client.get(f"/api/v1/conversations/{held['conversation_id']}")).json()
        notes = [m["text"] for m in conv["messages"] if m["author"]["kind"] == "system"]
        assert notes == ["Doomed handed off to support: bot disabled"]
        # The token is refused everywhere while disabled.
        assert await rest_status(hub, token) == 401
        async with await bot_ws(hub, token) as again:
            assert await closed_with(again) == (1008, "bot disabled")
        # New conversations go straight to humans (no cache delay).
        w2 = await customer_says(hub, "anyone home?")
        assert (await item_of(db, "anyone home?"))["status"] == "queued"
        # Disabling twice is harmless and audited once.
        r = await client.post(f"/api/v1/bots/{bot_id}/disable", json={})
        assert r.status_code == 200 and r.json()["handed_off"] == 0

        r = await client.post(f"/api/v1/bots/{bot_id}/enable", json={})
        assert r.status_code == 200 and r.json()["bot"]["active"] is True
    assert await rest_status(hub, token) == 200
    # Enable restores the bot for new items only: the handed-off one stays with humans.
    await w2.close()
    w3 = await widget_ws(hub.ws_url, "https://other-shop.example")
    await recv_json(w3)
    await w3.send(json.dumps({"type": "message", "client_id": new_id(), "text": "back?"}))
    assert (await item_of(db, "back?"))["status"] == "bot"
    assert (await db.fetchval("SELECT status FROM work_items WHERE id = $1", held["id"])
            == "queued")
    actions = [r["action"] for r in await db.fetch(
        "SELECT action FROM audit_log WHERE subject = $1 ORDER BY id", f"bot:{bot_id}")]
    assert actions == ["bot.create", "bot.disable", "bot.enable"]
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'bot.handoff'"
                             " AND details->>'by' = 'disabled'") == 1
    for w in (widget, w3):
        await w.close()


async def test_token_rotation_revokes_the_old_token_on_rest_and_socket(hub, db):
    bot_id, old, _ = await make_bot(hub, "Rotor")
    ws = await bot_ws(hub, old)
    await recv_json(ws)
    admin = await login(hub.base_url, ADMIN)
    async with agent_http(hub.base_url, admin) as client:
        r = await client.post(f"/api/v1/bots/{bot_id}/token", json={})
        assert r.status_code == 200, r.text
        new = r.json()["token"]
        assert r.json()["old_token_valid_until"] is None and new != old
        assert await closed_with(ws) == (1008, "token revoked")
        assert await rest_status(hub, old) == 401
        assert await rest_status(hub, new) == 200
        live = await bot_ws(hub, new)
        assert (await recv_json(live))["type"] == "hello"

        # With a grace period the previous token works until it ends, then stops.
        r = await client.post(f"/api/v1/bots/{bot_id}/token", json={"grace_s": 2})
        newest = r.json()["token"]
        assert r.json()["old_token_valid_until"] is not None
        assert await rest_status(hub, new) == 200
        assert await rest_status(hub, newest) == 200
        assert await rest_status(hub, old) == 401  # two rotations ago: never again
        assert await closed_with(live) == (1008, "token revoked")
        assert await rest_status(hub, new) == 401
        stored = await db.fetchrow("SELECT token_hash FROM bots WHERE id = $1", bot_id)
        assert newest not in stored["token_hash"]
    actions = [r["action"] for r in await db.fetch(
        "SELECT action FROM audit_log WHERE subject = $1 ORDER BY id", f"bot:{bot_id}")]
    assert actions == ["bot.create", "bot.token_rotate", "bot.token_rotate"]


async def test_new_bot_routes_refuse_bad_input_and_change_nothing(hub, db):
    bot_id, _, _ = await make_bot(hub, "Solid", queue=None,
                                  webhook_url="http://127.0.0.1:9/hook")
    before = dict(await db.fetchrow("SELECT * FROM bots WHERE id = $1", bot_id))
    audit = await db.fetchval("SELECT count(*) FROM audit_log")
    base = f"/api/v1/bots/{bot_id}"
    agent = await login(hub.base_url)
    async with agent_http(hub.base_url, agent) as client:
        for method, path, body in (("PATCH", base, {"name": "x"}),
                                   ("POST", f"{base}/disable", {}),
                                   ("POST", f"{base}/enable", {}),
                                   ("POST", f"{base}/token", {}),
                                   ("POST", f"{base}/webhook-secret", {}),
                                   ("GET", f"{base}/deliveries", None)):
            r = await client.request(method, path, json=body)
            assert r.status_code == 403, (path, r.text)
    admin = await login(hub.base_url, ADMIN)
    async with agent_http(hub.base_url, admin) as client:
        cases = [
            ("POST", "/api/v1/bots", {"name": "a", "webhook_url": "ftp://x.example/"}, 400),
            ("POST", "/api/v1/bots", {"name": "a", "handoff_after_s": -1}, 400),
            ("PATCH", base, {"webhook_url": "javascript:alert(1)"}, 400),
            ("PATCH", base, {"webhook_url": "http://"}, 400),
            ("PATCH", base, {"webhook_url": "http://a b.example/"}, 400),
            ("PATCH", base, {"webhook_url": "http://h.example:99999/"}, 400),
            ("PATCH", base, {"webhook_url": "https://h.example/" + "x" * 2000}, 400),
            ("PATCH", base, {"webhook_url": 5}, 400),
            ("PATCH", base, {"handoff_after_s": 86401}, 400),
            ("PATCH", base, {"handoff_after_s": "soon"}, 400),
            ("PATCH", base, {"name": ""}, 400),
            ("PATCH", base, {"colour": "red"}, 400),
            ("PATCH", base, {}, 400),
            ("PATCH", "/api/v1/bots/999999", {"name": "ghost"}, 404),
            ("POST", f"{base}/disable", {"now": True}, 400),
            ("POST", "/api/v1/bots/999999/disable", {}, 404),
            ("POST", "/api/v1/bots/999999/enable", {}, 404),
            ("POST", f"{base}/token", {"grace_s": 3601}, 400),
            ("POST", f"{base}/token", {"grace_s": -1}, 400),
            ("POST", f"{base}/token", {"grace_s": "1h"}, 400),
            ("POST", "/api/v1/bots/999999/token", {}, 404),
            ("POST", f"{base}/webhook-secret", {"grace_s": 99999}, 400),
            ("POST", "/api/v1/bots/999999/webhook-secret", {}, 404),
            ("GET", f"{base}/deliveries?status=lost", None, 400),
            ("GET", f"{base}/deliveries?limit=0", None, 400),
            ("GET", f"{base}/deliveries?limit=x", None, 400),
            ("GET", f"{base}/deliveries?conversation_id=-3", None, 400),
            ("GET", "/api/v1/bots/999999/deliveries", None, 404),
        ]
        for method, path, body, code in cases:
            r = await client.request(method, path, json=body)
            assert r.status_code == code, (method, path, body, r.text)
            assert r.json()["reason"], r.text
        r = await client.post(f"{base}/token", content=b"{}",
                              headers={"Content-Type": "text/plain"})
        assert r.status_code == 415
        r = await client.post(f"{base}/token", content=b"{not json",
                              headers={"Content-Type": "application/json"})
        assert r.status_code == 400
        assert (await client.get(f"{base}/deliveries")).json() == {"deliveries": []}
    assert dict(await db.fetchrow("SELECT * FROM bots WHERE id = $1", bot_id)) == before
    assert await db.fetchval("SELECT count(*) FROM bots") == 1
    assert await db.fetchval("SELECT count(*) FROM audit_log") == audit
