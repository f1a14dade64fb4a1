"""Shared fixtures: one embedded Postgres + Valkey per session, isolation per test.

Per session: the servers (temp dir, free ports, fsync off) and a template database with
every migration applied. Per test: ``CREATE DATABASE t_<n> TEMPLATE omnihub_template``
and a Redis key prefix ``t<n>:``, both dropped afterwards.

Fixtures: ``embedded`` (EmbeddedStack), ``pg_admin`` (asyncpg connection to the
``postgres`` database), ``settings`` (Settings), ``db`` (asyncpg pool), ``redis``
(redis.asyncio client, bytes), ``seeded`` (seed_demo's dict), ``hub`` (LiveHub: uvicorn
+ pipeline running in this event loop).

Tiers, by folder (docs/running.md): ``tests/unit/<subsystem>/`` (pure: no servers, no
sockets), ``tests/integration/<subsystem>/`` (real Postgres, Valkey, HTTP, websockets,
SMTP, IMAP) and ``tests/browser/`` (Debian's chromium). ``pytest_collection_modifyitems``
marks every test ``unit``, ``integration`` or ``browser`` from its path, so
``-m unit`` (``make test-fast``) selects the fast tier. Shared helpers and fixtures live
in ``tests/fixtures/``; fixtures used by name everywhere are registered below.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from hub.config import Settings, settings_from_env
from hub.db.migrate import apply_migrations
from tests.fixtures.ports import ReservedPort, reserved_ports, running_uvicorn
from web.embedded import EmbeddedPostgres, EmbeddedValkey, start_on_free_port

# Fixtures any test may request by name: ``browser``; ``smtp_peer`` and ``relay_hub``;
# ``mail_sink`` and ``smtp_receiver``. Fixture modules that override ``settings`` for the
# modules using them (tests/fixtures/messaging.py, media.py) are imported by those
# modules instead, so their override stays local.
pytest_plugins = ["tests.fixtures.browser", "tests.fixtures.verify", "tests.fixtures.ingest"]

TIERS = ("unit", "integration", "browser")
# Fixtures that start or reach a server; a unit test asking for one is a collection error.
SERVER_FIXTURES = frozenset(
    {"embedded", "pg_admin", "template_db", "settings", "db", "redis", "seeded", "hub",
     "browser"})

TEMPLATE_DB = "omnihub_template"
SECRET_KEY = "test-secret-key-0123456789abcdef"
_test_numbers = itertools.count(1)


def tier_of(path: Path) -> str | None:
    """The tier a test file belongs to: the first folder under tests/ if it names one."""
    parts = path.parts
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "tests" and i + 1 < len(parts) and parts[i + 1] in TIERS:
            return parts[i + 1]
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    misplaced = []
    for item in items:
        tier = tier_of(Path(str(item.path)))
        if tier is not None:
            item.add_marker(getattr(pytest.mark, tier))
        servers = SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if tier == "unit" and servers:
            misplaced.append(f"{item.nodeid} uses {', '.join(sorted(servers))}")
    if misplaced:
        raise pytest.UsageError(
            "unit tests must not use servers; move them to tests/integration/:\n  "
            + "\n  ".join(misplaced))


@dataclass(frozen=True)
class EmbeddedStack:
    pg: EmbeddedPostgres
    valkey: EmbeddedValkey
    base_dir: Path


@dataclass(frozen=True)
class LiveHub:
    base_url: str  # http://127.0.0.1:<port>, equal to settings.public_url
    ws_url: str  # ws://127.0.0.1:<port>
    settings: Settings
    seed: dict[str, Any]
    app: Any


@pytest.fixture(scope="session")
def embedded() -> Iterator[EmbeddedStack]:
    base = Path(tempfile.mkdtemp(prefix="omnihub-test-"))
    try:
        with (
            start_on_free_port(lambda port: EmbeddedPostgres(base / "pg", port, fast=True)) as pg,
            start_on_free_port(lambda port: EmbeddedValkey(base / "valkey", port)) as valkey,
        ):
            yield EmbeddedStack(pg, valkey, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def pg_admin(embedded: EmbeddedStack) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(embedded.pg.url("postgres"))
    try:
        yield conn
    finally:
        await conn.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def template_db(embedded: EmbeddedStack, pg_admin: asyncpg.Connection) -> str:
    await pg_admin.execute(f"CREATE DATABASE {TEMPLATE_DB}")
    conn = await asyncpg.connect(embedded.pg.url(TEMPLATE_DB))
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()
    return TEMPLATE_DB


def make_settings(embedded: EmbeddedStack, database: str, n: int, **overrides: Any) -> Settings:
    reserved = ReservedPort()
    port = reserved.port
    reserved_ports[port] = reserved
    values: dict[str, Any] = {
        "database_url": embedded.pg.url(database),
        "redis_url": embedded.valkey.url,
        "key_prefix": f"t{n}:",
        "secret_key": SECRET_KEY,
        "host": "127.0.0.1",
        "port": port,
        "public_url": f"http://127.0.0.1:{port}",
        "claim_idle_ms": 500,
        "pipeline_block_ms": 100,
        "consumer_name": f"test{n}",
        # Small enough that the slow-socket test overflows it quickly.
        "ws_queue_size": 256,
    }
    values.update(overrides)
    return settings_from_env({}, **values)


@pytest_asyncio.fixture
async def settings(
    embedded: EmbeddedStack, pg_admin: asyncpg.Connection, template_db: str
) -> AsyncIterator[Settings]:
    n = next(_test_numbers)
    database = f"t_{n}"
    # FILE_COPY: a plain copy of the template's files, ~6x faster than WAL_LOG with fsync off.
    await pg_admin.execute(
        f"CREATE DATABASE {database} TEMPLATE {template_db} STRATEGY FILE_COPY"
    )
    made = make_settings(embedded, database, n)
    try:
        yield made
    finally:
        reserved = reserved_ports.pop(made.port, None)
        if reserved is not None:
            reserved.close()
        await pg_admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        client = aioredis.from_url(embedded.valkey.url)
        try:
            keys = [k async for k in client.scan_iter(match=f"t{n}:*", count=1000)]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


@pytest_asyncio.fixture
async def db(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=10)
    try:
        yield pool
    finally:
        await pool.close()


@pytest_asyncio.fixture
async def redis(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(settings.redis_url, decode_responses=False)
    try:
        yield client
    finally:
        await client.aclose()


@pytest_asyncio.fixture
async def seeded(db: asyncpg.Pool, settings: Settings) -> dict[str, Any]:
    from web.seed import seed_demo

    async with db.acquire() as conn:
        return await seed_demo(conn, settings)


@contextlib.asynccontextmanager
async def live_hub(settings: Settings, seeded: dict[str, Any]) -> AsyncIterator[LiveHub]:
    """The web app (uvicorn) and one pipeline consumer on ``settings.port`` (reserved by
    ``make_settings``; settings derived with ``msgspec.structs.replace`` keep it)."""
    from hub.conversations.pipeline import run_pipeline
    from web.app import create_app

    reserved = reserved_ports.pop(settings.port)
    app = create_app(settings)
    stop = asyncio.Event()
    pipeline_task = asyncio.create_task(run_pipeline(settings, stop=stop), name="pipeline")
    try:
        async with running_uvicorn(
            app, reserved, http="httptools", ws="websockets-sansio",
            ws_max_size=settings.ws_max_frame, ws_ping_interval=settings.ws_ping_interval_s,
            ws_ping_timeout=settings.ws_ping_interval_s, proxy_headers=False, lifespan="on",
            timeout_graceful_shutdown=5,
        ):
            if pipeline_task.done():
                pipeline_task.result()
                raise RuntimeError("pipeline stopped during startup")
            yield LiveHub(
                base_url=f"http://127.0.0.1:{settings.port}",
                ws_url=f"ws://127.0.0.1:{settings.port}",
                settings=settings,
                seed=seeded,
                app=app,
            )
    finally:
        stop.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(pipeline_task, return_exceptions=True), 20)
        pipeline_task.cancel()
    if pipeline_task.done() and not pipeline_task.cancelled():
        error = pipeline_task.exception()
        if error is not None:
            raise error


@pytest_asyncio.fixture
async def hub(settings: Settings, seeded: dict[str, Any]) -> AsyncIterator[LiveHub]:
    """The web app (uvicorn) and one pipeline consumer, live on settings.port."""
    async with live_hub(settings, seeded) as running:
        yield running
