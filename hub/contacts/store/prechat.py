"""Pre-chat forms in Postgres: the per-inbox config (admin writes, audited), the
submissions the pipeline records with a visitor's first message, and the agent's read.

Identity safety (docs/identity.md): a submission's email/phone are claims. They are
written to ``identity_claims`` by hub/contacts/store/linking.py (source ``prechat``) and here to
``prechat_submissions``; neither table is read by the linking rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
import msgspec

from hub.contacts.rules.prechat import DISABLED, PrechatConfig, parse_config
from hub.errors import BadInput, Conflict, NotFound
from hub.schema import Agent, Envelope, Message

_DEFAULT_NAME = r"^Visitor [A-Za-z0-9_-]{1,6}$"  # channels.chat.default_name of a visitor


async def get_form(conn: asyncpg.Connection | asyncpg.Pool,
                   inbox: str) -> tuple[PrechatConfig, int]:
    """(config, version); the disabled default and version 0 when never configured."""
    row = await conn.fetchrow("SELECT config, version FROM prechat_forms WHERE inbox = $1",
                              inbox)
    if row is None:
        return DISABLED, 0
    # Stored configs were normalised by parse_config; convert only rebuilds the Structs.
    return msgspec.convert(json.loads(row["config"]), PrechatConfig), int(row["version"])


async def _chat_inbox(conn: asyncpg.Connection, inbox: str) -> None:
    channel = await conn.fetchval("SELECT channel FROM inboxes WHERE slug = $1", inbox)
    if channel is None:
        raise NotFound("no such inbox")
    if channel != "chat":
        raise BadInput("the pre-chat form belongs to web chat (widget) inboxes",
                       code="not_a_chat_inbox")


async def save_form(pool: asyncpg.Pool, actor: Agent, inbox: str, data: Any,
                    expected_version: int | None = None) -> tuple[PrechatConfig, int]:
    """Validate and store a new config with an audit row, in one transaction.
    PrechatConfigError (422 with the path) or Conflict (409: stale version); nothing
    is written in either case."""
    cfg = parse_config(data)
    stored = msgspec.json.encode(cfg).decode()
    async with pool.acquire() as conn, conn.transaction():
        await _chat_inbox(conn, inbox)
        current = await conn.fetchval(
            "SELECT version FROM prechat_forms WHERE inbox = $1 FOR UPDATE", inbox) or 0
        if expected_version is not None and expected_version != current:
            raise Conflict(f"the form changed meanwhile (version {current}); reload it")
        version = current + 1
        await conn.execute(
            "INSERT INTO prechat_forms (inbox, config, version, updated_by, updated_at)"
            " VALUES ($1, $2::jsonb, $3, $4, now()) ON CONFLICT (inbox) DO UPDATE SET"
            " config = EXCLUDED.config, version = EXCLUDED.version,"
            " updated_by = EXCLUDED.updated_by, updated_at = now()",
            inbox, stored, version, actor.id)
        await conn.execute(
            "INSERT INTO audit_log (actor_id, action, subject, details)"
            " VALUES ($1, 'prechat.config', $2, $3::jsonb)",
            actor.id, f"inbox:{inbox}",
            json.dumps({"version": version, "previous_version": current,
                        "config": json.loads(stored)}))
    return cfg, version


async def record_submissions(conn: asyncpg.Connection, messages: Sequence[Message],
                             envs: Sequence[Envelope], inbox_of: Mapping[int, str]) -> None:
    """Inside the pipeline transaction: one submission row per NEW message that carried
    a pre-chat form (a redelivered envelope inserts no message, so no second row), and
    the submitted name on a contact that has none (or only the visitor placeholder)."""
    by_key = {(e.channel_account, e.provider_id): e for e in envs if e.prechat is not None}
    rows = []
    for m in messages:
        inbox = inbox_of.get(m.conversation_id, "")
        env = by_key.get((inbox, m.provider_id))
        if env is None or env.prechat is None:
            continue
        a = env.prechat
        c = a.consent
        rows.append((inbox, m.conversation_id, m.id, a.name, a.email, a.phone,
                     json.dumps(a.custom), c.given if c else None, c.text if c else None,
                     c.version if c else None, c.at if c else None))
    if not rows:
        return
    cols = list(zip(*rows, strict=True))
    await conn.execute(
        "WITH s AS (INSERT INTO prechat_submissions (inbox, contact_id, conversation_id,"
        "  message_id, name, email, phone, custom, consent_given, consent_text,"
        "  consent_version, consented_at)"
        " SELECT r.inbox, c.contact_id, r.conv, r.msg, r.name, r.email, r.phone, r.custom,"
        "  r.given, r.ctext, r.cver, r.cat"
        " FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[],"
        "  $6::text[], $7::jsonb[], $8::boolean[], $9::text[], $10::text[],"
        "  $11::timestamptz[]) AS r(inbox, conv, msg, name, email, phone, custom, given,"
        "  ctext, cver, cat)"
        " JOIN conversations c ON c.id = r.conv"
        " ON CONFLICT (message_id) DO NOTHING RETURNING contact_id, name)"
        " UPDATE contacts k SET name = s.name FROM s"
        " WHERE k.id = s.contact_id AND s.name <> ''"
        f" AND (k.name = '' OR k.name ~ '{_DEFAULT_NAME}')",
        *[list(c) for c in cols])


async def contact_prechat(conn: asyncpg.Connection | asyncpg.Pool, contact_id: int,
                          inboxes: list[str] | None, limit: int = 5) -> list[dict[str, Any]]:
    """The latest submissions of a (live) contact's conversations in ``inboxes``
    (None: all). Follows merges and splits because it goes through conversations."""
    rows = await conn.fetch(
        "SELECT s.id, s.inbox, s.conversation_id, s.name, s.email, s.phone,"
        " s.custom::text AS custom, s.consent_given, s.consent_text, s.consent_version,"
        " s.consented_at, s.created_at FROM prechat_submissions s"
        " JOIN conversations c ON c.id = s.conversation_id"
        " WHERE c.contact_id = $1 AND ($2::text[] IS NULL OR c.inbox = ANY($2::text[]))"
        " ORDER BY s.id DESC LIMIT $3", contact_id, inboxes, limit)
    out = []
    for r in rows:
        item = dict(r)
        item["custom"] = json.loads(r["custom"])
        item["verified"] = False  # what a visitor typed; never checked
        out.append(item)
    return out
