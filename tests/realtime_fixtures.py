"""Helpers for the realtime access and slow-socket tests: a second web process on the
same database and Redis, temporary agents made through the admin API, and a look at the
kernel's TCP table."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from hub.config import Settings
from tests.helpers import agent_http, login, recv_json

ADMIN = ("admin@demo.omnihub.test", "demo-admin")


@contextlib.asynccontextmanager
async def second_web_process(settings: Settings) -> AsyncIterator[str]:
    """Another web app (its own fan-out, its own access listener) on port 0, sharing the
    hub's database and Redis; yields its ws:// base URL. Origin stays the hub's public
    URL, which is what the agent socket checks."""
    import uvicorn

    from web.app import create_app

    server = uvicorn.Server(uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=0, ws="websockets-sansio",
        lifespan="on", log_level="warning", timeout_graceful_shutdown=5))
    task = asyncio.create_task(server.serve(), name="second-web")
    try:
        async with asyncio.timeout(20):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("second web process stopped during startup")
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 20)
        task.cancel()


async def make_agent(hub: Any, email: str, *, role: str = "agent",
                     inboxes: list[str] | None = None) -> tuple[int, str]:
    """A new agent made by the admin; returns (agent id, session cookie)."""
    password = "long enough pw"
    async with agent_http(hub.base_url, await login(hub.base_url, ADMIN)) as admin:
        r = await admin.post("/api/v1/admin/agents", json={
            "email": email, "name": email.split("@")[0], "password": password,
            "role": role, "inboxes": inboxes or []})
        assert r.status_code == 201, r.text
        agent_id = r.json()["agent"]["id"]
    return agent_id, await login(hub.base_url, (email, password))


async def patch_agent(hub: Any, agent_id: int, body: dict[str, Any]) -> None:
    async with agent_http(hub.base_url, await login(hub.base_url, ADMIN)) as admin:
        r = await admin.patch(f"/api/v1/admin/agents/{agent_id}", json=body)
        assert r.status_code == 200, r.text


async def frames_until(ws: ClientConnection, pred: Any, timeout: float = 10.0
                       ) -> list[dict[str, Any]]:
    """Every frame up to and including the first matching ``pred``."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            seen.append(json.loads(await ws.recv()))
            if pred(seen[-1]):
                return seen


async def frames_before_pong(ws: ClientConnection, timeout: float = 10.0
                             ) -> list[dict[str, Any]]:
    """Ping and collect what the socket sends before the pong: frames are written in
    order, so every event queued for this socket before the ping is among them."""
    await ws.send(json.dumps({"type": "ping"}))
    seen = await frames_until(ws, lambda f: f.get("type") == "pong", timeout)
    return seen[:-1]


async def close_code(ws: ClientConnection, timeout: float = 10.0) -> int | None:
    """Read until the server closes the socket; its close code."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await recv_json(ws, timeout)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


def tcp_connection_open(local_port: int, remote_port: int) -> bool:
    """Does the kernel hold a TCP connection 127.0.0.1:local_port <-> :remote_port (any
    state but closed)? Read from /proc/net/tcp, so it sees what the server process has
    not let go of, sent or not."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        local, remote = parts[1], parts[2]
        if (int(local.split(":")[1], 16) == local_port
                and int(remote.split(":")[1], 16) == remote_port):
            return True
    return False
