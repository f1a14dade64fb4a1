"""Helpers for the live routing tests: a router task next to the hub fixture, configs,
agents' sockets and widget chats. Real Postgres, Valkey, HTTP and websockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import redis.asyncio as aioredis
import yaml
from websockets.asyncio.client import ClientConnection

from hub.routing.configstore import config_version, save_config
from hub.routing.service import RouterService
from tests.helpers import agent_http, agent_ws, login, new_id, recv_json, widget_ws

DOMAIN = "demo.omnihub.test"
PASSWORDS = {"agent1": "demo-agent", "agent2": "demo-agent", "agent3": "demo-agent",
             "supervisor": "demo-super", "admin": "demo-admin"}


@contextlib.asynccontextmanager
async def running_router(hub: Any, db: asyncpg.Pool, redis: aioredis.Redis,
                         count: int = 1) -> AsyncIterator[list[RouterService]]:
    """``count`` router loops (as separate hub processes would run them)."""
    stop = asyncio.Event()
    services = [RouterService(hub.settings, db, redis, resync_s=1.0, stats_every_s=1.0,
                              stats_min_s=0.2, max_sleep_s=0.3) for _ in range(count)]
    tasks = [asyncio.create_task(s.run(stop)) for s in services]
    try:
        yield services
    finally:
        stop.set()
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 15)
        for r in results:
            if isinstance(r, BaseException):
                raise r


def ids(hub: Any) -> dict[str, int]:
    return {email.split("@")[0]: i for email, i in hub.seed["agents"].items()}


async def configure(hub: Any, db: asyncpg.Pool, redis: aioredis.Redis,
                    doc: dict[str, Any]) -> int:
    """Store ``doc`` as the next config version (as the admin API would)."""
    doc = dict(doc)
    doc["version"] = await config_version(db) + 1
    cfg = await save_config(db, redis, hub.settings, yaml.safe_dump(doc))
    return cfg.version


def doc(hub: Any, *, queues: list[dict[str, Any]], agents: dict[str, list[str]],
        **extra: Any) -> dict[str, Any]:
    """A config with the named agents (email local part -> queues)."""
    who = ids(hub)
    base: dict[str, Any] = {
        "offers": {"timeout_s": 30, "reoffer_cooldown_s": 0.5},
        "presence": {"heartbeat_timeout_s": 60, "away_grace_s": 0.5, "offline_after_s": 600},
        "queues": queues,
        "agents": [{"id": who[name], "queues": qs} for name, qs in agents.items()],
    }
    base.update(extra)
    return base


class AgentClient:
    def __init__(self, hub: Any, name: str) -> None:
        self.hub = hub
        self.name = name
        self.id = ids(hub)[name]
        self.cookie = ""
        self.ws: ClientConnection | None = None
        self.frames: list[dict[str, Any]] = []

    async def connect(self) -> AgentClient:
        self.cookie = await login(self.hub.base_url, (f"{self.name}@{DOMAIN}",
                                                      PASSWORDS[self.name]))
        self.ws = await agent_ws(self.hub.ws_url, self.hub.base_url, self.cookie)
        hello = await recv_json(self.ws)
        assert hello["type"] == "hello"
        return self

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    async def wait_event(self, kind: str, timeout: float = 20.0, **fields: Any
                         ) -> dict[str, Any]:
        """The first event of ``kind`` with ``fields`` (already received or arriving)."""
        def match(f: dict[str, Any]) -> bool:
            e = f.get("event") or {}
            return f.get("type") == "event" and e.get("type") == kind and all(
                e.get(k) == v for k, v in fields.items())

        for f in self.frames:
            if match(f):
                return dict(f["event"])
        assert self.ws is not None
        async with asyncio.timeout(timeout):
            while True:
                f = json.loads(await self.ws.recv())
                self.frames.append(f)
                if match(f):
                    return dict(f["event"])

    async def wait_new(self, kind: str, timeout: float = 20.0, **fields: Any) -> dict[str, Any]:
        """The next event of ``kind`` with ``fields`` received from now on."""
        assert self.ws is not None
        async with asyncio.timeout(timeout):
            while True:
                f = json.loads(await self.ws.recv())
                self.frames.append(f)
                e = f.get("event") or {}
                if f.get("type") == "event" and e.get("type") == kind and all(
                        e.get(k) == v for k, v in fields.items()):
                    return dict(e)

    def seen(self, kind: str, **fields: Any) -> list[dict[str, Any]]:
        return [f["event"] for f in self.frames if f.get("type") == "event"
                and f["event"]["type"] == kind
                and all(f["event"].get(k) == v for k, v in fields.items())]

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        async with agent_http(self.hub.base_url, self.cookie) as http:
            return await http.post(path, json=body or {})

    async def put(self, path: str, body: Any, content_type: str = "application/json") -> Any:
        async with agent_http(self.hub.base_url, self.cookie) as http:
            data = body if isinstance(body, str | bytes) else json.dumps(body)
            return await http.put(path, content=data, headers={"Content-Type": content_type})

    async def get(self, path: str) -> Any:
        async with agent_http(self.hub.base_url, self.cookie) as http:
            return await http.get(path)


async def start_chat(hub: Any, text: str = "Hello, my internet is down") -> ClientConnection:
    widget = await widget_ws(hub.ws_url, "https://shop.example")
    await recv_json(widget)
    await widget.send(json.dumps({"type": "message", "client_id": new_id(), "text": text}))
    return widget
