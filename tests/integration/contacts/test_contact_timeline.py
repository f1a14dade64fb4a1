"""One customer across chat, SMS and email over the live hub: the agent gets one
timeline on the contact (REST), scoped to their inboxes; pre-chat claims show up as
merge suggestions, never as links."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
from websockets.asyncio.client import connect

from hub.schema import Envelope, Identity, encode
from tests.fixtures.helpers import SUPERVISOR, agent_http, eventually, login, new_id, recv_until


async def _ingest(redis, settings, env: Envelope) -> None:
    await redis.xadd(settings.ingest_stream, {"env": encode(env)})


def _env(channel: str, inbox: str, kind: str, value: str, text: str) -> Envelope:
    return Envelope(channel=channel, channel_account=inbox, provider_id=new_id(),  # type: ignore[arg-type]
                    sender=Identity(kind=kind, value=value), text=text,  # type: ignore[arg-type]
                    received_at=datetime.now(UTC))


async def _chat(hub, query: str, text: str) -> None:
    async with connect(f"{hub.ws_url}/ws/widget?inbox=web&{query}",
                       origin="https://shop.example") as ws:
        await recv_until(ws, lambda f: f["type"] == "hello")
        await ws.send(json.dumps({"type": "message", "client_id": new_id(), "text": text}))
        await recv_until(ws, lambda f: f["type"] == "ack")


async def test_one_timeline_across_channels(hub, db, redis):
    await db.execute("INSERT INTO inboxes (slug, name, channel, default_queue)"
                     " VALUES ('sms', 'SMS', 'sms', 'support')")
    anna = await db.fetchrow("SELECT id, email, phone FROM contacts ORDER BY id LIMIT 1")
    user_hash = hmac.new(hub.seed["identity_secret"].encode(), anna["email"].encode(),
                         hashlib.sha256).hexdigest()
    await _chat(hub, f"email={quote(anna['email'])}&hash={user_hash}", "chat: router blinks")
    await _ingest(redis, hub.settings, _env("sms", "sms", "phone", anna["phone"], "sms: still"))
    await _ingest(redis, hub.settings,
                  _env("email", "mail", "email", anna["email"], "email: invoice"))

    sup = await login(hub.base_url, SUPERVISOR)
    async with agent_http(hub.base_url, sup) as client:
        async def three():
            r = await client.get(f"/api/v1/contacts/{anna['id']}/timeline")
            return r.json() if len(r.json()["items"]) == 3 else None
        page = await eventually(three)
        texts = [i["message"]["text"] for i in page["items"]]
        assert sorted(texts) == ["chat: router blinks", "email: invoice", "sms: still"]
        assert {i["message"]["channel"] for i in page["items"]} == {"chat", "sms", "email"}
        assert {i["inbox"] for i in page["items"]} == {"web", "sms", "mail"}
        ids = [i["message"]["id"] for i in page["items"]]
        assert ids == sorted(ids) and page["next_before"] is None
        assert len({i["message"]["conversation_id"] for i in page["items"]}) == 3

        first = (await client.get(f"/api/v1/contacts/{anna['id']}/timeline?limit=2")).json()
        assert [i["message"]["id"] for i in first["items"]] == ids[1:]
        rest = (await client.get(f"/api/v1/contacts/{anna['id']}/timeline"
                                 f"?limit=2&before={first['next_before']}")).json()
        assert [i["message"]["id"] for i in rest["items"]] == ids[:1]

        for bad in ("limit=0", "limit=201", "before=abc", "before=-1"):
            r = await client.get(f"/api/v1/contacts/{anna['id']}/timeline?{bad}")
            assert r.status_code == 400 and r.json()["error"] == "bad_input", bad
        r = await client.get("/api/v1/contacts/987654/timeline")
        assert r.status_code == 404 and r.json()["error"] == "not_found"

    # An agent sees only the conversations of their inboxes (not 'sms').
    agent = await login(hub.base_url)
    async with agent_http(hub.base_url, agent) as client:
        page = (await client.get(f"/api/v1/contacts/{anna['id']}/timeline")).json()
        assert {i["inbox"] for i in page["items"]} == {"web", "mail"}
    async with httpx.AsyncClient(base_url=hub.base_url) as anon:
        r = await anon.get(f"/api/v1/contacts/{anna['id']}/timeline")
        assert r.status_code == 401


async def test_prechat_claim_is_a_suggestion_not_a_link(hub, db):
    anna = await db.fetchrow("SELECT id, email FROM contacts ORDER BY id LIMIT 1")
    await _chat(hub, f"prechat_email={quote(anna['email'].upper())}", "hello, it's anna")
    eve = await eventually(lambda: db.fetchval(
        "SELECT contact_id FROM identity_claims WHERE value = $1", anna["email"]))
    assert eve != anna["id"]
    sup = await login(hub.base_url, SUPERVISOR)
    async with agent_http(hub.base_url, sup) as client:
        mine = (await client.get(f"/api/v1/contacts/{eve}/identities")).json()
        assert [i["kind"] for i in mine["identities"]] == ["visitor"]
        assert [(c["kind"], c["value"], c["source"]) for c in mine["claims"]] == [
            ("email", anna["email"], "chat")]
        assert mine["suggestions"] == [{"contact_id": anna["id"], "name": mine["suggestions"][0][
            "name"], "why": "owns_claim", "identity": f"email:{anna['email']}"}]
        theirs = (await client.get(f"/api/v1/contacts/{anna['id']}/identities")).json()
        assert [s["contact_id"] for s in theirs["suggestions"]] == [eve]
        assert theirs["suggestions"][0]["why"] == "claims_identity"
    # A malformed pre-chat email refuses the handshake (1008), nothing stored.
    async with connect(f"{hub.ws_url}/ws/widget?inbox=web&prechat_email=nope",
                       origin="https://shop.example") as ws:
        try:
            await ws.recv()
        except Exception:
            pass
        assert ws.close_code == 1008
