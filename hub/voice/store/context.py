"""Reads the voice store needs inside the pipeline transaction: which agent a PBX
name/number means, the caller's context for a screen pop, and the script for a call."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from hub.schema import Agent


async def agents_named(conn: asyncpg.Connection, names: list[str]) -> list[Agent]:
    """Agents a PBX refers to, in order: extension / number, e-mail (login), real name
    (Zammad's lookup order: caller-id → phone → login → id). One round trip."""
    wanted = [n.strip() for n in names if n.strip()]
    if not wanted:
        return []
    digits_only = ["".join(c for c in n if c.isdigit() or c == "+") for n in wanted]
    rows = await conn.fetch(
        "SELECT a.id, a.name, a.email, a.role, min(k.ord) AS ord,"
        " coalesce((SELECT array_agg(ai.inbox ORDER BY ai.inbox) FROM agent_inboxes ai"
        "   WHERE ai.agent_id = a.id), '{}') AS inboxes"
        " FROM agents a"
        " JOIN unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(name, num, ord) ON true"
        " WHERE a.active AND (lower(a.email) = lower(k.name) OR a.name = k.name"
        "   OR a.id::text = k.name OR EXISTS (SELECT 1 FROM agent_extensions e"
        "     WHERE e.agent_id = a.id AND e.extension IN (k.name, k.num)))"
        " GROUP BY a.id ORDER BY min(k.ord), a.id",
        wanted, digits_only,
    )
    return [Agent(id=r["id"], name=r["name"], email=r["email"], role=r["role"],
                  inboxes=list(r["inboxes"])) for r in rows]


_CONTEXT_SQL = """
SELECT row_to_json(ct)::text AS contact,
  (SELECT coalesce(json_agg(a ORDER BY a.service, a.account_no), '[]')::text FROM (
     SELECT account_no, service, plan, status, monthly_fee::float8 AS monthly_fee
     FROM customer_accounts WHERE contact_id = $1) a) AS accounts,
  (SELECT coalesce(json_agg(o ORDER BY o.created_at DESC), '[]')::text FROM (
     SELECT order_no, items, total::float8 AS total, status, created_at FROM orders
     WHERE contact_id = $1 ORDER BY created_at DESC LIMIT 5) o) AS orders,
  (SELECT coalesce(json_agg(i ORDER BY i.due_date DESC), '[]')::text FROM (
     SELECT invoice_no, amount::float8 AS amount, due_date, status FROM invoices
     WHERE contact_id = $1 AND status <> 'paid' ORDER BY due_date DESC LIMIT 5) i)
     AS open_invoices,
  (SELECT coalesce(json_agg(c ORDER BY c.last_message_at DESC NULLS LAST, c.id DESC),
     '[]')::text FROM (
     SELECT id, inbox, channel, status, subject, assignee_id, last_message_at
     FROM conversations WHERE contact_id = $1 AND status <> 'resolved'
     ORDER BY last_message_at DESC NULLS LAST, id DESC LIMIT 20) c) AS conversations,
  (SELECT count(*) FROM calls WHERE contact_id = $1) AS calls
FROM (SELECT id, name, email, phone, locale, tier FROM contacts WHERE id = $1) ct
"""


async def caller_context(conn: asyncpg.Connection, contact_id: int, agent: Agent | None,
                         phone: str) -> tuple[dict[str, Any], bool]:
    """(context, known_caller), in one round trip. Open conversations are limited to
    the inboxes the receiving agent may see; for an inbox-wide pop (agent None) to
    voice ones only."""
    r = await conn.fetchrow(_CONTEXT_SQL, contact_id)
    if r is None:
        return {}, False
    contact = json.loads(r["contact"])
    accounts = json.loads(r["accounts"])
    orders = json.loads(r["orders"])
    convs = json.loads(r["conversations"])
    visible = [c for c in convs
               if (agent is None and c["channel"] == "voice")
               or (agent is not None and agent.may_see_inbox(c["inbox"]))]
    known = bool(accounts or orders or contact["email"] or contact["name"] not in ("", phone)
                 or len(convs) > 1 or (r["calls"] or 0) > 1)
    context: dict[str, Any] = {
        "contact": contact, "accounts": accounts, "orders": orders,
        "open_invoices": json.loads(r["open_invoices"]), "open_conversations": visible,
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
