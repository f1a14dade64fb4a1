"""The demo seed's statements (web/seed.py, web/seed_messaging.py, web/seed_routing.py
decide what the demo holds; this module writes it). Every insert is idempotent where the
seed runs again on existing data (``ON CONFLICT DO NOTHING``). Demo data spans the
subsystems (inboxes, agents, contacts, voice, messaging accounts, routing), so it has one
store of its own instead of writing through each subsystem's audited admin path."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Connection


# ---- the seed's own bookkeeping --------------------------------------------------------

async def lock_seed(conn: Conn, key: int) -> None:
    """One seeder at a time (transaction-scoped advisory lock)."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", key)


async def any_agents(conn: Conn) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM agents)"))


async def agent_emails(conn: Conn) -> list[asyncpg.Record]:
    """(id, email) of every agent, by id."""
    return list(await conn.fetch("SELECT id, email FROM agents ORDER BY id"))


async def agents_in_domain(conn: Conn, domain: str) -> list[asyncpg.Record]:
    """(id, email) of the agents whose email is ``…@domain``."""
    return list(await conn.fetch("SELECT id, email FROM agents WHERE email LIKE $1",
                                 f"%@{domain}"))


async def contact_ids(conn: Conn) -> list[int]:
    return [r["id"] for r in await conn.fetch("SELECT id FROM contacts ORDER BY id")]


async def queue_exists(conn: Conn, slug: str) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM queues WHERE slug = $1)",
                                    slug))


# ---- queues, inboxes, agents -----------------------------------------------------------

async def insert_queues(conn: Conn, queues: Iterable[tuple[str, str]]) -> None:
    await conn.executemany(
        "INSERT INTO queues (slug, name) VALUES ($1, $2) ON CONFLICT DO NOTHING", list(queues))


async def insert_inbox(conn: Conn, slug: str, name: str, channel: str, default_queue: str, *,
                       greeting: str = "", allowed_origins: Iterable[str] = (),
                       identity_secret: str | None = None,
                       token_hash: str | None = None) -> None:
    """An inbox unless the slug exists. The keyword defaults are the columns' defaults,
    so every demo inbox is stored as if only its own columns were given. The seed names
    the channel: demo data is the one place that picks channels outside their facts."""
    await conn.execute(
        "INSERT INTO inboxes (slug, name, channel, default_queue, greeting, allowed_origins,"
        " identity_secret, api_token_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT DO NOTHING",
        slug, name, channel, default_queue, greeting, list(allowed_origins), identity_secret,
        token_hash,
    )


async def insert_agent(conn: Conn, email: str, name: str, role: str,
                       password_hash: str) -> int:
    agent_id: int = await conn.fetchval(
        "INSERT INTO agents (email, name, role, password_hash) VALUES ($1, $2, $3, $4)"
        " RETURNING id",
        email, name, role, password_hash,
    )
    return agent_id


async def insert_agent_inboxes(conn: Conn, pairs: Iterable[tuple[int, str]]) -> None:
    await conn.executemany(
        "INSERT INTO agent_inboxes (agent_id, inbox) VALUES ($1, $2)", list(pairs))


async def insert_agent_queues(conn: Conn, pairs: Iterable[tuple[int, str]]) -> None:
    await conn.executemany(
        "INSERT INTO agent_queues (agent_id, queue) VALUES ($1, $2)", list(pairs))


async def add_every_agent_to_inbox(conn: Conn, inbox: str) -> None:
    await conn.execute(
        "INSERT INTO agent_inboxes (agent_id, inbox) SELECT id, $1 FROM agents"
        " ON CONFLICT DO NOTHING", inbox)


async def ensure_prechat_form(conn: Conn, inbox: str, channel: str, config_json: str) -> None:
    """An inbox's pre-chat form, once (an admin's later changes are kept); only if the
    inbox exists with that channel."""
    await conn.execute(
        "INSERT INTO prechat_forms (inbox, config) SELECT $1, $3::jsonb"
        " WHERE EXISTS (SELECT 1 FROM inboxes WHERE slug = $1 AND channel = $2)"
        " ON CONFLICT (inbox) DO NOTHING", inbox, channel, config_json)


async def ensure_sender_address(conn: Conn, inbox: str, channel: str, address: str,
                                display_name: str) -> None:
    """The From address of an inbox that has none yet (an admin's choice is kept)."""
    await conn.execute(
        "UPDATE inboxes SET email_address = $3, email_display_name = $4"
        " WHERE slug = $1 AND channel = $2 AND email_address IS NULL",
        inbox, channel, address, display_name,
    )


# ---- voice -----------------------------------------------------------------------------

async def ensure_originator(conn: Conn, inbox: str, kind: str, config_json: str) -> None:
    """An inbox's click-to-call originator (``kind``: ami, twilio), once."""
    await conn.execute(
        "INSERT INTO voice_originators (inbox, kind, config) VALUES ($1, $2, $3::jsonb)"
        " ON CONFLICT DO NOTHING", inbox, kind, config_json)


async def ensure_cti_endpoint(conn: Conn, inbox: str, token_hash: str,
                              blocked_callers: list[str], caller_id_rules_json: str) -> None:
    """The demo PBX's CTI endpoint on ``inbox``."""
    await conn.execute(
        "INSERT INTO cti_endpoints (inbox, name, token_hash, region, blocked_callers,"
        " caller_id_rules, default_caller_id) VALUES ($1, 'Demo PBX', $2, 'DE', $3,"
        " $4::jsonb, '493055571600') ON CONFLICT (token_hash) DO NOTHING",
        inbox, token_hash, blocked_callers, caller_id_rules_json)


async def ensure_extensions(conn: Conn, pairs: Iterable[tuple[str, str]]) -> None:
    """(extension, agent's login address) pairs; agents that do not exist are skipped."""
    await conn.executemany(
        "INSERT INTO agent_extensions (extension, agent_id)"
        " SELECT $1, id FROM agents WHERE email = $2 ON CONFLICT DO NOTHING", list(pairs))


async def ensure_dispositions(conn: Conn, rows: Iterable[tuple[str, str, int]]) -> None:
    """(code, label, position) rows."""
    await conn.executemany(
        "INSERT INTO dispositions (code, label, position) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING", list(rows))


async def ensure_call_script(conn: Conn, name: str, queue: str, topic: str,
                             graph_json: str, source: str) -> None:
    await conn.execute(
        "INSERT INTO call_scripts (name, queue, topic, graph, source) VALUES ($1, $2, $3,"
        " $4::jsonb, $5) ON CONFLICT (name) DO NOTHING", name, queue, topic, graph_json,
        source)


# ---- messaging accounts ----------------------------------------------------------------

async def ensure_messaging_inbox(conn: Conn, slug: str, name: str, channel: str,
                                 account: dict[str, Any], templates_json: str) -> None:
    """A messaging inbox, its provider account (``account``: the channel_accounts
    columns) and every agent a member."""
    await insert_inbox(conn, slug, name, channel, "support")
    c = account
    await conn.execute(
        "INSERT INTO channel_accounts (inbox, provider, external_id, account_sid,"
        " auth_token, access_token, app_secret, verify_token, secret_token, templates)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb) ON CONFLICT DO NOTHING",
        slug, c["provider"], c["external_id"], c["account_sid"], c["auth_token"],
        c["access_token"], c["app_secret"], c["verify_token"], c["secret_token"],
        templates_json)
    await add_every_agent_to_inbox(conn, slug)


# ---- routing ---------------------------------------------------------------------------

async def any_routing_config(conn: Conn) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM routing_configs)"))


async def insert_routing_config(conn: Conn, version: int, text: str, content_hash: str) -> None:
    await conn.execute(
        "INSERT INTO routing_configs (version, yaml, content_hash, source)"
        " VALUES ($1, $2, $3, 'seed') ON CONFLICT DO NOTHING",
        version, text, content_hash)


# ---- customers and their context -------------------------------------------------------

async def insert_contact(conn: Conn, name: str, email: str, phone: str, locale: str,
                         tier: str) -> int:
    contact_id: int = await conn.fetchval(
        "INSERT INTO contacts (name, email, phone, locale, tier) VALUES ($1, $2, $3, $4, $5)"
        " RETURNING id",
        name, email, phone, locale, tier,
    )
    return contact_id


async def insert_identities(conn: Conn, rows: Iterable[tuple[str, str, int]]) -> None:
    """(kind, value, contact id) rows."""
    await conn.executemany(
        "INSERT INTO identities (kind, value, contact_id) VALUES ($1, $2, $3)", list(rows))


async def insert_customer_account(conn: Conn, contact_id: int, account_no: str, service: str,
                                  plan: str, status: str, monthly_fee: Decimal,
                                  since: dt.date) -> None:
    await conn.execute(
        "INSERT INTO customer_accounts (contact_id, account_no, service, plan, status,"
        " monthly_fee, since) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        contact_id, account_no, service, plan, status, monthly_fee, since,
    )


async def insert_order(conn: Conn, contact_id: int, order_no: str, items_json: str,
                       total: Decimal, status: str, created_at: dt.datetime) -> None:
    await conn.execute(
        "INSERT INTO orders (contact_id, order_no, items, total, status, created_at)"
        " VALUES ($1, $2, $3::jsonb, $4, $5, $6)",
        contact_id, order_no, items_json, total, status, created_at,
    )


async def insert_invoice(conn: Conn, contact_id: int, invoice_no: str, amount: Decimal,
                         due_date: dt.date, status: str, created_at: dt.datetime) -> None:
    await conn.execute(
        "INSERT INTO invoices (contact_id, invoice_no, amount, due_date, status,"
        " created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        contact_id, invoice_no, amount, due_date, status, created_at,
    )
