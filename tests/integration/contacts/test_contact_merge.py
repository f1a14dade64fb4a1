"""Merge and split contacts against real Postgres, Redis and the live hub: every message
kept, open-conversation collisions resolved with notes, audit rows that undo a merge,
role checks, 4xx on bad input, and concurrent merges without deadlock or loss."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from datetime import UTC, datetime

import asyncpg
import httpx

from hub.contacts.actions.merge import merge_contacts
from hub.conversations.store.persist import persist_inbound_batch
from hub.errors import Conflict, NotFound
from hub.outbox import Publisher
from hub.schema import Agent, Envelope, Identity
from tests.fixtures.helpers import SUPERVISOR, agent_http, agent_ws, is_event, login, recv_until

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
_pids = itertools.count(1)


def ident(key: str) -> Identity:
    kind, _, value = key.partition(":")
    return Identity(kind=kind, value=value)  # type: ignore[arg-type]


def env(channel: str, inbox: str, key: str, text: str = "hi", linked: tuple[str, ...] = ()
        ) -> Envelope:
    return Envelope(channel=channel, channel_account=inbox,  # type: ignore[arg-type]
                    provider_id=f"m{next(_pids)}", sender=ident(key),
                    linked=tuple(ident(k) for k in linked), text=text, received_at=NOW)


async def store(db, *envs: Envelope) -> None:
    async with db.acquire() as conn, conn.transaction():
        await persist_inbound_batch(conn, [(f"{i}-0", e) for i, e in enumerate(envs)])


async def contact_of(db, key: str) -> int:
    kind, _, value = key.partition(":")
    return await db.fetchval("SELECT contact_id FROM identities WHERE kind = $1 AND value = $2",
                             kind, value)


async def snapshot(db) -> dict[int, int]:
    return {r["id"]: r["conversation_id"] for r in await db.fetch(
        "SELECT id, conversation_id FROM messages WHERE author_kind <> 'system'")}


async def test_merge_moves_everything_and_keeps_every_message(hub, db):
    anna = await db.fetchrow("SELECT id, email FROM contacts ORDER BY id LIMIT 1")
    # Anna chats as herself; the same person also chatted anonymously and emailed from
    # another address: two open 'web' conversations collide on merge.
    await store(db, env("chat", "web", f"email:{anna['email']}", "hi, it's anna"))
    await store(db, env("chat", "web", "visitor:anon-1", "anonymous question",
                        linked=("email:anna.private@x.test",)))
    await store(db, env("email", "mail", "email:anna.private@x.test", "from my other address"))
    await store(db, env("chat", "web", "visitor:anon-1", "second line"))
    other = await contact_of(db, "visitor:anon-1")
    assert await contact_of(db, "email:anna.private@x.test") == other
    await db.execute("INSERT INTO orders (contact_id, order_no, total, status)"
                     " VALUES ($1, 'ORD-OTHER-1', 10, 'pending')", other)
    before = await snapshot(db)
    anna_accounts = await db.fetchval("SELECT count(*) FROM customer_accounts"
                                      " WHERE contact_id = $1", anna["id"])

    cookie = await login(hub.base_url)
    ws = await agent_ws(hub.ws_url, hub.base_url, cookie)
    await recv_until(ws, lambda f: f["type"] == "hello")
    async with agent_http(hub.base_url, cookie) as client:
        r = await client.post(f"/api/v1/contacts/{anna['id']}/merge", json={"other_id": other})
        assert r.status_code == 200, r.text
        result = r.json()
    seen: list[dict] = []
    merged = await recv_until(ws, lambda f: seen.append(f) or is_event("contact.merged")(f))
    assert merged["event"]["survivor_id"] == anna["id"] and merged["event"]["merged_id"] == other
    assert any(is_event("conversation.status", status="resolved")(f) for f in seen)
    assert sum(is_event("message.created", message__author__kind="system")(f)
               for f in seen) == 2
    await ws.close()

    # Every message still exists, in the conversation it was in; nothing duplicated.
    assert await snapshot(db) == before
    assert await db.fetchval("SELECT count(DISTINCT contact_id) FROM conversations") == 1
    assert await contact_of(db, "visitor:anon-1") == anna["id"]
    assert await contact_of(db, "email:anna.private@x.test") == anna["id"]
    assert await db.fetchval("SELECT contact_id FROM orders WHERE order_no = 'ORD-OTHER-1'"
                             ) == anna["id"]
    assert await db.fetchval("SELECT merged_into FROM contacts WHERE id = $1", other) == anna["id"]
    # The colliding open conversation was resolved, with a note in both.
    (res,) = result["resolved_conversations"]
    assert await db.fetchval("SELECT status FROM conversations WHERE id = $1",
                             res["conversation_id"]) == "resolved"
    notes = await db.fetch("SELECT conversation_id, text FROM messages"
                           " WHERE author_kind = 'system' ORDER BY id")
    assert {n["conversation_id"] for n in notes} == {res["conversation_id"], res["into"]}
    assert await db.fetchval("SELECT count(*) FROM conversations WHERE contact_id = $1"
                             " AND inbox = 'web' AND status <> 'resolved'", anna["id"]) == 1
    audit = await db.fetchrow("SELECT actor_id, action, subject, details FROM audit_log"
                              " WHERE id = $1", result["audit_id"])
    details = json.loads(audit["details"])
    assert (audit["action"], audit["subject"]) == ("contact.merge", f"contact:{anna['id']}")
    assert audit["actor_id"] == hub.seed["agents"]["agent1@demo.omnihub.test"]
    assert sorted(details["identities"]) == ["email:anna.private@x.test", "visitor:anon-1"]
    assert details["orders"] == ["ORD-OTHER-1"] and details["merged_id"] == other

    async with agent_http(hub.base_url, cookie) as client:
        # The old id resolves to the survivor; the timeline holds every message.
        page = (await client.get(f"/api/v1/contacts/{other}/timeline")).json()
        assert page["contact_id"] == anna["id"]
        assert {i["message"]["id"] for i in page["items"]} >= set(before)
        # Merging again, or into itself, is refused and changes nothing.
        r = await client.post(f"/api/v1/contacts/{anna['id']}/merge", json={"other_id": other})
        assert r.status_code == 409 and r.json()["error"] == "conflict"
        r = await client.post(f"/api/v1/contacts/{anna['id']}/merge",
                              json={"other_id": anna["id"]})
        assert r.status_code == 400
        # Only supervisors split or undo.
        r = await client.post(f"/api/v1/contacts/{anna['id']}/unmerge",
                              json={"merge_audit_id": result["audit_id"]})
        assert r.status_code == 403 and r.json()["error"] == "forbidden"

    sup = await login(hub.base_url, SUPERVISOR)
    async with agent_http(hub.base_url, sup) as client:
        r = await client.post(f"/api/v1/contacts/{anna['id']}/unmerge",
                              json={"merge_audit_id": result["audit_id"]})
        assert r.status_code == 200, r.text
        assert r.json()["new_contact_id"] == other
        r2 = await client.post(f"/api/v1/contacts/{anna['id']}/unmerge",
                               json={"merge_audit_id": result["audit_id"]})
        assert r2.status_code == 409
    assert await snapshot(db) == before
    assert await db.fetchval("SELECT merged_into FROM contacts WHERE id = $1", other) is None
    assert await contact_of(db, "visitor:anon-1") == other
    assert await contact_of(db, "email:anna.private@x.test") == other
    assert await db.fetchval("SELECT contact_id FROM orders WHERE order_no = 'ORD-OTHER-1'"
                             ) == other
    assert await db.fetchval("SELECT count(*) FROM customer_accounts WHERE contact_id = $1",
                             anna["id"]) == anna_accounts
    assert set(await db.fetchval(
        "SELECT array_agg(DISTINCT contact_id) FROM conversations")) == {anna["id"], other}
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'contact.split'"
                             " AND details->>'undo_merge' = $1", str(result["audit_id"])) == 1


async def test_split_moves_identities_and_their_conversations(hub, db):
    anna = await db.fetchrow("SELECT id, email, phone FROM contacts ORDER BY id LIMIT 1")
    await db.execute("INSERT INTO identities (kind, value, contact_id)"
                     " VALUES ('telegram', 'bot:42', $1)", anna["id"])
    await db.execute("INSERT INTO inboxes (slug, name, channel, default_queue)"
                     " VALUES ('tg', 'Telegram', 'telegram', 'support')")
    await store(db, env("telegram", "tg", "telegram:bot:42", "this is not anna"),
                env("email", "mail", f"email:{anna['email']}", "anna here"))
    before = await snapshot(db)
    sup = await login(hub.base_url, SUPERVISOR)
    async with agent_http(hub.base_url, sup) as client:
        r = await client.post(f"/api/v1/contacts/{anna['id']}/split",
                              json={"identities": ["telegram:bot:42"], "name": "Tele Gram"})
        assert r.status_code == 201, r.text
        new = r.json()["new_contact_id"]
        for bad, code in (({"identities": ["telegram:bot:42"]}, 400),  # no longer hers
                          ({"identities": []}, 400),
                          ({"identities": [f"email:{anna['email']}", f"phone:{anna['phone']}"]},
                           400),  # would leave nothing
                          ({"identities": ["nonsense"]}, 400),
                          ({"identities": "email:x"}, 400),
                          ({"unknown": 1}, 400)):
            r = await client.post(f"/api/v1/contacts/{anna['id']}/split", json=bad)
            assert r.status_code == code, (bad, r.text)
        r = await client.post("/api/v1/contacts/987654/split",
                              json={"identities": ["telegram:bot:42"]})
        assert r.status_code == 404
    assert await snapshot(db) == before
    assert await contact_of(db, "telegram:bot:42") == new
    assert await db.fetchval("SELECT name FROM contacts WHERE id = $1", new) == "Tele Gram"
    convs = await db.fetch("SELECT inbox, contact_id FROM conversations ORDER BY inbox")
    assert [(c["inbox"], c["contact_id"]) for c in convs] == [("mail", anna["id"]), ("tg", new)]
    audit = await db.fetchrow("SELECT details FROM audit_log WHERE action = 'contact.split'")
    assert json.loads(audit["details"])["identities"] == ["telegram:bot:42"]
    # Agents may not split.
    cookie = await login(hub.base_url)
    async with agent_http(hub.base_url, cookie) as client:
        r = await client.post(f"/api/v1/contacts/{anna['id']}/split",
                              json={"identities": [f"phone:{anna['phone']}"]})
        assert r.status_code == 403


async def test_merge_role_and_input_checks(hub, db):
    await db.execute("INSERT INTO inboxes (slug, name, channel, default_queue)"
                     " VALUES ('sms', 'SMS', 'sms', 'support')")
    await store(db, env("sms", "sms", "phone:+4930999001"), env("chat", "web", "visitor:v9"))
    hidden, visible = await contact_of(db, "phone:+4930999001"), await contact_of(db, "visitor:v9")
    cookie = await login(hub.base_url)
    async with agent_http(hub.base_url, cookie) as client:
        # agent1 is not in the 'sms' inbox: may not touch that contact.
        r = await client.post(f"/api/v1/contacts/{visible}/merge", json={"other_id": hidden})
        assert r.status_code == 403
        for body, code in (({"other_id": 987654}, 404), ({"other_id": -3}, 400),
                           ({"other_id": "x"}, 400), ({}, 400)):
            r = await client.post(f"/api/v1/contacts/{visible}/merge", json=body)
            assert r.status_code == code, (body, r.text)
        r = await client.post(f"/api/v1/contacts/{visible}/merge", content=b"{",
                              headers={"Content-Type": "application/json"})
        assert r.status_code == 400
        r = await client.post(f"/api/v1/contacts/{visible}/merge", json={"other_id": hidden},
                              headers={"Origin": "https://evil.example"})
        assert r.status_code == 403
    async with httpx.AsyncClient(base_url=hub.base_url, headers={"Origin": hub.base_url}) as anon:
        r = await anon.post(f"/api/v1/contacts/{visible}/merge", json={"other_id": hidden})
        assert r.status_code == 401
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action LIKE 'contact.%'") == 0
    assert await db.fetchval("SELECT count(*) FROM contacts WHERE merged_into IS NOT NULL") == 0


async def test_concurrent_merges_neither_deadlock_nor_lose(db, redis, settings, seeded):
    publisher = Publisher(redis, settings)
    admin = Agent(id=seeded["agents"]["admin@demo.omnihub.test"], name="Admin",
                  email="admin@demo.omnihub.test", role="admin")
    await store(db, *[env("chat", "web", f"visitor:c{i}", f"msg {i}",
                          linked=(f"email:c{i}@x.test",)) for i in range(12)])
    await store(db, *[env("email", "mail", f"email:c{i}@x.test") for i in range(12)])
    ids = [await contact_of(db, f"visitor:c{i}") for i in range(12)]
    assert ids == [await contact_of(db, f"email:c{i}@x.test") for i in range(12)]
    before = await snapshot(db)
    rng = random.Random(7)
    pairs = [tuple(rng.sample(ids, 2)) for _ in range(40)]

    async def ingest(i: int) -> None:
        # Messages keep arriving while contacts merge; retried like the pipeline does
        # (it redelivers a failed batch until it is stored, however long that takes).
        e = env("email", "mail", f"email:c{i % 12}@x.test", f"during {i}")
        for attempt in range(60):
            try:
                return await store(db, e)
            except (asyncpg.DeadlockDetectedError, asyncpg.UniqueViolationError):
                await asyncio.sleep(min(0.25, 0.01 * (attempt + 1)))
        raise AssertionError("ingest kept failing")

    outcome = await asyncio.gather(
        *[merge_contacts(db, publisher, admin, a, b) for a, b in pairs],
        *[ingest(i) for i in range(24)], return_exceptions=True)
    results, ingested = outcome[:len(pairs)], outcome[len(pairs):]
    assert not [x for x in ingested if isinstance(x, BaseException)], ingested
    errors = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(e, Conflict | NotFound) for e in errors), errors
    assert len(errors) < len(results)
    after = await snapshot(db)
    assert {k: v for k, v in after.items() if k in before} == before
    assert len(after) == len(before) + 24
    live = await db.fetchval("SELECT count(*) FROM contacts WHERE merged_into IS NULL"
                             " AND id = ANY($1::bigint[])", ids)
    assert live == 12 - sum(1 for r in results if not isinstance(r, BaseException))
    assert await db.fetchval(
        "SELECT count(*) FROM identities i JOIN contacts c ON c.id = i.contact_id"
        " WHERE c.merged_into IS NOT NULL") == 0
    assert await db.fetchval(
        "SELECT count(*) FROM conversations v JOIN contacts c ON c.id = v.contact_id"
        " WHERE c.merged_into IS NOT NULL") == 0
    assert await db.fetchval(
        "SELECT count(*) FROM (SELECT contact_id, inbox FROM conversations"
        " WHERE status <> 'resolved' AND thread_key IS NULL GROUP BY 1, 2"
        " HAVING count(*) > 1) x") == 0
    merges = await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'contact.merge'")
    assert merges == len(results) - len(errors)
