"""Embedded Postgres/Valkey, the per-test isolation fixtures, and the CLI around them."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
import redis.asyncio as aioredis

from hub.config import Settings
from web.embedded import (
    EmbeddedError,
    EmbeddedPostgres,
    EmbeddedValkey,
    check_port_free,
    free_port,
)

if TYPE_CHECKING:
    from conftest import EmbeddedStack

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A temp dir outside pytest's basetemp: a concurrent pytest session resets
    /tmp/pytest-of-<user> to 0700, which would lock out the unprivileged postgres user."""
    path = Path(tempfile.mkdtemp(prefix="omnihub-test-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_port_in_use_names_port_and_variable(busy_port: int, tmp_path: Path) -> None:
    with pytest.raises(EmbeddedError) as err:
        check_port_free(busy_port, "OMNIHUB_PORT")
    assert str(busy_port) in str(err.value) and "OMNIHUB_PORT" in str(err.value)

    with pytest.raises(EmbeddedError, match=rf"port {busy_port} .*OMNIHUB_PG_PORT"):
        EmbeddedPostgres(tmp_path / "pg", busy_port).start()
    with pytest.raises(EmbeddedError, match=rf"port {busy_port} .*OMNIHUB_REDIS_PORT"):
        EmbeddedValkey(tmp_path / "valkey", busy_port).start()
    assert not (tmp_path / "pg").exists(), "nothing is created when the port is taken"


async def test_valkey_is_append_only(redis: aioredis.Redis) -> None:
    raw = await redis.config_get("*")
    config = {_text(k): _text(v) for k, v in raw.items()}
    assert config["appendonly"] == "yes"
    assert config["appendfsync"] == "everysec"
    assert config["save"] == ""
    assert config["bind"].split() == ["127.0.0.1"]


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def test_postgres_settings(db: asyncpg.Pool, embedded: EmbeddedStack) -> None:
    async with db.acquire() as conn:
        assert int(await conn.fetchval("SHOW max_connections")) >= 200
        assert await conn.fetchval("SHOW listen_addresses") == "127.0.0.1"
        assert await conn.fetchval("SHOW fsync") == "off"  # test sessions only
        assert await conn.fetchval("SHOW server_encoding") == "UTF8"
    assert embedded.pg.proc is not None
    assert os.stat(f"/proc/{embedded.pg.proc.pid}").st_uid != 0, "postgres never runs as root"


async def test_each_test_gets_a_migrated_database_and_prefix(
    db: asyncpg.Pool, settings: Settings
) -> None:
    async with db.acquire() as conn:
        name = await conn.fetchval("SELECT current_database()")
        applied = await conn.fetch("SELECT name FROM schema_migrations")
        assert await conn.fetchval("SELECT count(*) FROM agents") == 0
    assert name.startswith("t_") and settings.key_prefix == f"t{name[2:]}:"
    assert "001_core.sql" in {r["name"] for r in applied}
    assert settings.public_url == f"http://127.0.0.1:{settings.port}"


def test_restart_reuses_data(data_dir: Path) -> None:
    async def write(pg: EmbeddedPostgres, valkey: EmbeddedValkey) -> None:
        conn = await asyncpg.connect(pg.url())
        await conn.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('pg')")
        await conn.close()
        client = aioredis.from_url(valkey.url)
        await client.xadd("kept", {"v": "valkey"})
        await client.aclose()

    async def read(pg: EmbeddedPostgres, valkey: EmbeddedValkey) -> tuple[str, int]:
        conn = await asyncpg.connect(pg.url())
        value = await conn.fetchval("SELECT v FROM kept")
        await conn.close()
        client = aioredis.from_url(valkey.url)
        length = await client.xlen("kept")
        await client.aclose()
        return value, length

    for round_ in range(2):
        with (
            EmbeddedPostgres(data_dir / "pg", free_port()) as pg,
            EmbeddedValkey(data_dir / "valkey", free_port()) as valkey,
        ):
            pg.start()
            valkey.start()
            if round_ == 0:
                version = (data_dir / "pg" / "PG_VERSION").stat().st_mtime_ns
                asyncio.run(write(pg, valkey))
            else:
                assert (data_dir / "pg" / "PG_VERSION").stat().st_mtime_ns == version
                assert asyncio.run(read(pg, valkey)) == ("pg", 1)
        assert pg.proc is not None and pg.proc.returncode == 0, "clean fast shutdown"
        assert valkey.proc is not None and valkey.proc.returncode == 0
    assert (data_dir / "valkey" / "appendonlydir").is_dir()


async def _cli(*args: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "web.cli", *args, cwd=ROOT, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_cli_migrate_and_seed(settings: Settings, db: asyncpg.Pool) -> None:
    env = {"DATABASE_URL": settings.database_url, "OMNIHUB_SECRET_KEY": settings.secret_key}
    assert await _cli("migrate", env=env) == (0, "applied: nothing (up to date)\n")
    assert await _cli("seed", env=env) == (0, "seeded the demo\n")
    assert await _cli("seed", env=env) == (0, "demo already seeded; nothing changed\n")
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM contacts") == 20


async def test_cli_refuses_missing_urls() -> None:
    env = {"DATABASE_URL": "", "REDIS_URL": ""}
    code, out = await _cli("migrate", env=env)
    assert code == 2 and "DATABASE_URL" in out


async def test_dev_fails_clearly_when_a_port_is_taken(busy_port: int, tmp_path: Path) -> None:
    # Every other port free, so only the taken one can be reported (a `make dev` running
    # on this machine holds the default 8000/2525/2526).
    env = {"OMNIHUB_DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": "", "REDIS_URL": "",
           "OMNIHUB_PG_PORT": str(free_port()), "OMNIHUB_REDIS_PORT": str(busy_port),
           "OMNIHUB_PORT": str(free_port()), "OMNIHUB_SMTP_PORT": str(free_port()),
           "OMNIHUB_DEV_SINK_PORT": str(free_port())}
    code, out = await _cli("dev", env=env)
    assert code == 2
    assert f"port {busy_port}" in out and "OMNIHUB_REDIS_PORT" in out
    assert not (tmp_path / "data" / "pg").exists(), "nothing started"


def _ports_free(*ports: int) -> bool:
    try:
        for port in ports:
            check_port_free(port, "-")
    except EmbeddedError:
        return False
    return True


@pytest.mark.slow
async def test_dev_starts_prints_urls_and_stops_on_sigint(data_dir: Path) -> None:
    if importlib.util.find_spec("web.app") is None or importlib.util.find_spec(
            "workers.main") is None:
        pytest.skip("web/app.py or workers/main.py not written yet")
    ports = {"OMNIHUB_PORT": free_port(), "OMNIHUB_PG_PORT": free_port(),
             "OMNIHUB_REDIS_PORT": free_port(), "OMNIHUB_SMTP_PORT": free_port(),
             "OMNIHUB_DEV_SINK_PORT": free_port()}
    env = {**os.environ, "OMNIHUB_DATA_DIR": str(data_dir / "data"), "DATABASE_URL": "",
           "REDIS_URL": "", "OMNIHUB_SECRET_KEY": "", **{k: str(v) for k, v in ports.items()}}
    tokens = []
    for _ in range(2):  # the second start reuses the data directory
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "web.cli", "dev", cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        assert proc.stdout is not None
        output = []
        try:
            async with asyncio.timeout(90):
                while "omnihub is running" not in "".join(output):
                    line = (await proc.stdout.readline()).decode()
                    assert line, "omnihub dev exited early:\n" + "".join(output)
                    output.append(line)
                while "Redis" not in output[-1]:
                    output.append((await proc.stdout.readline()).decode())
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGINT)
        rest, _ = await asyncio.wait_for(proc.communicate(), 60)
        text = "".join(output) + rest.decode()
        assert proc.returncode == 0, text
        assert f"http://127.0.0.1:{ports['OMNIHUB_PORT']}/inbox" in text
        assert "/demo" in text and "agent1@demo.omnihub.test" in text
        assert f"http://127.0.0.1:{ports['OMNIHUB_PORT']}/dev/mailbox" in text
        tokens.append(text.split("token ", 1)[1].split()[0])
        assert "omnihub dev: stopped" in text
        assert _ports_free(*ports.values()), "every child and server is gone"
    assert tokens[0] == tokens[1], "secret key and demo data are reused"
    assert (data_dir / "data" / "secret_key").stat().st_mode & 0o777 == 0o600
