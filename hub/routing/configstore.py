"""Routing config versions in Postgres, and the running version's signal in Redis.

The highest ``routing_configs.version`` is the running config. A change is validated
(``load_config``), checked against the running version (``check_successor``) and
inserted under an advisory lock, with the ``queues`` table brought in step, all in one
transaction: a bad config raises before anything is written. After commit the version
is published in Redis (``{rt}:cfgver`` and a wake-up message), so every process swaps
to it: routers at their next loop turn, web processes at their next request.
"""

from __future__ import annotations

import asyncpg
import redis.asyncio as aioredis
import yaml

from hub.channels_table import channels_in_order, facts
from hub.config import Settings
from hub.routing.config import DEFAULT_UNITS, CompiledConfig
from hub.routing.loader import check_successor, load_config

_CONFIG_LOCK = 0x6F68_7263  # "ohrc"


def _starter_weights() -> dict[str, int]:
    """The weights the starting config lists (the defaults, shown so an admin sees where
    to tune them), heaviest first."""
    names = sorted(channels_in_order(starter_weight=True),
                   key=lambda name: -facts(name).routing_weight)
    return {name: facts(name).routing_weight for name in names}


def version_key(settings: Settings) -> str:
    return settings.key_prefix + "{rt}:cfgver"


def wake_channel(settings: Settings) -> str:
    return settings.key_prefix + "router:wake"


async def latest_config(conn: asyncpg.Connection | asyncpg.Pool
                        ) -> tuple[CompiledConfig, str] | None:
    """The running config and its YAML text (None when none was ever stored)."""
    row = await conn.fetchrow(
        "SELECT yaml FROM routing_configs ORDER BY version DESC LIMIT 1")
    if row is None:
        return None
    return load_config(row["yaml"]), row["yaml"]


async def config_version(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM routing_configs"))


async def save_config(pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings, text: str,
                      *, by: int | None = None, source: str = "api") -> CompiledConfig:
    """Validate, check it succeeds the running version, persist, sync ``queues``, then
    announce it. Raises ``RoutingConfigError`` (nothing written) when it is invalid."""
    new = load_config(text)  # raises with the field path; nothing touched yet
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _CONFIG_LOCK)
        current = await latest_config(conn)
        check_successor(current[0] if current else None, new)
        await conn.execute(
            "INSERT INTO routing_configs (version, yaml, content_hash, created_by, source)"
            " VALUES ($1, $2, $3, $4, $5)",
            new.version, text, new.content_hash, by, source)
        await sync_queues(conn, new)
    await announce(redis, settings, new.version)
    return new


async def sync_queues(conn: asyncpg.Connection, cfg: CompiledConfig) -> None:
    """Every configured queue exists in ``queues`` (work items reference it). Queues the
    config dropped stay: old work items still name them."""
    ids = list(cfg.queue_order)
    names = [cfg.queues[q].name or q.replace("_", " ").replace("-", " ").title() for q in ids]
    await conn.execute(
        "INSERT INTO queues (slug, name) SELECT * FROM unnest($1::text[], $2::text[])"
        " ON CONFLICT (slug) DO UPDATE SET name = excluded.name",
        ids, names)


async def announce(redis: aioredis.Redis, settings: Settings, version: int) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(version_key(settings), str(version))
        pipe.publish(wake_channel(settings), b"config")
        await pipe.execute()


async def list_versions(conn: asyncpg.Connection | asyncpg.Pool) -> list[dict[str, object]]:
    rows = await conn.fetch(
        "SELECT version, content_hash, created_by, source, created_at FROM routing_configs"
        " ORDER BY version DESC LIMIT 200")
    return [dict(r) for r in rows]


async def default_config_yaml(conn: asyncpg.Connection, version: int = 1) -> str:
    """A starting config built from the ``queues`` and ``agent_queues`` tables: every
    queue, longest-idle, single offers; every active agent with their queues."""
    queues = await conn.fetch("SELECT slug, name FROM queues ORDER BY created_at, slug")
    agents = await conn.fetch(
        "SELECT a.id, coalesce(array_agg(aq.queue ORDER BY aq.queue)"
        "   FILTER (WHERE aq.queue IS NOT NULL), '{}') AS queues"
        " FROM agents a LEFT JOIN agent_queues aq ON aq.agent_id = a.id"
        " WHERE a.active GROUP BY a.id ORDER BY a.id")
    doc = {
        "version": version,
        "capacity": {"units": DEFAULT_UNITS, "weights": _starter_weights(),
                     "max_per_channel": {name: facts(name).max_per_agent
                                         for name in channels_in_order()
                                         if facts(name).max_per_agent is not None}},
        "offers": {"timeout_s": 30, "mode": "single", "reoffer_cooldown_s": 30},
        "presence": {"heartbeat_timeout_s": 60, "away_grace_s": 30, "offline_after_s": 600},
        "wrapup_s": {**{name: facts(name).wrapup_s for name in channels_in_order()
                        if facts(name).wrapup_s is not None}, "default": 0},
        "queues": [{"id": q["slug"], "name": q["name"], "strategy": "longest_idle"}
                   for q in queues],
        "agents": [{"id": a["id"], "queues": list(a["queues"])} for a in agents],
    }
    return str(yaml.safe_dump(doc, sort_keys=False))


async def ensure_config(pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings,
                        file_text: str | None = None) -> CompiledConfig:
    """At start: store the YAML file when it is newer than the stored config (or the
    default config when nothing is stored), and return the running config."""
    async with pool.acquire() as conn:
        current = await latest_config(conn)
        if file_text is not None:
            new = load_config(file_text)
            if current is None or new.version > current[0].version:
                return await save_config(pool, redis, settings, file_text, source="file")
        if current is not None:
            await redis.set(version_key(settings), str(current[0].version))
            return current[0]
        text = await default_config_yaml(conn)
    try:
        return await save_config(pool, redis, settings, text, source="seed")
    except Exception:
        again = await latest_config(pool)  # another process stored one first
        if again is None:
            raise
        return again[0]


class ConfigCache:
    """The running config for a process: re-read from Postgres only when the Redis
    version key moved (one GET per use)."""

    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings) -> None:
        self._pool = pool
        self._redis = redis
        self._settings = settings
        self._cfg: CompiledConfig | None = None

    async def get(self) -> CompiledConfig:
        raw = await self._redis.get(version_key(self._settings))
        wanted = int(raw) if raw else None
        if self._cfg is None or (wanted is not None and wanted != self._cfg.version):
            found = await latest_config(self._pool)
            if found is None:
                self._cfg = await ensure_config(self._pool, self._redis, self._settings)
            else:
                self._cfg = found[0]
        return self._cfg

    def peek(self) -> CompiledConfig | None:
        return self._cfg
