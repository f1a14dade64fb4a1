"""The contact 360° view an agent opens beside a conversation: profile, identities,
customer accounts, orders, invoices and the conversations the agent may see."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from hub.access import sees_all_inboxes
from hub.conversations.store.queries import CONVERSATION_COLUMNS, conversation_from
from hub.errors import Forbidden, NotFound
from hub.schema import Agent


async def contact_context(
    conn: asyncpg.Connection | asyncpg.Pool, agent: Agent, contact_id: int
) -> dict[str, Any]:
    """The 360° view: profile, identities, accounts, orders, invoices, conversations."""
    contact = await conn.fetchrow(
        "SELECT id, name, email, phone, locale, tier, created_at FROM contacts WHERE id = $1",
        contact_id,
    )
    if contact is None:
        raise NotFound("no such contact")
    convs = await conn.fetch(
        f"SELECT {CONVERSATION_COLUMNS} FROM conversations c JOIN contacts ct ON ct.id = c.contact_id"
        " WHERE c.contact_id = $1 ORDER BY c.created_at DESC LIMIT 50",
        contact_id,
    )
    if not sees_all_inboxes(agent.role) and not any(agent.may_see_inbox(r["inbox"]) for r in convs):
        raise Forbidden("this contact has no conversation in your inboxes")
    identities = await conn.fetch(
        "SELECT kind, value FROM identities WHERE contact_id = $1 ORDER BY kind, value",
        contact_id,
    )
    accounts = await conn.fetch(
        "SELECT account_no, service, plan, status, monthly_fee::float8 AS monthly_fee, since"
        " FROM customer_accounts WHERE contact_id = $1 ORDER BY service, account_no",
        contact_id,
    )
    orders = await conn.fetch(
        "SELECT order_no, items, total::float8 AS total, status, created_at FROM orders"
        " WHERE contact_id = $1 ORDER BY created_at DESC LIMIT 20",
        contact_id,
    )
    invoices = await conn.fetch(
        "SELECT invoice_no, amount::float8 AS amount, due_date, status FROM invoices"
        " WHERE contact_id = $1 ORDER BY due_date DESC LIMIT 24",
        contact_id,
    )
    return {
        "contact": dict(contact),
        "identities": [dict(r) for r in identities],
        "accounts": [dict(r) for r in accounts],
        "orders": [{**dict(r), "items": msgspec.json.decode(r["items"])} for r in orders],
        "invoices": [dict(r) for r in invoices],
        "conversations": [conversation_from(r) for r in convs
                          if agent.may_see_inbox(r["inbox"])],
    }
