"""Verifying a typed email with a one-time code (docs/identity.md "Verifying a claim"),
over the live hub: the agent asks (REST), the code leaves through the sending job to a
real SMTP peer, the visitor answers over the widget socket, and a right code links the
visitor to the customer who owns the address (through the merge code); wrong codes,
expiry, the attempt limit, rate limits, strangers, and every refusal changing nothing."""

from __future__ import annotations

import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from channels.chat import verify_visitor_token
from tests.fixtures.helpers import (
    agent_http,
    agent_ws,
    eventually,
    login,
    new_id,
    recv_until,
)
from tests.fixtures.verify import code_in_mail, run_send_job

SHOP = "https://shop.example"
TOKENS: dict[int, str] = {}  # visitor contact id -> visitor token (to reconnect)


async def _anna(db: Any) -> Any:
    """A seeded customer with a verified email and no conversation in any inbox."""
    return await db.fetchrow(
        "SELECT c.id, i.value AS email FROM contacts c JOIN identities i"
        " ON i.contact_id = c.id AND i.kind = 'email' ORDER BY c.id LIMIT 1")


async def _visitor_claiming(hub: Any, db: Any, email: str) -> tuple[ClientConnection, int, int]:
    """A widget visitor who typed ``email`` (an unverified claim) and wrote once:
    (socket, their contact id, their conversation id)."""
    ws = await connect(f"{hub.ws_url}/ws/widget?inbox=web&prechat_email={email}", origin=SHOP)
    hello = await recv_until(ws, lambda f: f["type"] == "hello")
    ident = verify_visitor_token(hub.settings.secret_key, "web", hello["visitor_token"])
    key = f"{ident.kind}:{ident.value}"
    await ws.send(json.dumps({"type": "message", "client_id": new_id(), "text": "It's me"}))

    async def conv() -> Any:
        return await db.fetchrow("SELECT id, contact_id FROM conversations"
                                 " WHERE contact_identity = $1", key)
    row = await eventually(conv)
    await recv_until(ws, lambda f: f["type"] == "event"
                     and f["event"]["type"] == "message.created")
    TOKENS[int(row["contact_id"])] = hello["visitor_token"]
    return ws, int(row["contact_id"]), int(row["id"])


def _verification_event(status: str) -> Any:
    return lambda f: (f["type"] == "event" and f["event"]["type"] == "verification.updated"
                      and f["event"]["status"] == status)


async def _request(client: Any, contact_id: int, email: str, **more: Any) -> Any:
    return await client.post(f"/api/v1/contacts/{contact_id}/verifications",
                             json={"claim": f"email:{email}", **more})


def _wrong(code: str) -> str:
    return str((int(code) + 1) % 10**6).zfill(6)


async def test_visitor_enters_the_emailed_code_and_joins_the_customer(relay_hub, db, redis,
                                                                    smtp_peer):
    hub = relay_hub
    anna = await _anna(db)
    ws, visitor, conv_id = await _visitor_claiming(hub, db, anna["email"])
    cookie = await login(hub.base_url)
    agent = await agent_ws(hub.ws_url, hub.base_url, cookie)
    async with ws, agent, agent_http(hub.base_url, cookie) as client:
        await recv_until(agent, lambda f: f["type"] == "hello")
        ids = (await client.get(f"/api/v1/contacts/{visitor}/identities")).json()
        assert [c["value"] for c in ids["claims"]] == [anna["email"]]
        # Before: the suggested merge is refused (the agent cannot see Anna's contact).
        r = await client.post(f"/api/v1/contacts/{visitor}/merge",
                              json={"other_id": anna["id"]})
        assert r.status_code == 403

        r = await _request(client, visitor, anna["email"])
        assert r.status_code == 201, r.text
        ver = r.json()["verification"]
        assert ver["via"] == "email" and ver["attempts_left"] == 5
        assert ver["conversation_id"] == conv_id
        # The widget is asked for the code; it is told only the masked address.
        prompt = await recv_until(ws, _verification_event("requested"))
        assert prompt["event"]["target"] == anna["email"][0] + "***@" + \
            anna["email"].split("@")[1]
        assert "value" not in prompt["event"]

        assert await run_send_job(db, redis, hub.settings, ver["id"]) == "sent"
        assert await run_send_job(db, redis, hub.settings, ver["id"]) == "skipped"  # once
        await recv_until(ws, _verification_event("sent"))
        await recv_until(agent, _verification_event("sent"))
        code = code_in_mail(smtp_peer, anna["email"])
        assert len(smtp_peer.handler.received) == 1
        # A reload keeps the prompt: the hello carries the open verification.
        again = await connect(f"{hub.ws_url}/ws/widget?inbox=web&token={TOKENS[visitor]}",
                              origin=SHOP)
        async with again:
            hello = await recv_until(again, lambda f: f["type"] == "hello")
            assert hello["verification"]["verification_id"] == ver["id"]
            assert hello["verification"]["status"] == "sent"
        # The code is not stored anywhere in the database.
        row = await db.fetchrow("SELECT * FROM identity_verifications WHERE id = $1", ver["id"])
        assert code not in json.dumps({k: str(v) for k, v in dict(row).items()})

        await ws.send(json.dumps({"type": "verify", "verification_id": ver["id"],
                                  "code": _wrong(code)}))
        res = await recv_until(ws, lambda f: f["type"] == "verify_result")
        assert res["outcome"] == "wrong_code" and res["attempts_left"] == 4
        assert "not right" in res["text"]
        await recv_until(agent, _verification_event("wrong_code"))

        await ws.send(json.dumps({"type": "verify", "verification_id": ver["id"],
                                  "code": f"{code[:3]} {code[3:]}"}))
        res = await recv_until(ws, lambda f: f["type"] == "verify_result")
        assert res["outcome"] == "verified", res
        await recv_until(agent, _verification_event("verified"))
        merged = await recv_until(agent, lambda f: f["type"] == "event"
                                  and f["event"]["type"] == "contact.merged")
        assert merged["event"]["survivor_id"] == anna["id"]
        assert merged["event"]["merged_id"] == visitor

        # The visitor is Anna now: her identity, conversation, and the agent's 360° view.
        assert await db.fetchval("SELECT contact_id FROM conversations WHERE id = $1",
                                 conv_id) == anna["id"]
        ctx = await client.get(f"/api/v1/contacts/{anna['id']}/context")
        assert ctx.status_code == 200
        assert any(i["kind"] == "visitor" for i in ctx.json()["identities"])
        ids = (await client.get(f"/api/v1/contacts/{visitor}/identities")).json()
        assert ids["contact_id"] == anna["id"] and ids["claims"] == []
        assert ids["verifications"][0]["status"] == "verified"
        audit = [r["action"] for r in await db.fetch("SELECT action FROM audit_log ORDER BY id")]
        assert audit == ["identity.verification.request", "contact.merge",
                         "identity.verification.verified"]
        proof = await db.fetchval("SELECT details->'proof' FROM audit_log"
                                  " WHERE action = 'contact.merge'")
        assert json.loads(proof)["verification_id"] == ver["id"]
        # A used code does nothing more.
        await ws.send(json.dumps({"type": "verify", "verification_id": ver["id"],
                                  "code": code}))
        res = await recv_until(ws, lambda f: f["type"] == "verify_result")
        assert res["outcome"] == "not_pending"


async def test_expiry_attempt_limit_and_rate_limit(relay_hub, db, redis, smtp_peer):
    hub = relay_hub
    anna = await _anna(db)
    anna_ids = await db.fetch("SELECT kind, value FROM identities WHERE contact_id = $1"
                              " ORDER BY kind, value", anna["id"])
    ws, visitor, _ = await _visitor_claiming(hub, db, anna["email"])
    cookie = await login(hub.base_url)
    async with ws, agent_http(hub.base_url, cookie) as client:
        async def ask() -> tuple[int, str]:
            r = await _request(client, visitor, anna["email"])
            assert r.status_code == 201, r.text
            vid = r.json()["verification"]["id"]
            assert await run_send_job(db, redis, hub.settings, vid) == "sent"
            return vid, code_in_mail(smtp_peer, anna["email"])

        async def answer(vid: int, code: str) -> dict[str, Any]:
            await ws.send(json.dumps({"type": "verify", "verification_id": vid, "code": code}))
            return await recv_until(ws, lambda f: f["type"] in ("verify_result", "error"))

        # Expired: even the right code is refused (the clock is moved, not waited for).
        vid, code = await ask()
        await db.execute("UPDATE identity_verifications SET expires_at = now() - interval"
                         " '1 second' WHERE id = $1", vid)
        res = await answer(vid, code)
        assert res["outcome"] == "expired" and "expired" in res["text"]
        # Five wrong answers lock it; the right one after that is refused too.
        vid, code = await ask()
        for left in (4, 3, 2, 1):
            assert (await answer(vid, _wrong(code)))["attempts_left"] == left
        res = await answer(vid, _wrong(code))
        assert res["outcome"] == "locked" and res["attempts_left"] == 0
        assert (await answer(vid, code))["outcome"] == "locked"
        # Malformed input is a 4xx-like error frame and uses no attempt.
        bad = await answer(vid, "12ab")
        assert bad["type"] == "error" and bad["code"] == "bad_code"
        # A third code is the last for this address this hour.
        vid, code = await ask()
        r = await _request(client, visitor, anna["email"])
        assert r.status_code == 429 and "per address" in r.json()["reason"]
        # And an agent may ask for at most 20 codes an hour, whatever the address.
        await db.execute("INSERT INTO identity_claims (contact_id, kind, value)"
                         " VALUES ($1, 'email', 'other@example.test')", visitor)
        await db.execute(
            "INSERT INTO identity_verifications (contact_id, kind, value, conversation_id,"
            " inbox, claimant, via, code_salt, created_by, expires_at, status)"
            " SELECT contact_id, kind, 'x' || n || '@example.test', conversation_id, inbox,"
            " claimant, via, code_salt, created_by, expires_at, 'expired'"
            " FROM identity_verifications, generate_series(1, 17) AS n WHERE id = $1", vid)
        r = await _request(client, visitor, "other@example.test")
        assert r.status_code == 429 and "per agent" in r.json()["reason"]
        await db.execute("DELETE FROM identity_verifications WHERE value LIKE 'x%'")
        # The third one superseded nothing but is still usable: the visitor never linked
        # through the locked/expired ones.
        assert await db.fetch("SELECT kind, value FROM identities WHERE contact_id = $1"
                              " AND kind <> 'visitor' ORDER BY kind, value",
                              anna["id"]) == anna_ids
        statuses = [r["status"] for r in await db.fetch(
            "SELECT status FROM identity_verifications ORDER BY id")]
        assert statuses == ["expired", "locked", "pending"]
        assert await db.fetchval("SELECT count(*) FROM audit_log"
                                 " WHERE action = 'identity.verification.locked'") == 1


async def test_a_stranger_cannot_link_without_the_code(relay_hub, db, redis, smtp_peer):
    """Two strangers type Anna's email. The code goes to Anna's mailbox; neither visitor
    can use the other's verification, wrong guesses lock it, nothing links."""
    hub = relay_hub
    anna = await _anna(db)
    before = await db.fetch("SELECT kind, value, contact_id FROM identities ORDER BY kind, value")
    ws_a, a, _ = await _visitor_claiming(hub, db, anna["email"])
    ws_b, b, _ = await _visitor_claiming(hub, db, anna["email"])
    assert a != b
    cookie = await login(hub.base_url)
    async with ws_a, ws_b, agent_http(hub.base_url, cookie) as client:
        r = await _request(client, a, anna["email"])
        assert r.status_code == 201
        vid = r.json()["verification"]["id"]
        assert await run_send_job(db, redis, hub.settings, vid) == "sent"
        code = code_in_mail(smtp_peer, anna["email"])
        # B never hears of A's prompt, and cannot answer it even with the right code.
        await ws_b.send(json.dumps({"type": "verify", "verification_id": vid, "code": code}))
        err = await recv_until(ws_b, lambda f: f["type"] in ("error", "verify_result"))
        assert err["type"] == "error" and err["code"] == "no_verification"
        assert await db.fetchval("SELECT attempts FROM identity_verifications") == 0
        for _ in range(5):
            await ws_a.send(json.dumps({"type": "verify", "verification_id": vid,
                                        "code": _wrong(code)}))
            res = await recv_until(ws_a, lambda f: f["type"] == "verify_result")
        assert res["outcome"] == "locked"
    after = await db.fetch("SELECT kind, value, contact_id FROM identities ORDER BY kind, value")
    assert [r for r in after if r["kind"] != "visitor"] == \
        [r for r in before if r["kind"] != "visitor"]
    assert await db.fetchval("SELECT count(*) FROM contacts WHERE merged_into IS NOT NULL") == 0
    assert await db.fetchval("SELECT count(*) FROM identities WHERE kind = 'email'"
                             " AND value = $1", anna["email"]) == 1


async def test_requests_are_checked_and_refusals_change_nothing(hub, db):
    """Without a mail relay: a clear 409. Bad bodies, unknown claims, other inboxes, no
    Origin: 4xx, no row, no audit."""
    anna = await _anna(db)
    ws, visitor, _ = await _visitor_claiming(hub, db, anna["email"])
    cookie = await login(hub.base_url)
    async with ws, agent_http(hub.base_url, cookie) as client:
        r = await _request(client, visitor, anna["email"])
        assert r.status_code == 409 and "OMNIHUB_SMTP_RELAY_HOST" in r.json()["reason"]
        assert r.json()["error"] == "undeliverable"
        r = await client.post(f"/api/v1/contacts/{visitor}/verifications",
                              json={"claim": "email:someone@else.test"})
        assert r.status_code == 404
        r = await client.post(f"/api/v1/contacts/{visitor}/verifications",
                              json={"claim": "visitor:abc"})
        assert r.status_code == 400
        r = await client.post(f"/api/v1/contacts/{visitor}/verifications",
                              json={"claim": f"email:{anna['email']}", "surprise": 1})
        assert r.status_code == 400
        r = await client.post(f"/api/v1/contacts/{visitor}/verifications", content=b"{no",
                              headers={"Content-Type": "application/json"})
        assert r.status_code == 400
        # Anna has no conversation the agent could ask her in.
        await db.execute("INSERT INTO identity_claims (contact_id, kind, value)"
                         " VALUES ($1, 'email', 'x@y.test')", anna["id"])
        r = await client.post(f"/api/v1/contacts/{anna['id']}/verifications",
                              json={"claim": "email:x@y.test"})
        assert r.status_code == 403
        r = await client.post(f"/api/v1/contacts/{visitor}/verifications",
                              json={"claim": f"email:{anna['email']}"},
                              headers={"Origin": "https://evil.example"})
        assert r.status_code == 403
    assert await db.fetchval("SELECT count(*) FROM identity_verifications") == 0
    assert await db.fetchval("SELECT count(*) FROM audit_log") == 0


async def test_a_phone_claim_is_verified_by_sms_and_becomes_the_visitors_own(hub, db, redis):
    """Nobody owns the number: the code goes by SMS through the SMS inbox's Twilio account
    (a fake Twilio at the HTTP boundary), and the verified number becomes an identity of
    the visitor's own contact, with no merge."""
    import msgspec

    from tests.fixtures.fake_providers import FakeProviders, running
    from web.seed_messaging import messaging_credentials

    number = "+4930901820"
    ws, visitor, _ = await _visitor_claiming(hub, db, "someone@example.test")
    await db.execute("INSERT INTO identity_claims (contact_id, kind, value, source)"
                     " VALUES ($1, 'phone', $2, 'prechat')", visitor, number)
    cookie = await login(hub.base_url)
    async with running(FakeProviders(messaging_credentials(hub.settings))) as fake, ws, \
            agent_http(hub.base_url, cookie) as client:
        r = await client.post(f"/api/v1/contacts/{visitor}/verifications",
                              json={"claim": f"phone:{number}"})
        assert r.status_code == 201, r.text
        vid = r.json()["verification"]["id"]
        assert r.json()["verification"]["via"] == "sms"
        job_settings = msgspec.structs.replace(hub.settings, twilio_api_base=fake.base_url)
        assert await run_send_job(db, redis, job_settings, vid) == "sent"
        sms = fake.sent_by("twilio")
        assert len(sms) == 1 and sms[0].form["To"] == number
        code = next(w for w in sms[0].form["Body"].split() if w.rstrip(".").isdigit()
                    and len(w.rstrip(".")) == 6).rstrip(".")
        await ws.send(json.dumps({"type": "verify", "verification_id": vid, "code": code}))
        res = await recv_until(ws, lambda f: f["type"] == "verify_result")
        assert res["outcome"] == "verified"
    assert await db.fetchval("SELECT contact_id FROM identities WHERE kind = 'phone'"
                             " AND value = $1", number) == visitor
    assert await db.fetchval("SELECT phone FROM contacts WHERE id = $1", visitor) == number
    assert await db.fetchval("SELECT count(*) FROM identity_claims WHERE contact_id = $1"
                             " AND kind = 'phone'", visitor) == 0
    assert await db.fetchval("SELECT count(*) FROM contacts WHERE merged_into IS NOT NULL") == 0
