"""Demo seed: contents, idempotency, determinism, derived secrets."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import asyncpg

from hub.config import Settings
from web.passwords import verify_password
from web.seed import CUSTOMERS, demo_api_token, demo_identity_secret, seed_demo

TABLES = ["queues", "inboxes", "agents", "agent_inboxes", "agent_queues", "contacts",
          "identities", "customer_accounts", "orders", "invoices"]


async def _counts(conn: asyncpg.Connection) -> dict[str, int]:
    return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}


async def test_seed_contents(db: asyncpg.Pool, seeded: dict[str, Any]) -> None:
    assert seeded["created"] is True
    async with db.acquire() as conn:
        counts = await _counts(conn)
        # support and sales, plus the demo routing config's vip queue
        assert counts["queues"] == 3
        assert await conn.fetchval("SELECT max(version) FROM routing_configs") == 1
        assert counts["inboxes"] == 10  # web, api, mail, phone + 6 messaging inboxes
        assert counts["agents"] == 5
        assert counts["agent_inboxes"] == 50
        assert counts["agent_queues"] == 10
        assert counts["contacts"] == CUSTOMERS == 20
        assert counts["identities"] == 2 * CUSTOMERS

        per_contact = await conn.fetch(
            "SELECT c.id, c.email, c.phone, c.tier,"
            " (SELECT count(*) FROM customer_accounts a WHERE a.contact_id = c.id) AS accounts,"
            " (SELECT count(*) FROM orders o WHERE o.contact_id = c.id) AS orders,"
            " (SELECT count(*) FROM invoices i WHERE i.contact_id = c.id) AS invoices,"
            " (SELECT array_agg(kind || ':' || value ORDER BY kind) FROM identities i"
            "   WHERE i.contact_id = c.id) AS idents"
            " FROM contacts c ORDER BY c.id"
        )
        for row in per_contact:
            assert row["accounts"] >= 1 and row["orders"] >= 1 and row["invoices"] >= 1, row
            assert re.fullmatch(r"\+[1-9]\d{7,14}", row["phone"]), row["phone"]
            assert row["idents"] == [f"email:{row['email'].lower()}", f"phone:{row['phone']}"]
        assert sum(r["tier"] == "vip" for r in per_contact) >= 2

        statuses = {r["status"] for r in await conn.fetch("SELECT status FROM invoices")}
        assert statuses == {"open", "paid", "overdue"}
        services = {r["service"] for r in await conn.fetch("SELECT service FROM customer_accounts")}
        assert services == {"tv", "internet", "phone"}
        orders = await conn.fetch("SELECT items, total, status FROM orders")
        assert len({r["status"] for r in orders}) >= 3
        for order in orders:
            assert order["items"] and order["total"] > 0

        web = await conn.fetchrow("SELECT * FROM inboxes WHERE slug = 'web'")
        assert (web["channel"], web["default_queue"], web["allowed_origins"]) == (
            "chat", "support", ["*"])
        api = await conn.fetchrow("SELECT * FROM inboxes WHERE slug = 'api'")
        assert (api["channel"], api["default_queue"]) == ("api", "sales")
        assert api["api_token_hash"] == hashlib.sha256(seeded["api_token"].encode()).hexdigest()
        assert web["identity_secret"] == seeded["identity_secret"]

        roles = dict(await conn.fetch("SELECT email, role FROM agents"))
        for login in seeded["logins"]:
            assert roles[login["email"]] == login["role"]
            pw_hash = await conn.fetchval(
                "SELECT password_hash FROM agents WHERE email = $1", login["email"])
            assert verify_password(pw_hash, login["password"])
    assert set(seeded["agents"]) == set(roles)
    assert len(seeded["contact_ids"]) == CUSTOMERS


async def test_seed_is_idempotent(db: asyncpg.Pool, settings: Settings) -> None:
    async with db.acquire() as conn:
        first = await seed_demo(conn, settings)
        before = await _counts(conn)
        second = await seed_demo(conn, settings)
        assert await _counts(conn) == before
    assert first["created"] and not second["created"]
    assert {k: v for k, v in first.items() if k != "created"} == {
        k: v for k, v in second.items() if k != "created"}


async def test_seed_is_deterministic(db: asyncpg.Pool, settings: Settings) -> None:
    query = (
        "SELECT c.name, c.email, c.phone, c.tier, c.locale,"
        " (SELECT array_agg(a.plan || '/' || a.monthly_fee ORDER BY a.account_no)"
        "  FROM customer_accounts a WHERE a.contact_id = c.id) AS plans,"
        " (SELECT array_agg(o.order_no || '/' || o.total || '/' || o.status ORDER BY o.order_no)"
        "  FROM orders o WHERE o.contact_id = c.id) AS orders"
        " FROM contacts c ORDER BY c.email"
    )
    async with db.acquire() as conn:
        await seed_demo(conn, settings)
        first = [tuple(r) for r in await conn.fetch(query)]
        await conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        await seed_demo(conn, settings)
        assert [tuple(r) for r in await conn.fetch(query)] == first


def test_derived_secrets_are_stable_per_key() -> None:
    settings = Settings(secret_key="test-secret-key-0123456789abcdef")
    other = Settings(secret_key="another-secret-key-0123456789")
    assert demo_api_token(settings) == demo_api_token(settings)
    assert demo_api_token(settings) != demo_api_token(other)
    assert demo_identity_secret(settings) != demo_identity_secret(other)
    assert demo_api_token(settings) not in (settings.secret_key, demo_identity_secret(settings))


async def test_demo_customers_pass_the_call_me_back_phone_check(
        db: asyncpg.Pool, seeded: dict[str, Any]) -> None:
    """A newcomer can type a demo customer's number into "Call me back": every seeded
    number is valid for phonenumbers (the strict check of the callback form)."""
    from channels.cti.numbers import to_e164

    phones = [r["phone"] for r in await db.fetch("SELECT phone FROM contacts"
                                                 " WHERE phone IS NOT NULL")]
    assert len(phones) == CUSTOMERS and len(set(phones)) == CUSTOMERS
    assert [p for p in phones if to_e164(p, strict=True) != p] == []
