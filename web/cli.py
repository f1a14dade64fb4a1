"""``omnihub`` command line: dev, web, pipeline, worker, migrate, seed, deadletters.

Settings are built once here, from the environment (``settings_from_env``), and passed
down; nothing below reads ``os.environ``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

import asyncpg

from hub.config import Settings, settings_from_env
from hub.errors import ConfigError
from web.logs import configure_logging


def _settings(**overrides: object) -> Settings:
    return settings_from_env(os.environ, **overrides)


def _require(settings: Settings, *names: str) -> None:
    env = {"database_url": "DATABASE_URL", "redis_url": "REDIS_URL",
           "secret_key": "OMNIHUB_SECRET_KEY"}
    missing = [env[n] for n in names if not getattr(settings, n)]
    if missing:
        raise ConfigError(f"set {', '.join(missing)} (or use `omnihub dev`)")


def cmd_web(args: argparse.Namespace) -> int:
    import uvicorn

    from web.app import create_app

    overrides: dict[str, object] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port:
        overrides["port"] = args.port
    settings = _settings(**overrides)
    _require(settings, "database_url", "redis_url", "secret_key")
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_max_size=settings.ws_max_frame, ws_ping_interval=settings.ws_ping_interval_s,
        ws_ping_timeout=settings.ws_ping_interval_s,
        proxy_headers=False,
        lifespan="on",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1


async def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


def _run_fast(coro: Coroutine[Any, Any, None]) -> None:
    """asyncio.run on uvloop where available (as the web process runs)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def cmd_pipeline(args: argparse.Namespace) -> int:
    from hub.conversations.pipeline import run_pipeline

    settings = _settings()
    _require(settings, "database_url", "redis_url")

    async def main() -> None:
        stop = asyncio.Event()
        await _stop_on_signals(stop)
        await run_pipeline(settings, stop=stop)

    _run_fast(main())
    return 0


async def _store_file_policies(settings: Settings, text: str) -> None:
    """The routing YAML file's ``sla:`` section (docs/sla.md "In the routing YAML"); a bad
    one stops the start like a bad routing file."""
    from hub.errors import HubError
    from web.sla_routing_section import store_file_section

    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        await store_file_section(pool, text)
    except HubError as exc:  # SlaPolicyError or RoutingConfigError: the path and problem
        raise ConfigError(f"OMNIHUB_ROUTING_CONFIG: {exc.reason}") from None
    finally:
        await pool.close()


def cmd_router(args: argparse.Namespace) -> int:
    import redis.asyncio as aioredis

    from hub.routing.service import run_router
    from hub.schema import Message
    from web.jobs import enqueue_delivery

    settings = _settings()
    _require(settings, "database_url", "redis_url")
    text = None
    if settings.routing_config:
        try:
            with open(settings.routing_config, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise ConfigError(f"OMNIHUB_ROUTING_CONFIG: {exc}") from exc

    async def main() -> None:
        stop = asyncio.Event()
        await _stop_on_signals(stop)
        jobs = aioredis.from_url(settings.redis_url)  # type: ignore[no-untyped-call]

        async def deliver(message: Message) -> None:
            await enqueue_delivery(jobs, settings, message)

        try:
            if text is not None:
                await _store_file_policies(settings, text)
            await run_router(settings, stop=stop, config_text=text, deliver=deliver)
        finally:
            await jobs.aclose()

    _run_fast(main())
    return 0


def cmd_mail(args: argparse.Namespace) -> int:
    from channels.email.ingest_sink import mail_config_from_env
    from channels.email.service import run_mail

    settings = _settings()
    _require(settings, "redis_url")
    try:
        config = mail_config_from_env(os.environ)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc

    async def main() -> None:
        stop = asyncio.Event()
        await _stop_on_signals(stop)
        await run_mail(settings, config, stop)

    _run_fast(main())
    return 0


def cmd_devmail(args: argparse.Namespace) -> int:
    """make dev's outgoing relay: keeps mail in dev_mailbox_dir (see /dev/mailbox)."""
    from pathlib import Path

    from channels.email.dev_sink import run_dev_sink

    settings = _settings()
    if not settings.dev_mailbox_dir or not settings.smtp_relay_host:
        raise ConfigError("set OMNIHUB_DEV_MAILBOX_DIR and OMNIHUB_SMTP_RELAY_HOST/_PORT"
                          " (the sink listens where the worker sends)")

    async def main() -> None:
        stop = asyncio.Event()
        await _stop_on_signals(stop)
        await run_dev_sink(settings.smtp_relay_host, settings.smtp_relay_port,
                           Path(settings.dev_mailbox_dir), stop)

    try:
        _run_fast(main())
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return 0


def cmd_devpbx(args: argparse.Namespace) -> int:
    """make dev's PBX: answers AMI where the demo originator dials and reports each call
    to this hub's CTI API (channels/cti/pbx_sim.py)."""
    from channels.cti.pbx_sim import run_dev_pbx
    from web.seed import demo_ami_secret, demo_cti_token

    settings = _settings()
    _require(settings, "secret_key")
    host, _, port = settings.dev_pbx_listen.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError("set OMNIHUB_DEV_PBX_LISTEN=127.0.0.1:<port>")
    cti_url = f"{settings.public_url.rstrip('/')}/cti/{demo_cti_token(settings)}/events"

    async def main() -> None:
        stop = asyncio.Event()
        await _stop_on_signals(stop)
        await run_dev_pbx(host, int(port), "omnihub", demo_ami_secret(settings), cti_url,
                          stop)

    try:
        _run_fast(main())
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from arq.worker import run_worker

    from workers.main import make_worker_settings

    settings = _settings()
    _require(settings, "database_url", "redis_url")
    run_worker(make_worker_settings(settings))  # handles SIGINT/SIGTERM itself
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings()
    _require(settings, "database_url")
    applied = asyncio.run(migrate(settings.database_url))
    print("applied: " + (", ".join(applied) or "nothing (up to date)"))
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    settings = _settings()
    _require(settings, "database_url", "secret_key")
    info = asyncio.run(seed(settings))
    print("seeded the demo" if info["created"] else "demo already seeded; nothing changed")
    return 0


def cmd_deadletters(args: argparse.Namespace) -> int:
    from redis.exceptions import RedisError

    from web.cli_deadletters import run_deadletters

    settings = _settings()
    _require(settings, "redis_url")
    try:
        return asyncio.run(run_deadletters(settings, args, sys.stdout, sys.stderr))
    except (OSError, RedisError) as exc:
        print(f"omnihub deadletters: Redis unavailable: {exc}", file=sys.stderr)
        return 1


def cmd_dev(args: argparse.Namespace) -> int:
    from web.devrun import run_dev

    return run_dev(os.environ)


async def migrate(database_url: str) -> list[str]:
    from hub.db.migrate import apply_migrations

    conn = await asyncpg.connect(database_url)
    try:
        return await apply_migrations(conn)
    finally:
        await conn.close()


async def seed(settings: Settings) -> dict[str, object]:
    from web.seed import seed_demo

    conn = await asyncpg.connect(settings.database_url)
    try:
        return await seed_demo(conn, settings, demo_prechat=True)
    finally:
        await conn.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omnihub", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("dev", help="embedded Postgres + Valkey, demo data, web + pipeline + worker")
    web = sub.add_parser("web", help="HTTP + websocket server (uvicorn)")
    web.add_argument("--host", help="bind address (default OMNIHUB_HOST or 127.0.0.1)")
    web.add_argument("--port", type=int, help="port (default OMNIHUB_PORT or 8000)")
    sub.add_parser("pipeline", help="ingest consumer: identity, threading, persist, route")
    sub.add_parser("router", help="routing loop: offers, timeouts, escalation, presence,"
                                  " queue stats (several may run)")
    sub.add_parser("worker", help="arq worker: acknowledgements, outbound, SLA timers")
    sub.add_parser("mail", help="email adapters: SMTP/LMTP receiver and IMAP fetchers")
    sub.add_parser("devmail", help="development SMTP sink for outgoing mail (/dev/mailbox)")
    sub.add_parser("devpbx", help="development PBX simulator: AMI originate + CTI events")
    sub.add_parser("migrate", help="apply pending SQL migrations to DATABASE_URL")
    sub.add_parser("seed", help="seed the demo data (does nothing if already seeded)")
    from web.cli_deadletters import add_parser as add_deadletters

    add_deadletters(sub)
    return parser


COMMANDS = {
    "mail": cmd_mail, "router": cmd_router,
    "devmail": cmd_devmail, "devpbx": cmd_devpbx,
    "dev": cmd_dev, "web": cmd_web, "pipeline": cmd_pipeline, "worker": cmd_worker,
    "migrate": cmd_migrate, "seed": cmd_seed, "deadletters": cmd_deadletters,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.command, os.environ)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"omnihub {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
