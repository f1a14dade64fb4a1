"""Admin writes to inboxes, provider accounts and agents: one transaction each, with an
``audit_log`` row (never a secret in it). Validation is ``hub.admin.rules``; passwords arrive
already hashed (hashing is the web edge's job). Web processes pick changes up within
their caches' few seconds (``InboxCache``, ``AccountDirectory``, ``HubState.inbox``)."""

from __future__ import annotations

import json
import secrets
from typing import Any

import asyncpg

from hub.admin.rules import (
    AccountBody,
    AckBody,
    AgentCreate,
    AgentPatch,
    InboxCreate,
    InboxPatch,
    MembersBody,
    TemplateBody,
    check_account,
    check_ack_templates,
    check_email_address,
    check_inbox_fields,
    check_origins,
    check_slug,
    check_templates,
    check_url,
    clean_text,
    masked,
)
from hub.channels_table import facts
from hub.errors import BadInput, Conflict, Forbidden, NotFound
from hub.schema import Agent
from hub.tokens import token_digest

_SECRET_COLS = ("account_sid", "auth_token", "access_token", "app_secret", "verify_token",
                "secret_token")


async def _audit(conn: asyncpg.Connection, actor: Agent, action: str, subject: str,
                 details: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor_id, action, subject, details) VALUES ($1, $2, $3,"
        " $4::jsonb)", actor.id, action, subject, json.dumps(details))


async def _check_queue(conn: asyncpg.Connection, queue: str) -> None:
    if not await conn.fetchval("SELECT 1 FROM queues WHERE slug = $1", queue[:64]):
        raise BadInput(f"default_queue: no queue {queue[:64]!r}")


# ---- inboxes ---------------------------------------------------------------------------

_INBOX_COLS = ("i.slug, i.name, i.channel, i.default_queue, i.greeting, i.allowed_origins,"
               " coalesce(i.email_address, '') AS email_address, i.email_display_name,"
               " coalesce(i.webhook_url, '') AS webhook_url,"
               " i.api_token_hash IS NOT NULL AS has_api_token,"
               " i.identity_secret IS NOT NULL AS has_identity_secret, i.created_at,"
               " a.provider, a.external_id, a.account_sid, a.auth_token, a.access_token,"
               " a.app_secret, a.verify_token, a.secret_token, a.human_agent,"
               " coalesce(jsonb_array_length(a.templates), 0) AS templates")


_MEMBERS = (", (SELECT coalesce(jsonb_agg(jsonb_build_object('id', ag.id, 'name', ag.name)"
            "   ORDER BY ag.id), '[]') FROM agent_inboxes ai JOIN agents ag"
            "   ON ag.id = ai.agent_id AND ag.active WHERE ai.inbox = i.slug) AS members")


def _inbox_view(r: asyncpg.Record) -> dict[str, Any]:
    out = {k: r[k] for k in ("slug", "name", "channel", "default_queue", "greeting",
                             "email_address", "email_display_name", "webhook_url",
                             "has_api_token", "has_identity_secret", "created_at")}
    out["allowed_origins"] = list(r["allowed_origins"])
    out["members"] = json.loads(r["members"])
    out["account"] = None if r["provider"] is None else {
        "provider": r["provider"], "external_id": r["external_id"],
        "templates": r["templates"], "human_agent": r["human_agent"], **{c: masked(r[c]) for c in _SECRET_COLS}}
    return out


async def list_inboxes(pool: asyncpg.Pool, slug: str | None = None) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"SELECT {_INBOX_COLS}{_MEMBERS} FROM inboxes i"
        " LEFT JOIN channel_accounts a ON a.inbox = i.slug"
        " WHERE $1::text IS NULL OR i.slug = $1 ORDER BY i.slug", slug)
    return [_inbox_view(r) for r in rows]


async def get_inbox(pool: asyncpg.Pool, slug: str) -> dict[str, Any]:
    found = await list_inboxes(pool, slug[:64])
    if not found:
        raise NotFound(f"no inbox {slug[:64]!r}")
    return found[0]


def _new_secret(kind: str) -> str:
    """An API inbox's bearer token (``ohk_`` marks it in logs and secret scanners) or a
    chat inbox's identity-validation key."""
    return "ohk_" + secrets.token_urlsafe(32) if kind == "api_token" else secrets.token_hex(32)


async def create_inbox(pool: asyncpg.Pool, actor: Agent, body: InboxCreate
                       ) -> tuple[dict[str, Any], dict[str, str]]:
    """The new inbox and the secrets shown only now: an API inbox's bearer token, a chat
    inbox's identity-validation secret (HMAC key for logged-in shop users)."""
    slug = check_slug("slug", body.slug)
    name = clean_text("name", body.name, 100, required=True)
    greeting = clean_text("greeting", body.greeting, 1000)
    origins = check_origins(body.allowed_origins)
    email = check_email_address("email_address", body.email_address) if body.email_address else ""
    webhook = check_url("webhook_url", body.webhook_url)
    check_inbox_fields(body.channel, email_address=email, webhook_url=webhook)
    if facts(body.channel).from_address and not email:
        raise BadInput("email_address: required for an email inbox (replies are sent from it)")
    secret = facts(body.channel).secret
    shown: dict[str, str] = {secret: _new_secret(secret)} if secret else {}
    async with pool.acquire() as conn, conn.transaction():
        await _check_queue(conn, body.default_queue)
        inserted = await conn.fetchval(
            "INSERT INTO inboxes (slug, name, channel, default_queue, greeting,"
            " allowed_origins, email_address, email_display_name, webhook_url,"
            " api_token_hash, identity_secret) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
            " $10, $11) ON CONFLICT (slug) DO NOTHING RETURNING slug",
            slug, name, body.channel, body.default_queue, greeting, origins, email or None,
            clean_text("email_display_name", body.email_display_name, 100), webhook or None,
            token_digest(shown["api_token"]) if "api_token" in shown else None,
            shown.get("identity_secret"))
        if inserted is None:
            raise Conflict(f"an inbox {slug!r} exists already", code="inbox_exists")
        await _audit(conn, actor, "inbox.created", f"inbox:{slug}",
                     {"channel": body.channel, "default_queue": body.default_queue})
    return await get_inbox(pool, slug), shown


async def update_inbox(pool: asyncpg.Pool, actor: Agent, slug: str, patch: InboxPatch
                       ) -> dict[str, Any]:
    current = await get_inbox(pool, slug)
    changes: dict[str, Any] = {}
    if patch.name is not None:
        changes["name"] = clean_text("name", patch.name, 100, required=True)
    if patch.greeting is not None:
        changes["greeting"] = clean_text("greeting", patch.greeting, 1000)
    if patch.allowed_origins is not None:
        changes["allowed_origins"] = check_origins(patch.allowed_origins)
    if patch.email_address is not None:
        changes["email_address"] = (check_email_address("email_address", patch.email_address)
                                    if patch.email_address else None)
        if facts(current["channel"]).from_address and not changes["email_address"]:
            raise BadInput("email_address: required for an email inbox")
    if patch.email_display_name is not None:
        changes["email_display_name"] = clean_text("email_display_name",
                                                   patch.email_display_name, 100)
    if patch.webhook_url is not None:
        changes["webhook_url"] = check_url("webhook_url", patch.webhook_url) or None
    check_inbox_fields(current["channel"], email_address=changes.get("email_address") or "",
                       webhook_url=changes.get("webhook_url") or "")
    if patch.default_queue is not None:
        changes["default_queue"] = patch.default_queue[:64]
    if not changes:
        raise BadInput("nothing to change")
    async with pool.acquire() as conn, conn.transaction():
        if "default_queue" in changes:
            await _check_queue(conn, changes["default_queue"])
        sets = ", ".join(f"{col} = ${n}" for n, col in enumerate(changes, start=2))
        await conn.execute(f"UPDATE inboxes SET {sets} WHERE slug = $1", current["slug"],
                           *changes.values())
        await _audit(conn, actor, "inbox.updated", f"inbox:{current['slug']}",
                     {"fields": sorted(changes)})
    return await get_inbox(pool, current["slug"])


async def rotate_inbox_secret(pool: asyncpg.Pool, actor: Agent, slug: str) -> dict[str, str]:
    """A new API token (API inboxes) or identity secret (chat inboxes); the old one stops
    working at once."""
    current = await get_inbox(pool, slug)
    secret = facts(current["channel"]).secret
    async with pool.acquire() as conn, conn.transaction():
        if secret == "api_token":
            token = _new_secret(secret)
            await conn.execute("UPDATE inboxes SET api_token_hash = $2 WHERE slug = $1",
                               current["slug"], token_digest(token))
            shown: dict[str, str] = {secret: token}
        elif secret == "identity_secret":
            shown = {secret: _new_secret(secret)}
            await conn.execute("UPDATE inboxes SET identity_secret = $2 WHERE slug = $1",
                               current["slug"], shown[secret])
        else:
            raise BadInput(f"a {current['channel']} inbox has no token to rotate")
        await _audit(conn, actor, "inbox.secret_rotated", f"inbox:{current['slug']}",
                     {"secret": next(iter(shown))})
    return shown


async def put_account(pool: asyncpg.Pool, actor: Agent, slug: str, body: AccountBody
                      ) -> dict[str, Any]:
    current = await get_inbox(pool, slug)
    async with pool.acquire() as conn, conn.transaction():
        stored = await conn.fetchrow(
            "SELECT provider, " + ", ".join(_SECRET_COLS) + ", human_agent FROM"
            " channel_accounts WHERE inbox = $1 FOR UPDATE", current["slug"])
        kept = {k: v for k, v in dict(stored).items() if k != "human_agent"} if stored else {}
        row: dict[str, Any] = dict(check_account(current["channel"], body, kept))
        taken = await conn.fetchval(
            "SELECT inbox FROM channel_accounts WHERE provider = $1 AND external_id = $2"
            " AND inbox <> $3", row["provider"], row["external_id"], current["slug"])
        if taken is not None:
            raise Conflict(f"{row['external_id']} is already the account of inbox {taken!r}",
                           code="account_in_use")
        if body.human_agent is not None and row["provider"] != "meta":
            raise BadInput("human_agent: only for Messenger and Instagram (Meta) accounts")
        # Left out: kept (for the same provider), like the secrets.
        row["human_agent"] = (body.human_agent if body.human_agent is not None else
                              stored["human_agent"] if stored and stored["provider"] == "meta"
                              else None)
        cols = ["provider", "external_id", *_SECRET_COLS, "human_agent"]
        await conn.execute(
            f"INSERT INTO channel_accounts (inbox, {', '.join(cols)}) VALUES ($1, "
            + ", ".join(f"${n}" for n in range(2, len(cols) + 2)) + ") ON CONFLICT (inbox)"
            " DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in cols),
            current["slug"], *(row[c] for c in cols))
        await _audit(conn, actor, "inbox.account_set", f"inbox:{current['slug']}",
                     {"provider": row["provider"], "external_id": row["external_id"],
                      "secrets_changed": sorted(c for c in _SECRET_COLS
                                                if getattr(body, c) is not None)})
    return await get_inbox(pool, current["slug"])


async def put_templates(pool: asyncpg.Pool, actor: Agent, slug: str,
                        templates: list[TemplateBody]) -> list[dict[str, str]]:
    """Replace the WhatsApp templates agents may send outside the 24 h window."""
    current = await get_inbox(pool, slug)
    provider = (current["account"] or {}).get("provider")
    clean = check_templates(current["channel"], provider, templates)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE channel_accounts SET templates = $2::jsonb WHERE inbox = $1",
                           current["slug"], json.dumps(clean))
        await _audit(conn, actor, "inbox.templates_set", f"inbox:{current['slug']}",
                     {"templates": [f"{t['name']}/{t['language']}" for t in clean]})
    return clean


async def get_templates(pool: asyncpg.Pool, slug: str) -> list[dict[str, str]]:
    current = await get_inbox(pool, slug)
    raw = await pool.fetchval("SELECT templates::text FROM channel_accounts WHERE inbox = $1",
                              current["slug"])
    return list(json.loads(raw)) if raw else []


async def get_ack(pool: asyncpg.Pool, slug: str) -> dict[str, Any]:
    current = await get_inbox(pool, slug)
    if not facts(current["channel"]).acks:
        raise BadInput("acknowledgements are for email inboxes")
    enabled = await pool.fetchval("SELECT email_ack_enabled FROM inboxes WHERE slug = $1",
                                  current["slug"])
    rows = await pool.fetch("SELECT language, body FROM email_ack_templates WHERE inbox = $1"
                            " ORDER BY language", current["slug"])
    return {"enabled": enabled, "templates": [dict(r) for r in rows]}


async def put_ack(pool: asyncpg.Pool, actor: Agent, slug: str, body: AckBody
                  ) -> dict[str, Any]:
    current = await get_inbox(pool, slug)
    if not facts(current["channel"]).acks:
        raise BadInput("acknowledgements are for email inboxes")
    templates = check_ack_templates(body.templates)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE inboxes SET email_ack_enabled = $2 WHERE slug = $1",
                           current["slug"], body.enabled)
        await conn.execute("DELETE FROM email_ack_templates WHERE inbox = $1", current["slug"])
        await conn.executemany(
            "INSERT INTO email_ack_templates (inbox, language, body) VALUES ($1, $2, $3)",
            [(current["slug"], lang, text) for lang, text in templates])
        await _audit(conn, actor, "inbox.ack_set", f"inbox:{current['slug']}",
                     {"enabled": body.enabled, "languages": [lang for lang, _ in templates]})
    return await get_ack(pool, current["slug"])


async def put_inbox_members(pool: asyncpg.Pool, actor: Agent, slug: str, body: MembersBody
                            ) -> tuple[dict[str, Any], set[int]]:
    """Replace the agents of an inbox (the other side of an agent's inbox list); returns
    the inbox and the agents who joined or left it."""
    wanted = sorted(set(body.agents))
    if len(wanted) > 1000:
        raise BadInput("agents: at most 1000")
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT 1 FROM inboxes WHERE slug = $1", slug[:64]):
            raise NotFound(f"no inbox {slug[:64]!r}")
        known = {r[0] for r in await conn.fetch(
            "SELECT id FROM agents WHERE id = ANY($1::bigint[])",
            [a for a in wanted if 0 < a < 2**63])}
        unknown = [a for a in wanted if a not in known]
        if unknown:
            raise BadInput(f"agents: unknown {', '.join(map(str, unknown[:5]))}")
        before = {r[0] for r in await conn.fetch(
            "SELECT agent_id FROM agent_inboxes WHERE inbox = $1", slug)}
        await conn.execute("DELETE FROM agent_inboxes WHERE inbox = $1", slug)
        await conn.executemany("INSERT INTO agent_inboxes (agent_id, inbox) VALUES ($1, $2)",
                               [(a, slug) for a in wanted])
        await _audit(conn, actor, "inbox.members_set", f"inbox:{slug}", {"agents": wanted})
    return await get_inbox(pool, slug), before.symmetric_difference(wanted)


# ---- agents ----------------------------------------------------------------------------

_AGENT_SQL = (
    "SELECT a.id, a.email, a.name, a.role, a.active, a.created_at,"
    " coalesce(array_agg(ai.inbox ORDER BY ai.inbox) FILTER (WHERE ai.inbox IS NOT NULL),"
    " '{}') AS inboxes FROM agents a LEFT JOIN agent_inboxes ai ON ai.agent_id = a.id"
    " WHERE $1::bigint IS NULL OR a.id = $1 GROUP BY a.id ORDER BY a.id")


def _agent_view(r: asyncpg.Record) -> dict[str, Any]:
    return {k: r[k] for k in ("id", "email", "name", "role", "active", "created_at")} | {
        "inboxes": list(r["inboxes"])}


async def list_agents(pool: asyncpg.Pool, agent_id: int | None = None) -> list[dict[str, Any]]:
    return [_agent_view(r) for r in await pool.fetch(_AGENT_SQL, agent_id)]


async def get_agent(pool: asyncpg.Pool, agent_id: int) -> dict[str, Any]:
    found = await list_agents(pool, agent_id)
    if not found:
        raise NotFound(f"no agent {agent_id}")
    return found[0]


async def _check_inboxes(conn: asyncpg.Connection, inboxes: list[str]) -> list[str]:
    wanted = sorted(set(inboxes))
    if len(wanted) > 200:
        raise BadInput("inboxes: at most 200")
    known = {r[0] for r in await conn.fetch(
        "SELECT slug FROM inboxes WHERE slug = ANY($1::text[])", wanted)}
    unknown = [s[:64] for s in wanted if s not in known]
    if unknown:
        raise BadInput(f"inboxes: unknown {', '.join(unknown[:5])}")
    return wanted


async def create_agent(pool: asyncpg.Pool, actor: Agent, body: AgentCreate,
                       password_hash: str) -> dict[str, Any]:
    email = check_email_address("email", body.email)
    name = clean_text("name", body.name, 100, required=True)
    async with pool.acquire() as conn, conn.transaction():
        inboxes = await _check_inboxes(conn, body.inboxes)
        agent_id = await conn.fetchval(
            "INSERT INTO agents (email, name, role, password_hash) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (email) DO NOTHING RETURNING id", email, name, body.role,
            password_hash)
        if agent_id is None:
            raise Conflict(f"an agent with {email} exists already", code="agent_exists")
        await conn.executemany("INSERT INTO agent_inboxes (agent_id, inbox) VALUES ($1, $2)",
                               [(agent_id, s) for s in inboxes])
        await _audit(conn, actor, "agent.created", f"agent:{agent_id}",
                     {"email": email, "role": body.role, "inboxes": inboxes})
    return await get_agent(pool, agent_id)


async def update_agent(pool: asyncpg.Pool, actor: Agent, agent_id: int, patch: AgentPatch,
                       password_hash: str | None) -> dict[str, Any]:
    """Demoting or deactivating oneself is refused (an admin cannot lock themself out by
    accident), and so is leaving the hub without an active admin. Deactivation and a new
    password end the agent's sessions."""
    changes: dict[str, Any] = {}
    if patch.name is not None:
        changes["name"] = clean_text("name", patch.name, 100, required=True)
    if patch.role is not None:
        changes["role"] = patch.role
    if patch.active is not None:
        changes["active"] = patch.active
    if password_hash is not None:
        changes["password_hash"] = password_hash
    if not changes and patch.inboxes is None:
        raise BadInput("nothing to change")
    if agent_id == actor.id and (patch.active is False or patch.role not in (None, actor.role)):
        raise Forbidden("you cannot deactivate or demote yourself; ask another admin")
    async with pool.acquire() as conn, conn.transaction():
        # One admin change at a time: the last-admin check must see the others' commits.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('omnihub:admins', 0))")
        current = await conn.fetchrow("SELECT role, active FROM agents WHERE id = $1 FOR UPDATE",
                                      agent_id)
        if current is None:
            raise NotFound(f"no agent {agent_id}")
        losing_admin = current["role"] == "admin" and current["active"] and (
            changes.get("role", "admin") != "admin" or changes.get("active", True) is False)
        if losing_admin and not await conn.fetchval(
                "SELECT count(*) FROM agents WHERE role = 'admin' AND active AND id <> $1",
                agent_id):
            raise Conflict("the hub needs at least one active admin", code="last_admin")
        if changes:
            sets = ", ".join(f"{col} = ${n}" for n, col in enumerate(changes, start=2))
            await conn.execute(f"UPDATE agents SET {sets} WHERE id = $1", agent_id,
                               *changes.values())
        if patch.inboxes is not None:
            inboxes = await _check_inboxes(conn, patch.inboxes)
            await conn.execute("DELETE FROM agent_inboxes WHERE agent_id = $1", agent_id)
            await conn.executemany(
                "INSERT INTO agent_inboxes (agent_id, inbox) VALUES ($1, $2)",
                [(agent_id, s) for s in inboxes])
        if patch.active is False or password_hash is not None:
            await conn.execute("DELETE FROM sessions WHERE agent_id = $1", agent_id)
        await _audit(conn, actor, "agent.updated", f"agent:{agent_id}",
                     {"fields": sorted([*(c for c in changes if c != "password_hash"),
                                        *(["password"] if password_hash else []),
                                        *(["inboxes"] if patch.inboxes is not None else [])])})
    return await get_agent(pool, agent_id)
