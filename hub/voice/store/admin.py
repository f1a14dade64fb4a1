"""Telephony settings (CTI endpoints, agent extensions, click-to-call originators): the
SQL behind web/routes_voice_admin.py. Every write is one transaction with an
``audit_log`` row naming the admin; no secret or token goes into the audit details
(only which config keys were set)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from hub.errors import BadInput
from hub.schema import Agent

_ENDPOINT_COLS = "id, inbox, name, region, blocked_callers, caller_id_rules, default_caller_id"


async def _audit(conn: asyncpg.Connection, actor: Agent, action: str, subject: str,
                 details: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor_id, action, subject, details) VALUES ($1, $2, $3,"
        " $4::jsonb)", actor.id, action, subject, json.dumps(details))


async def voice_config(pool: asyncpg.Pool) -> tuple[list[asyncpg.Record], list[asyncpg.Record],
                                                    list[asyncpg.Record]]:
    """(CTI endpoints, extensions with agent names, originators), in display order."""
    endpoints = await pool.fetch(f"SELECT {_ENDPOINT_COLS} FROM cti_endpoints ORDER BY id")
    extensions = await pool.fetch(
        "SELECT e.extension, e.agent_id, a.name FROM agent_extensions e JOIN agents a"
        " ON a.id = e.agent_id ORDER BY e.extension")
    originators = await pool.fetch(
        "SELECT inbox, kind, config FROM voice_originators ORDER BY inbox")
    return endpoints, extensions, originators


def _endpoint_details(inbox: str, name: str, region: str, blocked: list[str],
                      rules_json: str, default_caller_id: str) -> dict[str, Any]:
    return {"inbox": inbox, "name": name, "region": region, "blocked_callers": len(blocked),
            "caller_id_rules": len(json.loads(rules_json)),
            "default_caller_id": default_caller_id}


async def create_cti_endpoint(pool: asyncpg.Pool, actor: Agent, *, inbox: str, name: str,
                              token_hash: str, region: str, blocked: list[str],
                              rules_json: str, default_caller_id: str) -> asyncpg.Record:
    async with pool.acquire() as conn, conn.transaction():
        r = await conn.fetchrow(
            "INSERT INTO cti_endpoints (inbox, name, token_hash, region, blocked_callers,"
            " caller_id_rules, default_caller_id) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)"
            f" RETURNING {_ENDPOINT_COLS}", inbox, name, token_hash, region, blocked,
            rules_json, default_caller_id)
        await _audit(conn, actor, "voice.cti_endpoint.create", str(r["id"]),
                     _endpoint_details(inbox, name, region, blocked, rules_json,
                                       default_caller_id))
    return r


async def update_cti_endpoint(pool: asyncpg.Pool, actor: Agent, endpoint_id: int, *,
                              inbox: str, name: str, region: str, blocked: list[str],
                              rules_json: str, default_caller_id: str
                              ) -> asyncpg.Record | None:
    async with pool.acquire() as conn, conn.transaction():
        r = await conn.fetchrow(
            "UPDATE cti_endpoints SET inbox = $2, name = $3, region = $4, blocked_callers = $5,"
            " caller_id_rules = $6::jsonb, default_caller_id = $7 WHERE id = $1"
            f" RETURNING {_ENDPOINT_COLS}", endpoint_id, inbox, name, region, blocked,
            rules_json, default_caller_id)
        if r is not None:
            await _audit(conn, actor, "voice.cti_endpoint.update", str(endpoint_id),
                         _endpoint_details(inbox, name, region, blocked, rules_json,
                                           default_caller_id))
    return r


async def replace_extensions(pool: asyncpg.Pool, actor: Agent,
                             items: list[tuple[str, int]]) -> None:
    """The whole extension table becomes ``items``; BadInput naming an unknown agent."""
    async with pool.acquire() as conn, conn.transaction():
        known = {r["id"] for r in await conn.fetch(
            "SELECT id FROM agents WHERE id = ANY($1::bigint[])", [a for _, a in items])}
        missing = sorted({a for _, a in items} - known)
        if missing:
            raise BadInput(f"agent_id: no agent {missing[0]}")
        await conn.execute("DELETE FROM agent_extensions")
        await conn.executemany(
            "INSERT INTO agent_extensions (extension, agent_id) VALUES ($1, $2)", items)
        await _audit(conn, actor, "voice.extensions.replace", "agent_extensions",
                     {"extensions": [{"extension": e, "agent_id": a} for e, a in items]})


async def originator_config(pool: asyncpg.Pool, inbox: str, kind: str) -> dict[str, Any]:
    """The stored config of an inbox's originator of this kind ({} if none)."""
    old = await pool.fetchval(
        "SELECT config FROM voice_originators WHERE inbox = $1 AND kind = $2", inbox, kind)
    return dict(json.loads(old)) if old else {}


async def twilio_originator_config(pool: asyncpg.Pool, inbox: str) -> str | None:
    """The raw stored config of an inbox's Twilio originator (for its status callback)."""
    value: str | None = await pool.fetchval(
        "SELECT config FROM voice_originators WHERE inbox = $1 AND kind = 'twilio'", inbox)
    return value


async def save_originator(pool: asyncpg.Pool, actor: Agent, inbox: str, kind: str,
                          config: dict[str, Any]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO voice_originators (inbox, kind, config) VALUES ($1, $2, $3::jsonb)"
            " ON CONFLICT (inbox) DO UPDATE SET kind = excluded.kind, config = excluded.config",
            inbox, kind, json.dumps(config))
        await _audit(conn, actor, "voice.originator.set", inbox,
                     {"kind": kind, "keys": sorted(config)})
