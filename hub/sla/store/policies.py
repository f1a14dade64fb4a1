"""SLA policies in Postgres: every SQL statement of the stored policies.

Shaped like routing's config versions (``hub/routing/configstore.py``): each change
stores the whole document as a new ``sla_policy_versions`` row, and the highest version
applies. A change is made under an advisory lock on the document read inside that lock
(two admins never lose each other's edit), validated whole against the running routing
config (``load_policies``: a bad one raises ``SlaPolicyError`` naming the field path
and nothing is written), and audited in ``audit_log`` in the same transaction. There is
no event: nothing live reads policies yet (the clock code will call
``current_policies``), so the audited write is the action, as in ``hub/admin``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeAlias

import asyncpg

from hub.errors import Conflict
from hub.routing.config import CompiledConfig
from hub.sla.rules import edits
from hub.sla.rules.load import SlaPolicyError, load_policies
from hub.sla.rules.policy import CompiledPolicies

_POLICY_LOCK = 0x6F68_736C  # "ohsl"

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool
Edit = Callable[[edits.Policies], tuple[edits.Policies, int | None]]
# (subject, details) of a change's audit row, from the policies before and after.
Audit = Callable[[edits.Policies, edits.Policies], tuple[str, dict[str, Any]]]


async def current_document(conn: Conn) -> tuple[int, edits.Policies]:
    """The applying version and its policies, in evaluation order ((0, []) before any)."""
    row = await conn.fetchrow(
        "SELECT version, document FROM sla_policy_versions ORDER BY version DESC LIMIT 1")
    if row is None:
        return 0, []
    policies: edits.Policies = json.loads(row["document"])["policies"]
    return int(row["version"]), policies


async def current_policies(conn: Conn, routing: CompiledConfig) -> CompiledPolicies:
    """The applying policies compiled against ``routing`` (no policy: an empty set).
    Raises ``SlaPolicyError`` when the routing config changed under them (a queue they
    name is gone): the caller decides, the clocks keep the terms they started with."""
    version, policies = await current_document(conn)
    return load_policies({"version": max(version, 1), "policies": policies}, routing)


async def list_versions(conn: Conn) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT v.version, v.content_hash, v.created_by, coalesce(a.name, '') AS created_by_name,"
        " v.source, v.created_at,"
        " (SELECT coalesce(jsonb_agg(p->'id'), '[]') FROM jsonb_array_elements("
        "   v.document->'policies') p) AS policy_ids"
        " FROM sla_policy_versions v LEFT JOIN agents a ON a.id = v.created_by"
        " ORDER BY v.version DESC LIMIT 200")
    return [{**dict(r), "policy_ids": json.loads(r["policy_ids"])} for r in rows]


async def add_policy(pool: asyncpg.Pool, actor_id: int, body: Any, routing: CompiledConfig,
                     expected: int | None = None) -> tuple[int, dict[str, Any]]:
    """Append a policy (evaluated after the existing ones); 409 when its id exists.
    ``expected``: the version the client edited (409 when another change came first)."""
    policy = edits.policy_body(body)
    version = await _change(pool, actor_id, routing, lambda ps: edits.add(ps, policy),
                            "sla.policy.add", _one(policy["id"]), expected)
    return version, policy


async def replace_policy(pool: asyncpg.Pool, actor_id: int, policy_id: str, body: Any,
                         routing: CompiledConfig, expected: int | None = None
                         ) -> tuple[int, dict[str, Any]]:
    """New content for a policy, same place in the order; 404 when there is none."""
    if isinstance(body, dict) and "id" not in body:
        body = {**body, "id": policy_id}  # the path names it; the body may leave it out
    policy = edits.policy_body(body)
    version = await _change(pool, actor_id, routing,
                            lambda ps: edits.replace(ps, policy_id, policy),
                            "sla.policy.update", _one(policy_id), expected)
    return version, policy


async def delete_policy(pool: asyncpg.Pool, actor_id: int, policy_id: str,
                        routing: CompiledConfig, expected: int | None = None) -> int:
    """A new version without the policy; 404 when there is none."""
    return await _change(pool, actor_id, routing,
                         lambda ps: (edits.remove(ps, policy_id), None),
                         "sla.policy.delete", _one(policy_id), expected)


async def reorder_policies(pool: asyncpg.Pool, actor_id: int, ids: Any,
                           routing: CompiledConfig, expected: int | None = None) -> int:
    """The order the policies are tried in (``ids``: every policy exactly once)."""
    return await _change(pool, actor_id, routing, lambda ps: (edits.reorder(ps, ids), None),
                         "sla.policy.reorder", _order, expected)


async def replace_document(pool: asyncpg.Pool, actor_id: int | None, section: Any,
                           routing: CompiledConfig, *, source: str,
                           only_if_newer: bool = False) -> int | None:
    """The whole document at once (the routing YAML's ``sla:`` section): its ``version``
    must be newer than the stored one; stored as that version, audited.
    ``only_if_newer``: an older or equal version is left alone (None), not refused."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _POLICY_LOCK)
        current, before = await current_document(conn)
        if only_if_newer and edits.section_version(section) <= current:
            return None
        version = edits.check_section_version(section, current)
        compiled = load_policies(section, routing)  # raises before any write
        after: edits.Policies = json.loads(json.dumps(section)).get("policies", [])
        await _insert(conn, actor_id, version, after, source)
        await conn.execute(
            "INSERT INTO audit_log (actor_id, action, subject, details)"
            " VALUES ($1, 'sla.policies.replace', 'sla_policies', $2::jsonb)",
            actor_id, json.dumps({"version": version, "source": source,
                                  "before": [p.get("id") for p in before],
                                  "after": [p.id for p in compiled.policies]}))
    return version


async def _insert(conn: asyncpg.Connection, actor_id: int | None, version: int,
                  policies: edits.Policies, source: str) -> None:
    text = json.dumps({"version": version, "policies": policies}, sort_keys=True,
                      separators=(",", ":"))
    await conn.execute(
        "INSERT INTO sla_policy_versions (version, document, content_hash, created_by,"
        " source) VALUES ($1, $2::jsonb, $3, $4, $5)",
        version, text, hashlib.sha256(text.encode()).hexdigest(), actor_id, source)


async def _change(pool: asyncpg.Pool, actor_id: int, routing: CompiledConfig, edit: Edit,
                  action: str, audit: Audit, expected: int | None) -> int:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _POLICY_LOCK)
        version, before = await current_document(conn)
        if expected is not None and expected != version:
            raise Conflict(f"the SLA policies changed since version {expected} (now"
                           f" {version}): reload and edit again")
        after, index = edit(before)
        new_version = version + 1
        document = {"version": new_version, "policies": after}
        try:
            load_policies(document, routing)  # all or nothing: raises before any write
        except SlaPolicyError as exc:
            raise edits.policy_error(exc, index) from None
        await _insert(conn, actor_id, new_version, after, "api")
        subject, details = audit(before, after)
        await conn.execute(
            "INSERT INTO audit_log (actor_id, action, subject, details)"
            " VALUES ($1, $2, $3, $4::jsonb)",
            actor_id, action, subject, json.dumps({"version": new_version, **details}))
    return new_version


def _one(policy_id: str) -> Audit:
    """One policy's audit row: the policy as it was and as it is (None: none)."""
    def audit(before: edits.Policies, after: edits.Policies) -> tuple[str, dict[str, Any]]:
        return f"sla_policy:{policy_id}", {"before": _find(before, policy_id),
                                           "after": _find(after, policy_id)}
    return audit


def _order(before: edits.Policies, after: edits.Policies) -> tuple[str, dict[str, Any]]:
    return "sla_policies", {"before": [p.get("id") for p in before],
                            "after": [p.get("id") for p in after]}


def _find(policies: edits.Policies, policy_id: str) -> dict[str, Any] | None:
    return next((p for p in policies if p.get("id") == policy_id), None)
