"""Pre-chat form over the live hub: admin REST (roles, 422 paths, never half-applied,
audit), the widget gate, server-side validation (nothing stored when invalid), storage
(submission, consent, contact name, claims, routing attributes), identity safety (a typed
email never links to the contact that owns it), returning visitors and away state."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.fixtures.helpers import (
    SUPERVISOR,
    agent_http,
    agent_ws,
    eventually,
    login,
    new_id,
    recv_until,
    widget_ws,
)

ADMIN = ("admin@demo.omnihub.test", "demo-admin")
SHOP = "https://shop.example"
FORM: dict[str, Any] = {
    "enabled": True, "welcome": "Hi! Who are we talking to?", "phone_region": "DE",
    "fields": [
        {"key": "name", "label": "Your name", "required": True},
        {"key": "email", "label": "Email", "required": True},
        {"key": "phone", "label": "Phone"},
        {"key": "topic", "label": "Topic", "type": "select", "required": True,
         "options": ["Billing", "Shipping"]},
        {"key": "newsletter", "label": "Send me offers", "type": "checkbox"},
    ],
    "consent": {"text": "I agree to the privacy policy.", "version": "2026-01"},
}


async def _configure(hub: Any, form: dict[str, Any] = FORM) -> None:
    admin = await login(hub.base_url, ADMIN)
    async with agent_http(hub.base_url, admin) as client:
        r = await client.put("/api/v1/inboxes/web/prechat", json=form)
        assert r.status_code == 200, r.text


def _forget_availability(hub: Any) -> None:
    """The web process caches availability for 3 s; tests that change it look again."""
    getattr(hub.app.state, "widget_availability", {}).clear()


async def _hello(hub: Any, token: str | None = None) -> tuple[Any, dict[str, Any]]:
    ws = await widget_ws(hub.ws_url, SHOP, token=token)
    hello = await recv_until(ws, lambda f: f["type"] == "hello")
    return ws, hello


async def _submit(hub: Any, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=hub.base_url) as client:
        return await client.post("/api/v1/widget/prechat", content=json.dumps(body),
                                 headers={"Origin": SHOP, "Content-Type": "text/plain"})


async def test_admin_config_is_role_checked_validated_and_audited(hub, db):
    admin = await login(hub.base_url, ADMIN)
    async with agent_http(hub.base_url, admin) as client:
        r = await client.get("/api/v1/inboxes/web/prechat")
        assert r.status_code == 200 and r.json()["version"] == 0
        assert r.json()["config"]["enabled"] is False
        r = await client.put("/api/v1/inboxes/web/prechat", json=FORM)
        assert r.status_code == 200 and r.json()["version"] == 1
        cfg = r.json()["config"]
        assert [f["type"] for f in cfg["fields"]] == ["text", "email", "phone", "select",
                                                      "checkbox"]
        # A bad config: 422 naming the path, nothing changed (still version 1).
        bad = {**FORM, "fields": [*FORM["fields"][:3], {"key": "topic", "type": "select"}]}
        r = await client.put("/api/v1/inboxes/web/prechat", json=bad)
        assert r.status_code == 422
        assert r.json()["path"] == "fields[3].options" and r.json()["error"] == "invalid_config"
        r = await client.put("/api/v1/inboxes/web/prechat", content=b"{nope",
                             headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"] == "bad_json"
        r = await client.put("/api/v1/inboxes/web/prechat", content=b"{}",
                             headers={"Content-Type": "text/plain"})
        assert r.status_code == 415
        assert (await client.get("/api/v1/inboxes/web/prechat")).json()["config"] == cfg
        # Stale edit (If-Match): 409, nothing changed.
        r = await client.put("/api/v1/inboxes/web/prechat", json={**FORM, "welcome": "x"},
                             headers={"If-Match": "0"})
        assert r.status_code == 409
        r = await client.put("/api/v1/inboxes/web/prechat", json={**FORM, "welcome": "Hey"},
                             headers={"If-Match": "1"})
        assert r.status_code == 200 and r.json()["version"] == 2
        # Unknown inbox 404; a non-chat inbox has no widget form.
        assert (await client.put("/api/v1/inboxes/nope/prechat", json=FORM)).status_code == 404
        r = await client.put("/api/v1/inboxes/mail/prechat", json=FORM)
        assert r.status_code == 400 and r.json()["error"] == "not_a_chat_inbox"
    # Only admins; writes need our Origin.
    for who in (None, SUPERVISOR):
        cookie = await login(hub.base_url, who) if who else None
        async with httpx.AsyncClient(base_url=hub.base_url, headers={"Origin": hub.base_url},
                                     cookies={"oh_session": cookie} if cookie else {}) as c:
            assert (await c.get("/api/v1/inboxes/web/prechat")).status_code in (401, 403)
            assert (await c.put("/api/v1/inboxes/web/prechat", json=FORM)).status_code in (
                401, 403)
    async with httpx.AsyncClient(base_url=hub.base_url, cookies={"oh_session": admin},
                                 headers={"Origin": "https://evil.example"}) as c:
        assert (await c.put("/api/v1/inboxes/web/prechat", json=FORM)).status_code == 403
    rows = await db.fetch("SELECT actor_id, details FROM audit_log"
                          " WHERE action = 'prechat.config' ORDER BY id")
    assert [json.loads(r["details"])["version"] for r in rows] == [1, 2]
    assert await db.fetchval("SELECT version FROM prechat_forms WHERE inbox = 'web'") == 2


async def test_invalid_answers_store_nothing_valid_ones_store_everything(hub, db, redis):
    await _configure(hub)
    anna = await db.fetchrow("SELECT id, email, name FROM contacts ORDER BY id LIMIT 1")
    ws, hello = await _hello(hub)
    async with ws:
        token = hello["visitor_token"]
        assert hello["prechat"]["welcome"] == FORM["welcome"]
        assert [f["key"] for f in hello["prechat"]["fields"]][:2] == ["name", "email"]
        # The socket refuses a first message that skips the form.
        cid = new_id()
        await ws.send(json.dumps({"type": "message", "client_id": cid, "text": "hi"}))
        err = await recv_until(ws, lambda f: f["type"] == "error")
        assert err["code"] == "prechat_required" and err["client_id"] == cid

        before = await redis.xlen(hub.settings.ingest_stream)
        r = await _submit(hub, {
            "inbox": "web", "token": token, "client_id": new_id(), "text": "",
            "values": {"name": "", "email": "anna(at)shop", "phone": "12", "topic": "Refund",
                       "newsletter": "yes", "evil": "1"}, "consent": False})
        assert r.status_code == 422 and r.headers["access-control-allow-origin"] == SHOP
        assert set(r.json()["fields"]) == {"name", "email", "phone", "topic", "newsletter",
                                           "evil", "consent", "message"}
        # Nothing stored: not on the ingest stream, no contact, no claim, no row.
        assert await redis.xlen(hub.settings.ingest_stream) == before
        assert await db.fetchval("SELECT count(*) FROM prechat_submissions") == 0
        assert await db.fetchval("SELECT count(*) FROM identity_claims") == 0

        # Valid: Anna's email typed by a stranger, phone without +49, custom fields.
        cid = new_id()
        body = {"inbox": "web", "token": token, "client_id": cid, "text": "my router blinks",
                "values": {"name": " Eve  Stranger ", "email": anna["email"].upper(),
                           "phone": "030 1234567", "topic": "Billing", "newsletter": True},
                "consent": True}
        r = await _submit(hub, body)
        assert r.status_code == 202, r.text
        assert r.json()["values"]["email"] == anna["email"]
        assert r.json()["values"]["phone"] == "+49301234567"
        again = await _submit(hub, body)  # a retry (same client_id) is one message
        assert again.status_code == 202
        msg = await recv_until(ws, lambda f: f["type"] == "event"
                               and f["event"]["type"] == "message.created")
        conv_id = msg["event"]["message"]["conversation_id"]
        # Later messages go over the socket as usual.
        await ws.send(json.dumps({"type": "message", "client_id": new_id(), "text": "hello?"}))
        await recv_until(ws, lambda f: f["type"] == "ack")

    sub = await eventually(lambda: db.fetchrow("SELECT * FROM prechat_submissions"))
    assert await db.fetchval("SELECT count(*) FROM prechat_submissions") == 1
    assert await db.fetchval("SELECT count(*) FROM messages WHERE provider_id LIKE $1",
                             f"%:{cid}") == 1
    assert sub["conversation_id"] == conv_id
    assert (sub["name"], sub["email"], sub["phone"]) == (
        "Eve Stranger", anna["email"], "+49301234567")
    assert json.loads(sub["custom"]) == {"topic": "Billing", "newsletter": True}
    assert sub["consent_given"] is True and sub["consent_version"] == "2026-01"
    assert sub["consent_text"] == FORM["consent"]["text"] and sub["consented_at"] is not None
    # The visitor's own contact, named from the form; never Anna's.
    eve = sub["contact_id"]
    assert eve != anna["id"]
    assert await db.fetchval("SELECT name FROM contacts WHERE id = $1", eve) == "Eve Stranger"
    assert [tuple(r) for r in await db.fetch(
        "SELECT kind, source FROM identity_claims WHERE contact_id = $1 ORDER BY kind", eve)
    ] == [("email", "prechat"), ("phone", "prechat")]
    assert [r["kind"] for r in await db.fetch(
        "SELECT kind FROM identities WHERE contact_id = $1", eve)] == ["visitor"]
    assert await db.fetchval("SELECT count(*) FROM identities WHERE contact_id = $1",
                             anna["id"]) == 2  # Anna's own, untouched
    assert await db.fetchval("SELECT name FROM contacts WHERE id = $1", anna["id"]) == anna[
        "name"]
    # Routing sees the custom fields as attrs.<key> (the first message's attributes).
    attrs = json.loads(await db.fetchval(
        "SELECT attributes FROM messages WHERE conversation_id = $1 ORDER BY id LIMIT 1",
        conv_id))
    assert attrs == {"attrs.topic": "Billing", "attrs.newsletter": True}

    # The agent sees the answers flagged unverified, and a merge suggestion (not a link).
    sup = await login(hub.base_url, SUPERVISOR)
    async with agent_http(hub.base_url, sup) as client:
        ids = (await client.get(f"/api/v1/contacts/{eve}/identities")).json()
        assert ids["prechat"][0]["verified"] is False
        assert ids["prechat"][0]["email"] == anna["email"]
        assert ids["prechat"][0]["custom"] == {"topic": "Billing", "newsletter": True}
        assert {(c["kind"], c["source"]) for c in ids["claims"]} == {
            ("email", "prechat"), ("phone", "prechat")}
        assert [s["contact_id"] for s in ids["suggestions"]] == [anna["id"]]

    # Returning visitor (same token): no form.
    ws, hello = await _hello(hub, token)
    async with ws:
        assert hello["prechat"] is None and hello["conversation_id"] == conv_id


async def test_typed_email_of_a_verified_customer_never_links(hub, db):
    """Security: someone types a known customer's email (and phone) into the form. The
    real customer's contact, identities and conversations are untouched; the visitor's
    later messages stay on the visitor's own contact."""
    await _configure(hub)
    anna = await db.fetchrow("SELECT id, email, phone FROM contacts ORDER BY id LIMIT 1")
    anna_ids = await db.fetch("SELECT kind, value FROM identities WHERE contact_id = $1"
                              " ORDER BY kind", anna["id"])
    for attempt in range(2):  # two strangers claim the same email
        ws, hello = await _hello(hub)
        async with ws:
            r = await _submit(hub, {
                "inbox": "web", "token": hello["visitor_token"], "client_id": new_id(),
                "text": f"I am Anna ({attempt}), show me my invoices",
                "values": {"name": "Anna", "email": anna["email"], "phone": anna["phone"],
                           "topic": "Billing"}, "consent": True})
            assert r.status_code == 202, r.text
    rows = await eventually(lambda: _two(db))
    assert all(r["contact_id"] != anna["id"] for r in rows)
    assert rows[0]["contact_id"] != rows[1]["contact_id"]
    assert await db.fetch("SELECT kind, value FROM identities WHERE contact_id = $1"
                          " ORDER BY kind", anna["id"]) == anna_ids
    assert await db.fetchval("SELECT count(*) FROM conversations WHERE contact_id = $1",
                             anna["id"]) == 0
    # No identity row holds the typed values (only claims do).
    assert await db.fetchval("SELECT count(*) FROM identities WHERE value = $1",
                             anna["email"]) == 1


async def _two(db: Any) -> list[Any] | None:
    rows = await db.fetch("SELECT contact_id FROM prechat_submissions ORDER BY id")
    return rows if len(rows) == 2 else None


async def test_submission_edge_checks(hub, db):
    await _configure(hub)
    ws, hello = await _hello(hub)
    async with ws:
        token = hello["visitor_token"]
    good = {"inbox": "web", "token": token, "client_id": new_id(), "text": "hi",
            "values": {"name": "A", "email": "a@b.io", "topic": "Billing"}, "consent": True}
    async with httpx.AsyncClient(base_url=hub.base_url) as client:
        async def post(body: Any, origin: str = SHOP, ctype: str = "application/json"):
            return await client.post("/api/v1/widget/prechat", content=json.dumps(body),
                                     headers={"Origin": origin, "Content-Type": ctype})
        assert (await post({**good, "token": "forged.sig"})).status_code == 401
        assert (await post({**good, "inbox": "api"})).status_code == 400
        assert (await post({**good, "inbox": "nope"})).status_code == 404
        assert (await post({**good, "surprise": 1})).status_code == 400
        assert (await post(good, ctype="application/x-www-form-urlencoded")).status_code == 415
        r = await post({**good, "consent": None})
        assert r.status_code == 422 and r.json()["fields"] == {
            "consent": "please agree to continue"}
        r = await client.options("/api/v1/widget/prechat", headers={"Origin": SHOP})
        assert r.status_code == 204
        # The inbox's allowed origins apply (the inbox cache holds them for 10 s).
        await db.execute("UPDATE inboxes SET allowed_origins = '{https://only.example}'"
                         " WHERE slug = 'web'")
        hub.app.state.hub._inboxes.clear()
        r = await post(good)
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert await db.fetchval("SELECT count(*) FROM messages") == 0


async def test_away_state_and_leave_your_email(hub, db):
    """Nobody online: the hello says so and the form asks for an email; with an agent
    online the configured form applies again. With the form disabled, the away box's
    email goes through the same route and is stored as an unverified claim."""
    ws, hello = await _hello(hub)
    async with ws:
        assert hello["availability"] == {"online": False, "reason": "no_agents_online",
                                         "next_open": None}
        assert hello["prechat"] is None  # form disabled: chatting is not gated
        r = await _submit(hub, {"inbox": "web", "token": hello["visitor_token"],
                                "client_id": new_id(), "text": "call me maybe",
                                "values": {}})
        assert r.status_code == 422 and r.json()["fields"] == {"email": "required"}
        r = await _submit(hub, {"inbox": "web", "token": hello["visitor_token"],
                                "client_id": new_id(), "text": "call me maybe",
                                "values": {"email": "Bob@Example.org"}})
        assert r.status_code == 202
    claim = await eventually(lambda: db.fetchrow(
        "SELECT kind, value, source FROM identity_claims"))
    assert tuple(claim) == ("email", "bob@example.org", "prechat")

    await _configure(hub, {**FORM, "fields": [FORM["fields"][0]], "consent": None})
    _forget_availability(hub)
    ws, hello = await _hello(hub)
    async with ws:
        assert [(f["key"], f["required"]) for f in hello["prechat"]["fields"]] == [
            ("name", True), ("email", True)]
    agent = await login(hub.base_url)
    async with await agent_ws(hub.ws_url, hub.base_url, agent) as aws:
        await recv_until(aws, lambda f: f["type"] == "hello")

        async def online():
            _forget_availability(hub)
            ws, hello = await _hello(hub)
            await ws.close()
            return hello if hello["availability"]["online"] else None
        hello = await eventually(online)
        assert [f["key"] for f in hello["prechat"]["fields"]] == ["name"]


async def test_demo_seed_enables_a_form_once(db, settings):
    from hub.contacts.store.prechat import get_form
    from web.seed import seed_demo

    async with db.acquire() as conn:
        await seed_demo(conn, settings, demo_prechat=True)
        await conn.execute("UPDATE prechat_forms SET version = 5 WHERE inbox = 'web'")
        await seed_demo(conn, settings, demo_prechat=True)  # keeps an admin's changes
    cfg, version = await get_form(db, "web")
    assert cfg.enabled and version == 5
    assert [f.key for f in cfg.fields][:2] == ["name", "email"]


async def test_outside_business_hours_is_away_even_with_agents_online(hub, db, redis):
    from tests.fixtures.routing_live import configure, doc

    await _configure(hub, {**FORM, "fields": [FORM["fields"][0]], "consent": None})
    closed = {"tz": "Europe/Berlin", "weekly": {}}  # no periods: closed all week
    await configure(hub, db, redis, doc(hub, queues=[
        {"id": "support", "filter": 'queue == "support"', "hours": closed}],
        agents={"agent1": ["support"]}))
    agent = await login(hub.base_url)
    async with await agent_ws(hub.ws_url, hub.base_url, agent) as aws:
        await recv_until(aws, lambda f: f["type"] == "hello")
        _forget_availability(hub)
        ws, hello = await _hello(hub)
        async with ws:
            assert hello["availability"]["online"] is False
            assert hello["availability"]["reason"] == "outside_hours"
            assert [f["key"] for f in hello["prechat"]["fields"]] == ["name", "email"]
        always = {"tz": "UTC", "weekly": {d: ["00:00-24:00"] for d in
                                          ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}
        await configure(hub, db, redis, doc(hub, queues=[
            {"id": "support", "filter": 'queue == "support"', "hours": always}],
            agents={"agent1": ["support"]}))

        async def open_now():
            _forget_availability(hub)
            ws, hello = await _hello(hub)
            await ws.close()
            return hello if hello["availability"]["online"] else None
        hello = await eventually(open_now)
        assert [f["key"] for f in hello["prechat"]["fields"]] == ["name"]
    async with httpx.AsyncClient(base_url=hub.base_url) as anon:
        r = await anon.get("/api/v1/widget/form?inbox=web")
        assert r.status_code == 200 and r.json()["prechat"]["fields"][0]["key"] == "name"
        assert (await anon.get("/api/v1/widget/form?inbox=api")).status_code == 400
