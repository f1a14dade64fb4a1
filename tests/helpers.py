"""Small clients for the integration tests: real HTTP (httpx) and real websockets."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect

from hub.config import Settings
from hub.schema import Envelope, decode_envelope

AGENT = ("agent1@demo.omnihub.test", "demo-agent")
SUPERVISOR = ("supervisor@demo.omnihub.test", "demo-super")


async def login(base_url: str, who: tuple[str, str] = AGENT) -> str:
    async with httpx.AsyncClient(base_url=base_url) as client:
        resp = await client.post("/login", data={"email": who[0], "password": who[1]},
                                 headers={"Origin": base_url})
        assert resp.status_code == 303, resp.text
        assert resp.headers["location"] == "/inbox"
        return resp.cookies["oh_session"]


def agent_http(base_url: str, cookie: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, cookies={"oh_session": cookie},
                             headers={"Origin": base_url})


async def agent_ws(ws_url: str, base_url: str, cookie: str, last_id: str | None = None,
                   **kw: Any) -> ClientConnection:
    url = f"{ws_url}/ws/agent" + (f"?last_id={last_id}" if last_id else "")
    return await connect(url, origin=base_url, additional_headers={"Cookie": f"oh_session={cookie}"},
                         max_size=2**24, **kw)


async def widget_ws(ws_url: str, origin: str, inbox: str = "web", token: str | None = None,
                    last_id: str | None = None, **kw: Any) -> ClientConnection:
    q = f"inbox={inbox}"
    if token:
        q += f"&token={token}"
    if last_id:
        q += f"&last_id={last_id}"
    return await connect(f"{ws_url}/ws/widget?{q}", origin=origin, max_size=2**24, **kw)


async def recv_json(ws: ClientConnection, timeout: float = 10.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_until(ws: ClientConnection, pred: Any, timeout: float = 10.0) -> dict[str, Any]:
    """Receive frames until one matches ``pred``; returns it."""
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if pred(frame):
                return frame


def is_event(kind: str, **fields: Any) -> Any:
    def pred(frame: dict[str, Any]) -> bool:
        if frame.get("type") != "event" or frame["event"]["type"] != kind:
            return False
        return all(_dig(frame["event"], k) == v for k, v in fields.items())
    return pred


def _dig(obj: dict[str, Any], path: str) -> Any:
    for part in path.split("__"):
        obj = obj.get(part) if isinstance(obj, dict) else None  # type: ignore[assignment]
    return obj


def new_id() -> str:
    return str(uuid.uuid4())


_clients: dict[str, httpx.AsyncClient] = {}


async def api_post(base_url: str, token: str, body: dict[str, Any], inbox: str = "api",
                   **kw: Any) -> httpx.Response:
    # One pooled client per server: creating clients (TLS context) costs ~40 ms each.
    client = _clients.get(base_url)
    if client is None:
        client = _clients[base_url] = httpx.AsyncClient(base_url=base_url, verify=False)
    return await client.post(f"/api/v1/inboxes/{inbox}/messages", json=body,
                             headers={"Authorization": f"Bearer {token}"}, **kw)


async def entries(redis: aioredis.Redis, settings: Settings) -> list[Envelope]:
    """Every envelope on the ingest stream, oldest first."""
    return [decode_envelope(f[b"env"]) for _, f in await redis.xrange(settings.ingest_stream)]


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 15.0) -> Any:
    """Poll ``check`` until it returns something truthy; returns it."""
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.05)
