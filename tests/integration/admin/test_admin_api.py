"""Admin REST for inboxes, provider accounts and agents, against the live hub: an admin
creates an SMS inbox and its Twilio account, and a signed webhook for that number lands
in it; API tokens work at once and rotate; secrets are shown once, then masked and never
audited; agents are created, restricted, deactivated (sessions end); every refusal
changes nothing. The pure rules first."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from hub.admin.rules import AccountBody, check_account, check_origins, masked
from hub.errors import BadInput
from tests.fixtures.fake_providers import Webhooks
from tests.fixtures.helpers import agent_http, eventually, login
from tests.fixtures.messaging import PUBLIC_URL, fake_port, settings

__all__ = ["fake_port", "settings"]  # fixtures used by this module

ADMIN = ("admin@demo.omnihub.test", "demo-admin")
SUPERVISOR = ("supervisor@demo.omnihub.test", "demo-super")
SID, TOKEN = "AC" + "1" * 32, "ab" * 16


# ---- pure rules -----------------------------------------------------------------------


def test_twilio_account_rules_and_kept_secrets():
    row = check_account("sms", AccountBody(provider="twilio", external_id="+4930901820",
                                           account_sid=SID, auth_token=TOKEN), {})
    assert (row["external_id"], row["account_sid"], row["auth_token"]) == (
        "+4930901820", SID, TOKEN)
    wa = check_account("whatsapp", AccountBody(provider="twilio", external_id="+4930901820",
                                               account_sid=SID, auth_token=TOKEN), {})
    assert wa["external_id"] == "whatsapp:+4930901820"
    # Left out: the stored secret stays; another provider: nothing carries over.
    kept = check_account("sms", AccountBody(provider="twilio", external_id="+4930901821"),
                         {"provider": "twilio", "account_sid": SID, "auth_token": TOKEN})
    assert kept["auth_token"] == TOKEN
    with pytest.raises(BadInput, match="account_sid: required"):
        check_account("whatsapp", AccountBody(provider="twilio", external_id="+4930901821"),
                      {"provider": "meta", "access_token": "x" * 20})
    for body, reason in [
        (AccountBody(provider="twilio", external_id="030 901820", account_sid=SID,
                     auth_token=TOKEN), "external_id"),
        (AccountBody(provider="twilio", external_id="+4930901820", account_sid="AC12",
                     auth_token=TOKEN), "account_sid"),
        (AccountBody(provider="twilio", external_id="+4930901820", account_sid=SID,
                     auth_token="secret"), "auth_token"),
        (AccountBody(provider="meta", external_id="+4930901820"), "provider"),
    ]:
        with pytest.raises(BadInput, match=reason):
            check_account("sms", body, {})


def test_meta_and_telegram_account_rules():
    ok = check_account("messenger", AccountBody(
        provider="meta", external_id="100000000000009", access_token="EAA" + "x" * 30,
        app_secret="s" * 32, verify_token="verify-me"), {})
    assert ok["provider"] == "meta" and ok["verify_token"] == "verify-me"
    with pytest.raises(BadInput, match="verify_token"):
        check_account("messenger", AccountBody(
            provider="meta", external_id="100000000000009", access_token="EAA" + "x" * 30,
            app_secret="s" * 32, verify_token="short"), {})
    token = "7000000009:" + "A" * 35
    tg = check_account("telegram", AccountBody(provider="telegram", external_id="7000000009",
                                               access_token=token, secret_token="s3cr3t_"), {})
    assert tg["access_token"] == token
    with pytest.raises(BadInput, match="bot id"):
        check_account("telegram", AccountBody(provider="telegram", external_id="7000000001",
                                              access_token=token, secret_token="x"), {})
    with pytest.raises(BadInput, match="no provider account"):
        check_account("email", AccountBody(provider="twilio", external_id="+4930901820"), {})


def test_origins_and_masking():
    assert check_origins(["https://shop.example/", "*", "https://shop.example"]) == [
        "https://shop.example", "*"]
    for bad in ["shop.example", "https://shop.example/path", "ftp://x.example",
                "https://user@shop.example"]:
        with pytest.raises(BadInput, match=r"allowed_origins\[0\]"):
            check_origins([bad])
    assert masked("") == "" and masked("short") == "…" and masked(TOKEN) == "…" + TOKEN[-4:]


# ---- live hub -------------------------------------------------------------------------


async def _admin(hub: Any, who: tuple[str, str] = ADMIN) -> httpx.AsyncClient:
    return agent_http(hub.base_url, await login(hub.base_url, who))


async def test_admin_routes_need_the_admin_role_and_origin(hub, db):
    async with httpx.AsyncClient(base_url=hub.base_url) as anon:
        assert (await anon.get("/api/v1/admin/inboxes")).status_code == 401
    async with await _admin(hub, SUPERVISOR) as sup:
        assert (await sup.get("/api/v1/admin/agents")).status_code == 403
        r = await sup.post("/api/v1/admin/inboxes", json={
            "slug": "x", "name": "X", "channel": "chat", "default_queue": "support"})
        assert r.status_code == 403
    async with await _admin(hub) as admin:
        r = await admin.post("/api/v1/admin/inboxes", headers={"Origin": "https://evil.test"},
                             json={"slug": "x", "name": "X", "channel": "chat",
                                   "default_queue": "support"})
        assert r.status_code == 403
    assert await db.fetchval("SELECT count(*) FROM inboxes WHERE slug = 'x'") == 0


async def test_bad_inbox_bodies_are_refused_and_store_nothing(hub, db):
    before = await db.fetchval("SELECT count(*) FROM inboxes")
    base = {"slug": "shop-2", "name": "Shop 2", "channel": "chat", "default_queue": "support"}
    async with await _admin(hub) as admin:
        for change, status, reason in [
            ({"slug": "Shop 2"}, 400, "slug"),
            ({"channel": "fax"}, 400, "channel"),
            ({"default_queue": "nope"}, 400, "default_queue"),
            ({"name": ""}, 400, "name"),
            ({"allowed_origins": ["shop.example"]}, 400, "allowed_origins[0]"),
            ({"email_address": "a@b.example"}, 400, "email_address"),
            ({"channel": "email"}, 400, "email_address"),
            ({"color": "red"}, 400, "color"),
            ({"slug": "web"}, 409, "exists"),
        ]:
            r = await admin.post("/api/v1/admin/inboxes", json={**base, **change})
            assert r.status_code == status, (change, r.text)
            assert reason in r.json()["reason"], (change, r.json())
        r = await admin.post("/api/v1/admin/inboxes", content=b"{",
                             headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"] == "bad_json"
        assert (await admin.patch("/api/v1/admin/inboxes/web", json={})).status_code == 400
        assert (await admin.patch("/api/v1/admin/inboxes/nope",
                                  json={"name": "x"})).status_code == 404
    assert await db.fetchval("SELECT count(*) FROM inboxes") == before


async def test_sms_inbox_and_twilio_account_receive_a_signed_webhook(hub, db):
    number = "+4930901899"
    async with await _admin(hub) as admin:
        r = await admin.post("/api/v1/admin/inboxes", json={
            "slug": "sms-berlin", "name": "SMS Berlin", "channel": "sms",
            "default_queue": "support"})
        assert r.status_code == 201, r.text
        assert r.json()["inbox"]["account"] is None
        r = await admin.put("/api/v1/admin/inboxes/sms-berlin/account", json={
            "provider": "twilio", "external_id": number, "account_sid": SID,
            "auth_token": TOKEN})
        assert r.status_code == 200, r.text
        inbox = r.json()["inbox"]
        assert inbox["account"]["auth_token"] == "…" + TOKEN[-4:]
        assert inbox["setup"]["messaging_webhook_url"] == f"{PUBLIC_URL}/webhooks/twilio/sms"
        # The same number for another inbox is refused.
        clash = await admin.put("/api/v1/admin/inboxes/twilio-sms/account", json={
            "provider": "twilio", "external_id": number})
        assert clash.status_code == 409 and clash.json()["error"] == "account_in_use"
        # Changing only the number keeps the stored token.
        r = await admin.put("/api/v1/admin/inboxes/sms-berlin/account", json={
            "provider": "twilio", "external_id": "+4930901898"})
        assert r.status_code == 200, r.text
        listing = (await admin.get("/api/v1/admin/inboxes")).json()["inboxes"]
        assert TOKEN not in json.dumps(listing)
    creds = {"sms-berlin": {"auth_token": TOKEN, "account_sid": SID,
                            "external_id": "+4930901898"}}
    async with httpx.AsyncClient(timeout=20) as client:
        hooks = Webhooks(hub.base_url, creds, client, PUBLIC_URL)
        params = hooks.twilio_inbound("sms-berlin", "+447700900123", "Is my fibre fixed?")

        async def accepted() -> bool:  # the web process's account cache catches up
            return (await hooks.twilio("sms-berlin", params)).status_code == 200
        await eventually(accepted)
    row = await eventually(lambda: db.fetchrow(
        "SELECT channel, channel_account, text FROM messages WHERE provider_id = $1",
        params["MessageSid"]))
    assert tuple(row) == ("sms", "sms-berlin", "Is my fibre fixed?")
    audits = await db.fetch("SELECT action, details::text FROM audit_log"
                            " WHERE subject = 'inbox:sms-berlin' ORDER BY id")
    assert [a["action"] for a in audits] == ["inbox.created", "inbox.account_set",
                                             "inbox.account_set"]
    assert all(TOKEN not in a["details"] for a in audits)


async def test_api_inbox_token_is_shown_once_works_and_rotates(hub, db):
    async with await _admin(hub) as admin:
        r = await admin.post("/api/v1/admin/inboxes", json={
            "slug": "crm", "name": "CRM", "channel": "api", "default_queue": "sales",
            "webhook_url": "https://crm.example/hooks/omnihub"})
        assert r.status_code == 201, r.text
        token = r.json()["secrets"]["api_token"]
        assert r.json()["inbox"]["has_api_token"] is True
        assert token not in json.dumps((await admin.get("/api/v1/admin/inboxes/crm")).json())

        async def post(tok: str) -> int:
            async with httpx.AsyncClient(base_url=hub.base_url) as c:
                r = await c.post("/api/v1/inboxes/crm/messages",
                                 headers={"Authorization": f"Bearer {tok}"},
                                 json={"source_id": "crm-user-1", "text": "Order 1234?"})
                return r.status_code
        assert await post(token) == 202
        new = (await admin.post("/api/v1/admin/inboxes/crm/rotate-secret")).json()["secrets"]
        assert set(new) == {"api_token"} and new["api_token"] != token
        assert await eventually(lambda: _status_is(post(token), 401))
        assert await post(new["api_token"]) == 202
        mail = await admin.post("/api/v1/admin/inboxes/mail/rotate-secret")
        assert mail.status_code == 400


async def _status_is(coro: Any, status: int) -> bool:
    return await coro == status


async def test_agents_are_created_restricted_and_deactivated(hub, db):
    async with await _admin(hub) as admin:
        bad = await admin.post("/api/v1/admin/agents", json={
            "email": "new.agent@demo.omnihub.test", "name": "New", "password": "short"})
        assert bad.status_code == 400 and "password" in bad.json()["reason"]
        bad = await admin.post("/api/v1/admin/agents", json={
            "email": "new.agent@demo.omnihub.test", "name": "New",
            "password": "long enough pw", "inboxes": ["nope"]})
        assert bad.status_code == 400 and "inboxes" in bad.json()["reason"]
        r = await admin.post("/api/v1/admin/agents", json={
            "email": "New.Agent@Demo.Omnihub.test", "name": "Nia New",
            "password": "long enough pw", "inboxes": ["web"]})
        assert r.status_code == 201, r.text
        new = r.json()["agent"]
        assert (new["email"], new["role"], new["inboxes"]) == (
            "new.agent@demo.omnihub.test", "agent", ["web"])
        dup = await admin.post("/api/v1/admin/agents", json={
            "email": "new.agent@demo.omnihub.test", "name": "Again",
            "password": "long enough pw"})
        assert dup.status_code == 409

        cookie = await login(hub.base_url, ("new.agent@demo.omnihub.test", "long enough pw"))
        async with agent_http(hub.base_url, cookie) as nia:
            assert (await nia.get("/api/v1/me")).json()["agent"]["inboxes"] == ["web"]
            r = await admin.patch(f"/api/v1/admin/agents/{new['id']}",
                                  json={"inboxes": ["web", "mail"], "role": "supervisor"})
            assert r.status_code == 200 and r.json()["agent"]["role"] == "supervisor"
            me = (await nia.get("/api/v1/me")).json()["agent"]
            assert (me["role"], me["inboxes"]) == ("supervisor", ["mail", "web"])
            r = await admin.patch(f"/api/v1/admin/agents/{new['id']}", json={"active": False})
            assert r.status_code == 200
            assert (await nia.get("/api/v1/me")).status_code == 401
        async with httpx.AsyncClient(base_url=hub.base_url) as c:
            r = await c.post("/login", headers={"Origin": hub.base_url}, data={
                "email": "new.agent@demo.omnihub.test", "password": "long enough pw"})
            assert r.headers["location"] == "/login?error=1"

        me = (await admin.get("/api/v1/me")).json()["agent"]
        for change in ({"active": False}, {"role": "agent"}):
            r = await admin.patch(f"/api/v1/admin/agents/{me['id']}", json=change)
            assert r.status_code == 403
        assert (await admin.patch("/api/v1/admin/agents/999999",
                                  json={"name": "x"})).status_code == 404
        listing = (await admin.get("/api/v1/admin/agents")).json()["agents"]
        assert "password_hash" not in json.dumps(listing)
    actions = [r[0] for r in await db.fetch(
        "SELECT action FROM audit_log WHERE subject = $1 ORDER BY id", f"agent:{new['id']}")]
    assert actions == ["agent.created", "agent.updated", "agent.updated"]


async def test_two_admins_demoting_each_other_leave_one_admin(hub, db):
    async with await _admin(hub) as admin:
        r = await admin.post("/api/v1/admin/agents", json={
            "email": "second.admin@demo.omnihub.test", "name": "Second", "role": "admin",
            "password": "long enough pw"})
        second_id = r.json()["agent"]["id"]
        first_id = (await admin.get("/api/v1/me")).json()["agent"]["id"]
        cookie = await login(hub.base_url, ("second.admin@demo.omnihub.test", "long enough pw"))
        async with agent_http(hub.base_url, cookie) as second:
            results = await asyncio.gather(
                admin.patch(f"/api/v1/admin/agents/{second_id}", json={"role": "agent"}),
                second.patch(f"/api/v1/admin/agents/{first_id}", json={"role": "agent"}))
    # Whichever went first wins; the other is refused (no longer an admin, or the last).
    assert sorted(r.status_code for r in results) in ([200, 403], [200, 409])
    assert await db.fetchval("SELECT count(*) FROM agents WHERE role = 'admin' AND active") == 1


async def test_the_last_active_admin_cannot_be_demoted_or_deactivated(hub, db):
    """An admin whose own role was just taken (a stale actor, as in a race that passed
    the role check) still cannot remove the last admin."""
    from hub.admin.rules import AgentPatch
    from hub.admin.store import update_agent
    from hub.errors import Conflict
    from hub.schema import Agent

    admin_id = await db.fetchval("SELECT id FROM agents WHERE role = 'admin'")
    stale = Agent(id=await db.fetchval("SELECT id FROM agents WHERE role = 'supervisor'"),
                  name="Stale", email="s@x.test", role="admin", inboxes=[])
    for patch in (AgentPatch(role="agent"), AgentPatch(active=False)):
        with pytest.raises(Conflict, match="at least one active admin"):
            await update_agent(db, stale, admin_id, patch, None)
    assert await db.fetchval("SELECT role FROM agents WHERE id = $1", admin_id) == "admin"


async def test_whatsapp_templates_are_validated_replaced_and_offered_to_agents(hub, db):
    url = "/api/v1/admin/inboxes/whatsapp/templates"
    async with await _admin(hub) as admin:
        before = (await admin.get(url)).json()["templates"]
        assert [t["name"] for t in before] == ["follow_up", "order_update"]  # the demo's
        for body, reason in [
            ([{"name": "Bad Name", "language": "en", "body": "x"}], "templates[0].name"),
            ([{"name": "a", "language": "english", "body": "x"}], "templates[0].language"),
            ([{"name": "a", "language": "en", "body": "Hi {{2}}"}], "without gaps"),
            ([{"name": "a", "language": "en", "body": "x"}] * 2, "twice"),
            ([{"name": "a", "language": "en"}], "body"),
        ]:
            r = await admin.put(url, json=body)
            assert r.status_code == 400 and reason in r.json()["reason"], (body, r.text)
        wa_twilio = await admin.put("/api/v1/admin/inboxes/wa-twilio/templates", json=[])
        assert wa_twilio.status_code == 400 and "Cloud API" in wa_twilio.json()["reason"]
        assert (await admin.get(url)).json()["templates"] == before  # nothing changed
        new = [{"name": "payment_reminder", "language": "de",
                "body": "Hallo {{1}}, Ihre Rechnung {{2}} ist fällig."}]
        r = await admin.put(url, json=new)
        assert r.status_code == 200 and r.json()["templates"] == new
    # Agents' reply options for a WhatsApp conversation offer exactly the new set.
    conv = await db.fetchval(
        "INSERT INTO conversations (inbox, channel, contact_id, contact_identity)"
        " SELECT 'whatsapp', 'whatsapp', id, 'phone:+4915112345678' FROM contacts LIMIT 1"
        " RETURNING id")
    async with agent_http(hub.base_url, await login(hub.base_url)) as agent:
        async def offered() -> list[str] | None:
            r = await agent.get(f"/api/v1/conversations/{conv}/templates")
            names = [t["name"] for t in r.json()["templates"]]
            return names if names == ["payment_reminder"] else None
        assert await eventually(offered) == ["payment_reminder"]


async def test_sockets_close_when_their_session_ends(hub, db):
    """Deactivation, logout elsewhere: the announced change closes exactly those sockets
    (1008) without waiting for the sweep, and a bystander's socket keeps working."""
    import json as _json

    from websockets.exceptions import ConnectionClosed

    from tests.fixtures.helpers import agent_ws, recv_json, recv_until

    async with await _admin(hub) as admin:
        r = await admin.post("/api/v1/admin/agents", json={
            "email": "temp@demo.omnihub.test", "name": "Temp", "password": "long enough pw",
            "inboxes": ["web"]})
        temp_id = r.json()["agent"]["id"]
    temp_cookie = await login(hub.base_url, ("temp@demo.omnihub.test", "long enough pw"))
    leaver_cookie = await login(hub.base_url)
    bystander_cookie = await login(hub.base_url, SUPERVISOR)
    sockets = {}
    for name, cookie in [("temp", temp_cookie), ("leaver", leaver_cookie),
                         ("bystander", bystander_cookie)]:
        sockets[name] = await agent_ws(hub.ws_url, hub.base_url, cookie)
        assert (await recv_json(sockets[name]))["type"] == "hello"
    access = hub.app.state.hub.access
    assert await access.check_all() == 0  # every session is fine

    async with await _admin(hub) as admin:
        assert (await admin.patch(f"/api/v1/admin/agents/{temp_id}",
                                  json={"active": False})).status_code == 200
    async with httpx.AsyncClient(base_url=hub.base_url, cookies={"oh_session": leaver_cookie},
                                 headers={"Origin": hub.base_url}) as leaver:
        assert (await leaver.post("/logout")).status_code == 303
    for name in ("temp", "leaver"):
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(sockets[name].recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    await sockets["bystander"].send(_json.dumps({"type": "ping"}))
    await recv_until(sockets["bystander"], lambda f: f.get("type") == "pong")
    await sockets["bystander"].close()


async def test_email_acknowledgement_templates_and_switch_reach_the_ack_job(hub, db, redis):
    from tests.fixtures.mail import email_conversation, job_ctx, with_relay
    from tests.fixtures.smtp_peer import SmtpPeer
    from workers.email_ack import send_email_ack

    url = "/api/v1/admin/inboxes/mail/acknowledgement"
    async with await _admin(hub) as admin:
        assert (await admin.get(url)).json() == {"enabled": True, "templates": []}
        for templates, reason in [
            ([{"language": "german", "body": "x"}], "templates[0].language"),
            ([{"language": "de", "body": "Hallo {vorname}"}], "unknown placeholder {vorname}"),
            ([{"language": "de", "body": ""}], "templates[0].body"),
            ([{"language": "de", "body": "a"}, {"language": "DE", "body": "b"}], "twice"),
        ]:
            r = await admin.put(url, json={"enabled": True, "templates": templates})
            assert r.status_code == 400 and reason in r.json()["reason"], r.text
        assert (await admin.put("/api/v1/admin/inboxes/web/acknowledgement",
                                json={"enabled": False})).status_code == 400
        r = await admin.put(url, json={"enabled": True, "templates": [
            {"language": "de", "body": "Moin {name}, Ihr Ticket {case} ist angelegt."},
            {"language": "en", "body": "Hi {name}, ticket {case} is open."}]})
        assert r.status_code == 200, r.text
    peer = await SmtpPeer().start()
    try:
        ctx = job_ctx(db, redis, with_relay(hub.settings, peer))
        cid = await email_conversation(db, address="kunde@customer.test", name="Kai", locale="de")
        await db.execute(
            "INSERT INTO email_acks (conversation_id, inbox, to_address, locale,"
            " parent_message_id) VALUES ($1, 'mail', 'kunde@customer.test', 'de-AT',"
            " '<c1@customer.test>')", cid)
        assert await send_email_ack(ctx, cid) == "sent"
        mail = peer.handler.received[0].message
        assert mail.get_content().strip() == f"Moin Kai, Ihr Ticket #{cid} ist angelegt."
        assert mail["Content-Language"] == "de"
        # Switched off: the next case gets no acknowledgement, with the reason recorded.
        async with await _admin(hub) as admin:
            assert (await admin.put(url, json={"enabled": False})).status_code == 200
        cid2 = await email_conversation(db, address="other@customer.test", name="Ola",
                                        thread=(("in", "<o1@customer.test>"),))
        await db.execute(
            "INSERT INTO email_acks (conversation_id, inbox, to_address, locale,"
            " parent_message_id) VALUES ($1, 'mail', 'other@customer.test', 'en',"
            " '<o1@customer.test>')", cid2)
        assert await send_email_ack(ctx, cid2) == "off for this inbox"
        row = await db.fetchrow("SELECT status, reason FROM email_acks"
                                " WHERE conversation_id = $1", cid2)
        assert row["status"] == "suppressed" and "off" in row["reason"]
        assert len(peer.handler.received) == 1
    finally:
        await peer.stop()


async def test_an_email_inbox_made_in_settings_receives_mail_without_a_restart(
        hub, db, redis, tmp_path):
    """The admin's new mailbox is published for the mail adapter, which refreshes its
    recipients from Redis: mail to it (and to our reply+token address) is accepted and
    stored in that inbox; an unknown address still gets 550."""
    import aiosmtplib

    from channels.email.ingest_sink import FileBlobStore, RedisMailSink, refresh_recipients
    from channels.email.smtp_receiver import IngestHandler, RecipientMap, SmtpReceiver
    from hub.email.store.recipients import recipients_key

    recipients = RecipientMap.parse("")
    sink = RedisMailSink(redis, hub.settings.ingest_stream, FileBlobStore(tmp_path / "b"))
    async with SmtpReceiver(IngestHandler(sink, recipients), "127.0.0.1", 0,
                            max_message_bytes=1 << 20) as receiver:
        async def send(to: str, mid: str) -> None:
            msg = (f"From: kunde@customer.test\r\nTo: {to}\r\nSubject: Rechnung\r\n"
                   f"Message-ID: {mid}\r\n\r\nWo ist meine Rechnung?\r\n").encode()
            await aiosmtplib.send(msg, sender="kunde@customer.test", recipients=[to],
                                  hostname="127.0.0.1", port=receiver.port, timeout=10)

        with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
            await send("billing@brand2.test", "<before@customer.test>")
        async with await _admin(hub) as admin:
            r = await admin.post("/api/v1/admin/inboxes", json={
                "slug": "billing-mail", "name": "Billing", "channel": "email",
                "default_queue": "sales", "email_address": "Billing@Brand2.test"})
            assert r.status_code == 201, r.text
        published = await redis.hgetall(recipients_key(hub.settings))
        assert published[b"billing@brand2.test"] == b"billing-mail"
        await refresh_recipients(redis, recipients_key(hub.settings), recipients)
        await send("billing@brand2.test", "<after@customer.test>")
        await send("reply+zzz@brand2.test", "<reply@customer.test>")
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
            await send("nobody@brand2.test", "<nobody@customer.test>")
    rows = await eventually(lambda: _rows_if(db, 2))
    assert {(r["channel_account"], r["provider_id"]) for r in rows} == {
        ("billing-mail", "<after@customer.test>"), ("billing-mail", "<reply@customer.test>")}


async def _rows_if(db, n):
    rows = await db.fetch("SELECT channel_account, provider_id FROM messages"
                          " WHERE channel = 'email'")
    return rows if len(rows) >= n else None


async def test_the_human_agent_tag_is_set_per_meta_account_and_kept(hub, db):
    async with await _admin(hub) as admin:
        r = await admin.put("/api/v1/admin/inboxes/instagram/account", json={
            "provider": "meta", "external_id": "17841400000000001", "human_agent": True})
        assert r.status_code == 200, r.text
        assert r.json()["inbox"]["account"]["human_agent"] is True
        # Left out later: kept, like a secret.
        r = await admin.put("/api/v1/admin/inboxes/instagram/account", json={
            "provider": "meta", "external_id": "17841400000000001"})
        assert r.json()["inbox"]["account"]["human_agent"] is True
        bad = await admin.put("/api/v1/admin/inboxes/twilio-sms/account", json={
            "provider": "twilio", "external_id": "+15555550199", "human_agent": True})
        assert bad.status_code == 400 and "human_agent" in bad.json()["reason"]
    assert await db.fetchval("SELECT human_agent FROM channel_accounts WHERE inbox = 'twilio-sms'"
                             ) is None
