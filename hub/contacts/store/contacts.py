"""Contact read models: the cross-channel timeline, identities, claims and merge
suggestions. Scoped like every read: an agent sees a contact only through a conversation
in one of their inboxes, and only those conversations' messages."""

from __future__ import annotations

from typing import Any

import asyncpg

from hub import access
from hub.contacts.rules.verification import MAX_ATTEMPTS
from hub.contacts.store.prechat import contact_prechat
from hub.contacts.store.verification import contact_verifications
from hub.conversations.store.queries import message_from
from hub.errors import BadInput, Forbidden, NotFound
from hub.schema import Agent

_MSG = ("m.id, m.conversation_id, m.direction, m.author_kind, m.author_name, m.agent_id,"
        " m.text, m.html, m.private, m.channel, m.provider_id, m.status, m.attachments,"
        " m.created_at, m.channel_account, c.inbox AS conversation_inbox,"
        " c.status AS conversation_status")
MAX_PAGE = 200


async def live_contact_id(conn: asyncpg.Connection | asyncpg.Pool, contact_id: int) -> int:
    """Follow merge tombstones to the surviving contact; NotFound if there is none."""
    row = await conn.fetchrow(
        "WITH RECURSIVE chain(id, merged_into, depth) AS ("
        "  SELECT id, merged_into, 0 FROM contacts WHERE id = $1"
        "  UNION ALL SELECT c.id, c.merged_into, chain.depth + 1 FROM contacts c"
        "  JOIN chain ON c.id = chain.merged_into WHERE chain.depth < 32)"
        " SELECT id FROM chain WHERE merged_into IS NULL LIMIT 1",
        contact_id,
    )
    if row is None:
        raise NotFound("no such contact")
    return int(row["id"])


async def visible_inboxes(conn: asyncpg.Connection | asyncpg.Pool, agent: Agent,
                          contact_id: int) -> list[str] | None:
    """The inboxes whose conversations of this contact the agent may see (None: all).
    Forbidden when an agent shares no inbox with the contact."""
    if access.allows(agent, "contact.see_all"):
        return None
    seen = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM conversations WHERE contact_id = $1"
        " AND inbox = ANY($2::text[]))", contact_id, agent.inboxes)
    if not seen:
        raise Forbidden("this contact has no conversation in your inboxes")
    return list(agent.inboxes)


async def contact_timeline(
    conn: asyncpg.Connection | asyncpg.Pool, agent: Agent, contact_id: int, *,
    before: int | None = None, limit: int = 100,
) -> dict[str, Any]:
    """Messages of every conversation of the contact, newest page first (returned oldest
    first), each marked with its channel, inbox and conversation."""
    if not 1 <= limit <= MAX_PAGE:
        raise BadInput(f"limit: 1-{MAX_PAGE}")
    live = await live_contact_id(conn, contact_id)
    inboxes = await visible_inboxes(conn, agent, live)
    rows = await conn.fetch(
        f"SELECT {_MSG} FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        " WHERE c.contact_id = $1 AND ($2::text[] IS NULL OR c.inbox = ANY($2::text[]))"
        " AND ($3::bigint IS NULL OR m.id < $3) ORDER BY m.id DESC LIMIT $4",
        live, inboxes, before, limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{"message": message_from(r), "inbox": r["channel_account"],
              "conversation_inbox": r["conversation_inbox"],
              "conversation_status": r["conversation_status"]} for r in reversed(rows)]
    return {"contact_id": live, "items": items,
            "next_before": rows[-1]["id"] if more and rows else None}


async def contact_identities(
    conn: asyncpg.Connection | asyncpg.Pool, agent: Agent, contact_id: int
) -> dict[str, Any]:
    """Verified identities, unverified claims, and merge suggestions: other contacts that
    own what this one claims, or claim what this one owns (an agent decides; never
    automatic)."""
    live = await live_contact_id(conn, contact_id)
    inboxes = await visible_inboxes(conn, agent, live)
    identities = await conn.fetch(
        "SELECT kind, value, created_at FROM identities WHERE contact_id = $1"
        " ORDER BY kind, value", live)
    claims = await conn.fetch(
        "SELECT kind, value, source, created_at FROM identity_claims WHERE contact_id = $1"
        " ORDER BY kind, value", live)
    suggestions = await conn.fetch(
        "SELECT DISTINCT ON (o.id) o.id, o.name, s.why, s.kind, s.value FROM ("
        "  SELECT i.contact_id AS other, 'owns_claim' AS why, i.kind, i.value"
        "  FROM identity_claims cl JOIN identities i ON i.kind = cl.kind AND i.value = cl.value"
        "  WHERE cl.contact_id = $1"
        "  UNION ALL SELECT cl.contact_id, 'claims_identity', cl.kind, cl.value"
        "  FROM identities i JOIN identity_claims cl ON cl.kind = i.kind AND cl.value = i.value"
        "  WHERE i.contact_id = $1) s"
        " JOIN contacts o ON o.id = s.other AND o.id <> $1 AND o.merged_into IS NULL"
        " ORDER BY o.id LIMIT 20", live)
    return {
        "contact_id": live,
        "identities": [dict(r) for r in identities],
        "claims": [dict(r) for r in claims],
        "suggestions": [{"contact_id": r["id"], "name": r["name"], "why": r["why"],
                         "identity": f"{r['kind']}:{r['value']}"} for r in suggestions],
        # Pre-chat form submissions (unverified; docs/identity.md).
        "prechat": await contact_prechat(conn, live, inboxes),
        # One-time-code verifications of its claims (docs/identity.md).
        "verifications": [{**v, "attempts_left": max(0, MAX_ATTEMPTS - v.pop("attempts"))}
                          for v in await contact_verifications(conn, live)],
    }
