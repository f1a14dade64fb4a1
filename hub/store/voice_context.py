"""Reads the voice store needs inside the pipeline transaction: which agent a PBX
name/number means, the caller's context for a screen pop, and the script for a call."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from hub.schema import Agent
from hub.store.queries import load_agent


async def agents_named(conn: asyncpg.Connection, names: list[str]) -> list[Agent]:
    """Agents a PBX refers to, in order: extension / number, e-mail (login), real name
    (Zammad's lookup order: caller-id → phone → login → id)."""
    wanted = [n.strip() for n in names if n.strip()]
    if not wanted:
        return []
    digits_only = ["".join(c for c in n if c.isdigit() or c == "+") for n in wanted]
    rows = await conn.fetch(
        "SELECT DISTINCT ON (a.id) a.id, k.ord FROM agents a"
        " JOIN unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(name, num, ord) ON true"
        " LEFT JOIN agent_extensions e ON e.agent_id = a.id"
        " WHERE a.active AND (e.extension = k.name OR e.extension = k.num"
        "   OR lower(a.email) = lower(k.name) OR a.name = k.name OR a.id::text = k.name)"
        " ORDER BY a.id, k.ord",
        wanted, digits_only,
    )
    out: list[Agent] = []
    for r in sorted(rows, key=lambda rec: rec["ord"]):
        agent = await load_agent(conn, r["id"])
        if agent is not None:
            out.append(agent)
    return out


def _plain(row: asyncpg.Record) -> dict[str, Any]:
    out = dict(row)
    for key, value in out.items():
        if hasattr(value, "isoformat"):
            out[key] = value.isoformat()
    return out


async def caller_context(conn: asyncpg.Connection, contact_id: int, agent: Agent | None,
                         phone: str) -> tuple[dict[str, Any], bool]:
    """(context, known_caller). Open conversations are limited to the inboxes the
    receiving agent may see; for an inbox-wide pop (agent None) to voice ones only."""
    contact = await conn.fetchrow(
        "SELECT id, name, email, phone, locale, tier FROM contacts WHERE id = $1", contact_id)
    if contact is None:
        return {}, False
    accounts = await conn.fetch(
        "SELECT account_no, service, plan, status, monthly_fee::float8 AS monthly_fee"
        " FROM customer_accounts WHERE contact_id = $1 ORDER BY service, account_no",
        contact_id)
    orders = await conn.fetch(
        "SELECT order_no, items, total::float8 AS total, status, created_at FROM orders"
        " WHERE contact_id = $1 ORDER BY created_at DESC LIMIT 5", contact_id)
    invoices = await conn.fetch(
        "SELECT invoice_no, amount::float8 AS amount, due_date, status FROM invoices"
        " WHERE contact_id = $1 AND status <> 'paid' ORDER BY due_date DESC LIMIT 5",
        contact_id)
    convs = await conn.fetch(
        "SELECT id, inbox, channel, status, subject, assignee_id, last_message_at"
        " FROM conversations WHERE contact_id = $1 AND status <> 'resolved'"
        " ORDER BY last_message_at DESC NULLS LAST, id DESC LIMIT 20", contact_id)
    calls = await conn.fetchval(
        "SELECT count(*) FROM calls WHERE contact_id = $1", contact_id)
    visible = [c for c in convs
               if (agent is None and c["channel"] == "voice")
               or (agent is not None and agent.may_see_inbox(c["inbox"]))]
    known = bool(accounts or orders or contact["email"] or contact["name"] not in ("", phone)
                 or len(convs) > 1 or (calls or 0) > 1)
    context: dict[str, Any] = {
        "contact": _plain(contact),
        "accounts": [_plain(r) for r in accounts],
        "orders": [{**_plain(r), "items": msgspec.json.decode(r["items"])} for r in orders],
        "open_invoices": [_plain(r) for r in invoices],
        "open_conversations": [_plain(r) for r in visible],
    }
    if not known:
        # Zammad opens "new ticket" prefilled with the caller for unknown numbers.
        context["new_case"] = {"phone": phone, "name": "", "email": "",
                               "subject": f"Call from {phone or 'unknown number'}"}
    return context, known


async def script_for(conn: asyncpg.Connection, queue: str, topic: str) -> dict[str, Any] | None:
    """The active script for this topic, else for this queue (newest wins)."""
    r = await conn.fetchrow(
        "SELECT id, name FROM call_scripts WHERE active AND ("
        " ($1 <> '' AND topic = $1) OR ($2 <> '' AND queue = $2 AND topic = ''))"
        " ORDER BY (topic = $1 AND $1 <> '') DESC, id DESC LIMIT 1",
        topic, queue)
    return None if r is None else {"id": r["id"], "name": r["name"]}
