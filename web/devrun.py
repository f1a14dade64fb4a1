"""``omnihub dev``: one command from a fresh clone to a running hub with demo data.

Order of things (see docs/running.md): check every port, start embedded Postgres and
Valkey (only for the URL not given in the environment), create the database, migrate,
seed, spawn ``omnihub web``/``pipeline``/``router``/``worker``/``mail`` (and the dev
mail sink and PBX simulator), print the URLs. On SIGINT/SIGTERM the children stop
first, then the embedded servers. A child that dies on its own is restarted with a
backoff (web/supervise.py); the rest keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import asyncpg

from hub.config import Settings, settings_from_env
from hub.errors import ConfigError
from web.embedded import (
    EmbeddedPostgres,
    EmbeddedValkey,
    _die_with_parent,
    check_port_free,
)
from web.supervise import Supervisor

DEFAULT_PG_PORT = 54329
DEFAULT_REDIS_PORT = 63799
DEFAULT_WEB_PORT = 8000
DATABASE = "omnihub"
CHILDREN = ("web", "pipeline", "router", "worker", "mail")
DEFAULT_SMTP_PORT = 2525
# Outgoing mail goes to a local sink (`omnihub devmail`), shown at /dev/mailbox, unless
# OMNIHUB_SMTP_RELAY_HOST names a real relay.
DEFAULT_DEV_SINK_PORT = 2526
# Click-to-call dials a local PBX simulator (`omnihub devpbx`) on Asterisk's AMI port,
# unless OMNIHUB_DEV_PBX=off (e.g. a real Asterisk listens there).
DEFAULT_DEV_PBX_PORT = 5038
STOP_TIMEOUT_S = 15.0


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name) or str(default)
    try:
        port = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise ConfigError(f"{name}={port} is not a port number")
    return port


def load_secret_key(path: Path) -> str:
    """The dev secret key, generated once and kept in ``path`` (mode 0600)."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(32)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key + "\n")
    return path.read_text().strip()


async def prepare_database(settings: Settings, admin_url: str | None) -> dict[str, Any]:
    """Create the database (embedded only), apply migrations, seed the demo."""
    from hub.db.create import ensure_database
    from hub.db.migrate import apply_migrations
    from web.seed import seed_demo

    if admin_url is not None:
        await ensure_database(admin_url, DATABASE)
    conn = await asyncpg.connect(settings.database_url)
    try:
        await apply_migrations(conn)
        return await seed_demo(conn, settings, demo_prechat=True)
    finally:
        await conn.close()


class _Signals:
    """Remember the first SIGINT/SIGTERM instead of raising KeyboardInterrupt."""

    def __init__(self) -> None:
        self.received: int | None = None
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum


def run_dev(env: Mapping[str, str]) -> int:
    signals = _Signals()
    base = Path(env.get("OMNIHUB_DATA_DIR") or ".omnihub").resolve()
    host = env.get("OMNIHUB_HOST") or "127.0.0.1"
    web_port = _port(env, "OMNIHUB_PORT", DEFAULT_WEB_PORT)
    smtp_port = _port(env, "OMNIHUB_SMTP_PORT", DEFAULT_SMTP_PORT)
    use_sink = not env.get("OMNIHUB_SMTP_RELAY_HOST")
    sink_port = _port(env, "OMNIHUB_DEV_SINK_PORT", DEFAULT_DEV_SINK_PORT)
    use_pbx = (env.get("OMNIHUB_DEV_PBX") or "on").strip().lower() not in ("0", "off", "no",
                                                                           "false")
    pbx_port = _port(env, "OMNIHUB_DEV_PBX_PORT", DEFAULT_DEV_PBX_PORT)
    embed_pg = not env.get("DATABASE_URL")
    embed_redis = not env.get("REDIS_URL")
    pg = valkey = None
    if embed_pg:
        pg = EmbeddedPostgres(base / "pg", _port(env, "OMNIHUB_PG_PORT", DEFAULT_PG_PORT))
    if embed_redis:
        valkey = EmbeddedValkey(
            base / "valkey", _port(env, "OMNIHUB_REDIS_PORT", DEFAULT_REDIS_PORT)
        )
    # Every port first, so a clash is reported before anything starts.
    check_port_free(web_port, "OMNIHUB_PORT", "0.0.0.0" if host in ("0.0.0.0", "::") else host)
    check_port_free(smtp_port, "OMNIHUB_SMTP_PORT")
    if use_sink:
        check_port_free(sink_port, "OMNIHUB_DEV_SINK_PORT")
    if use_pbx:
        check_port_free(pbx_port, "OMNIHUB_DEV_PBX_PORT")
    for server in (pg, valkey):
        if server is not None:
            check_port_free(server.port, server.port_env)

    base.mkdir(parents=True, exist_ok=True)
    secret_key = env.get("OMNIHUB_SECRET_KEY") or load_secret_key(base / "secret_key")
    browser_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    public_url = env.get("OMNIHUB_PUBLIC_URL") or f"http://{browser_host}:{web_port}"

    with contextlib.ExitStack() as stack:
        if pg is not None:
            stack.enter_context(pg)
            _say(f"starting embedded Postgres on 127.0.0.1:{pg.port} (data {_rel(pg.data_dir)})")
            pg.start()
        if valkey is not None:
            stack.enter_context(valkey)
            _say(f"starting embedded Valkey on 127.0.0.1:{valkey.port} "
                 f"(data {_rel(valkey.data_dir)})")
            valkey.start()
        child_env = dict(env)
        child_env.update(
            DATABASE_URL=pg.url(DATABASE) if pg is not None else env["DATABASE_URL"],
            REDIS_URL=valkey.url if valkey is not None else env["REDIS_URL"],
            OMNIHUB_SECRET_KEY=secret_key,
            OMNIHUB_HOST=host,
            OMNIHUB_PORT=str(web_port),
            OMNIHUB_PUBLIC_URL=public_url,
            # A local SMTP receiver so a newcomer can mail the hub (inbox "mail").
            OMNIHUB_SMTP_LISTEN=f"127.0.0.1:{smtp_port}",
            OMNIHUB_SMTP_RECIPIENTS=env.get("OMNIHUB_SMTP_RECIPIENTS")
            or "support@demo.omnihub.test=mail,reply@demo.omnihub.test=mail,@localhost=mail",
            OMNIHUB_MAIL_BLOB_DIR=str(base / "blobs"),
            # Our Message-ID / reply+token domain, the same for the sender and the receiver.
            OMNIHUB_EMAIL_DOMAIN=env.get("OMNIHUB_EMAIL_DOMAIN") or "demo.omnihub.test",
            # Where the demo's AMI originator dials (the seed reads the port).
            OMNIHUB_DEV_PBX_LISTEN=f"127.0.0.1:{pbx_port}",
        )
        if use_sink:
            child_env.update(
                OMNIHUB_SMTP_RELAY_HOST="127.0.0.1",
                OMNIHUB_SMTP_RELAY_PORT=str(sink_port),
                OMNIHUB_SMTP_RELAY_SECURITY="none",
                OMNIHUB_DEV_MAILBOX_DIR=str(base / "mailbox"),
            )
        settings = settings_from_env(child_env)
        seed = asyncio.run(
            prepare_database(settings, pg.url("postgres") if pg is not None else None)
        )
        if signals.received is not None:
            return 0
        children = (*CHILDREN, *(["devmail"] if use_sink else []),
                    *(["devpbx"] if use_pbx else []))
        return _supervise(signals, child_env, settings, seed, host, web_port, children)
    return 0  # pragma: no cover - ExitStack does not swallow


def _spawner(env: dict[str, str]) -> Callable[[str], subprocess.Popen[bytes]]:
    def spawn(name: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "web.cli", name],
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # signals come from us, in order
            preexec_fn=_die_with_parent(signal.SIGTERM),
        )
    return spawn


def _supervise(
    signals: _Signals, env: dict[str, str], settings: Settings, seed: dict[str, Any],
    host: str, port: int, names: tuple[str, ...] = CHILDREN,
) -> int:
    supervisor = Supervisor(names, _spawner(env), _say)
    try:
        supervisor.start(time.monotonic())
        announced = False
        while signals.received is None:
            supervisor.poll(time.monotonic())
            if not announced and _accepts(host, port):
                _print_banner(settings, seed, env["OMNIHUB_SMTP_LISTEN"],
                              env.get("OMNIHUB_DEV_PBX_LISTEN", "") if "devpbx" in names else "")
                announced = True
            time.sleep(0.2)
    finally:
        _stop_children(supervisor.processes())
    _say("stopped")
    return 0


def _stop_children(children: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in children.values():
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for name, proc in children.items():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _say(f"`omnihub {name}` did not stop within {STOP_TIMEOUT_S:.0f}s; killing it")
            proc.kill()
            proc.wait()


def _accepts(host: str, port: int) -> bool:
    target = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    try:
        with socket.create_connection((target, port), timeout=0.5):
            return True
    except OSError:
        return False


def _say(text: str) -> None:
    print(f"omnihub dev: {text}", flush=True)


def _rel(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return "./" + str(path.relative_to(Path.cwd()))
    return str(path)


def _print_banner(settings: Settings, seed: dict[str, Any], smtp: str, pbx: str = ""
                  ) -> None:
    url = settings.public_url.rstrip("/")
    mailbox = (f"    Dev mailbox     {url}/dev/mailbox   (outgoing mail, kept by the local sink)\n"
               if settings.dev_mailbox_dir else "")
    if pbx:
        mailbox += (f"    Dev PBX         ami://{pbx}   (simulated: \"Call me back\" in the demo"
                    " shop, then \"Call now\" rings, answers, hangs up)\n")
    logins = "\n".join(
        f"    {x['email']:<30} {x['password']:<12} {x['role']}" for x in seed["logins"]
    )
    print(
        f"""
  omnihub is running  (Ctrl-C stops everything)

    Agent inbox     {url}/inbox
    Demo shop       {url}/demo   (chat widget of inbox "{seed['widget_inbox']}")
    Login page      {url}/login
    Settings        {url}/admin   (inboxes, provider accounts, agents: log in as admin)
{mailbox}
  Demo logins (email, password, role)
{logins}

  API inbox "{seed['api_inbox']}":  token {seed['api_token']}
    curl -X POST {url}/api/v1/inboxes/{seed['api_inbox']}/messages \\
      -H 'Authorization: Bearer {seed['api_token']}' -H 'Content-Type: application/json' \\
      -d '{{"source_id": "shop-42", "text": "Where is my router?", "email": "emma.muller@example.com"}}'

  Email inbox "mail":  send to support@demo.omnihub.test through smtp://{smtp}
    python3 -c "import smtplib; smtplib.SMTP('{smtp.rsplit(':', 1)[0]}', {smtp.rsplit(':', 1)[1]}).sendmail('you@example.com', ['support@demo.omnihub.test'], 'From: you@example.com\\nSubject: Hi\\n\\nMy TV is dark')"

  Postgres  {settings.database_url}
  Redis     {settings.redis_url}
""",
        flush=True,
    )
