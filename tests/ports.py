"""Ports for servers the tests run: bound first, then handed over, never "pick then bind".

Choosing a free port and binding it later leaves a window in which another process (a
parallel test run, an embedded server starting) takes it; one such collision once failed
56 tests. ``ReservedPort`` binds 127.0.0.1:0 and keeps the socket, so the port is ours
until the server that listens on it closes it. ``refused_port`` gives a port on which
nothing ever listens while the context is open (a bound, non-listening socket).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

HOST = "127.0.0.1"


class ReservedPort:
    """A socket bound to 127.0.0.1:0; ``port`` is known before the server starts."""

    def __init__(self) -> None:
        # No SO_REUSEADDR: nobody else may bind this port while we hold it.
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((HOST, 0))
        self.port: int = self.sock.getsockname()[1]

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def listening(self) -> socket.socket:
        self.sock.listen(2048)
        self.sock.setblocking(False)
        return self.sock

    def close(self) -> None:
        self.sock.close()


# settings.port -> its socket: bound by conftest.make_settings, listened on by live_hub.
# Here, not in conftest, which is imported twice (as conftest and as tests.conftest).
reserved_ports: dict[int, ReservedPort] = {}


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A port that refuses connections for as long as the context is open."""
    reserved = ReservedPort()
    try:
        yield reserved.port
    finally:
        reserved.close()


@contextlib.asynccontextmanager
async def running_uvicorn(app: Any, port: ReservedPort | None = None,
                          **config: Any) -> AsyncIterator[ReservedPort]:
    """Serve ``app`` with uvicorn on a reserved port (a new one if none is given);
    stop it on exit even when the body failed."""
    import uvicorn

    reserved = port or ReservedPort()
    options: dict[str, Any] = {"log_level": "warning", "lifespan": "off"}
    options.update(config)
    server = uvicorn.Server(uvicorn.Config(app, **options))
    async def serve() -> None:
        try:
            await server.serve(sockets=[reserved.listening()])
        except SystemExit as exc:  # uvicorn exits the process on a startup error
            raise RuntimeError(f"uvicorn could not start (exit {exc.code})") from None

    task = asyncio.create_task(serve(), name=f"uvicorn:{reserved.port}")
    try:
        async with asyncio.timeout(20):
            while not server.started:
                if task.done():
                    task.result()  # raises the startup error, if any
                    raise RuntimeError("uvicorn stopped during startup")
                await asyncio.sleep(0.01)
        yield reserved
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 20)
        task.cancel()
        reserved.close()
