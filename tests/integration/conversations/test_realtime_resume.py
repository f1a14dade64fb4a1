"""Resume with last_id gets exactly the gap; expired gaps reload; slow sockets get 1013
without slowing the others."""

from __future__ import annotations

import asyncio
import json

from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.typing import Origin
from websockets.uri import parse_uri

from tests.fixtures.helpers import (
    agent_ws,
    api_post,
    eventually,
    is_event,
    login,
    new_id,
    recv_json,
    recv_until,
)
from tests.fixtures.realtime import tcp_connection_open


async def _post_many(hub, n: int, prefix: str, source: str = "resume") -> None:
    for i in range(n):
        r = await api_post(hub.base_url, hub.seed["api_token"],
                           {"source_id": source, "text": f"{prefix}{i}", "message_id": new_id()})
        assert r.status_code == 202


async def _wait_texts(ws, texts: set[str], timeout: float = 15) -> list[dict]:
    frames = []
    async with asyncio.timeout(timeout):
        while texts:
            f = await recv_json(ws)
            frames.append(f)
            if f["type"] == "event" and f["event"]["type"] == "message.created":
                texts.discard(f["event"]["message"]["text"])
    return frames


async def test_resume_gets_exactly_the_gap_in_order(hub, redis):
    cookie = await login(hub.base_url)
    ws = await agent_ws(hub.ws_url, hub.base_url, cookie)
    await recv_json(ws)
    await _post_many(hub, 3, "before-")
    frames = await _wait_texts(ws, {"before-0", "before-1", "before-2"})
    last_id = [f for f in frames if f["type"] == "event"][-1]["id"]
    await ws.close()

    await _post_many(hub, 5, "gap-")
    # Wait until the pipeline has published all of them.
    async with asyncio.timeout(15):
        while True:
            entries = await redis.xrange(hub.settings.events_stream, min=f"({last_id}")
            texts = [json.loads(e[b"e"]).get("message", {}).get("text") for _, e in entries]
            if sum(1 for t in texts if t and t.startswith("gap-")) == 5:
                break
            await asyncio.sleep(0.05)
    expected_ids = [sid.decode() for sid, _ in entries]

    ws2 = await agent_ws(hub.ws_url, hub.base_url, cookie, last_id=last_id)
    hello = await recv_json(ws2)
    assert hello["type"] == "hello"
    got = []
    async with asyncio.timeout(10):
        while len(got) < len(expected_ids):
            f = await recv_json(ws2)
            assert f["type"] == "event", f
            got.append(f["id"])
    assert got == expected_ids  # exactly the gap, in order, no duplicates
    # Live events continue after the gap without repeating it.
    await _post_many(hub, 1, "live-")
    live = await recv_until(ws2, is_event("message.created", message__text="live-0"))
    assert live["id"] > expected_ids[-1]
    await ws2.close()


async def test_expired_gap_tells_client_to_reload(hub, redis):
    cookie = await login(hub.base_url)
    ws = await agent_ws(hub.ws_url, hub.base_url, cookie)
    await recv_json(ws)
    await _post_many(hub, 2, "old-")
    frames = await _wait_texts(ws, {"old-0", "old-1"})
    first_id = [f for f in frames if f["type"] == "event"][0]["id"]
    await ws.close()
    # Retention drops everything after first_id.
    await redis.xtrim(hub.settings.events_stream, maxlen=0, approximate=False)
    ws2 = await agent_ws(hub.ws_url, hub.base_url, cookie, last_id=first_id)
    assert (await recv_json(ws2))["type"] == "hello"
    assert await recv_json(ws2) == {"type": "reload", "reason": "gap_expired"}
    await _post_many(hub, 1, "after-")
    await recv_until(ws2, is_event("message.created", message__text="after-0"))
    await ws2.close()


async def test_slow_socket_is_closed_1013_while_others_keep_pace(hub, settings):
    """A client that stops reading for good overflows its bounded queue: the server
    closes it with 1013 without waiting on the stuck transport, resets the connection
    after the grace (the kernel holds nothing for it), and a normal client on the same
    process receives every event meanwhile."""
    fanout = hub.app.state.hub.fanout
    cookie = await login(hub.base_url)
    fast = await agent_ws(hub.ws_url, hub.base_url, cookie)
    await recv_json(fast)

    # The slow client: a raw socket with a tiny receive buffer that never reads after
    # the handshake (websockets' sans-I/O protocol parses the bytes).
    slow = RawClient(f"{hub.ws_url}/ws/agent", hub.base_url, cookie)
    await slow.handshake()
    slow_port = slow.local_port()
    assert tcp_connection_open(settings.port, slow_port)
    big = "x" * 19_000
    # More than the kernel socket buffers hold (~4 MiB) plus the queue.
    n = settings.ws_queue_size + 400
    texts = {f"{i}-{big}" for i in range(n)}
    poster = asyncio.create_task(_post_many_texts(hub, sorted(texts)))
    try:
        await _wait_texts(fast, set(texts), timeout=90)  # the fast client got every one
        await poster
        # Closed with 1013 by the server, which then dropped the connection: gone from
        # the kernel's table although the client never read a byte more.
        await eventually(lambda: _async(not tcp_connection_open(settings.port, slow_port)),
                         timeout=30)
        assert fanout.closes[1013] >= 1
        assert fanout.resets >= 1
        assert fanout.socket_count == 1  # only the fast socket is left
        assert await slow.read_until_gone(timeout=10) in ("reset", "eof")
        # The fast socket still works.
        await fast.send(json.dumps({"type": "ping"}))
        await recv_until(fast, lambda f: f.get("type") == "pong")
    finally:
        poster.cancel()
        slow.abort()
        await fast.close()


async def _async(value: object) -> object:
    return value


async def _post_many_texts(hub, texts: list[str]) -> None:
    sem = asyncio.Semaphore(20)

    async def one(t: str) -> None:
        async with sem:
            r = await api_post(hub.base_url, hub.seed["api_token"],
                               {"source_id": "slow", "text": t, "message_id": new_id()})
            assert r.status_code == 202

    await asyncio.gather(*(one(t) for t in texts))


class RawClient:
    """A websocket client over a raw socket whose reading we control byte by byte."""

    def __init__(self, url: str, origin: str, cookie: str) -> None:
        self.proto = ClientProtocol(parse_uri(url), origin=Origin(origin), max_size=None)
        self.cookie = cookie
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.url = parse_uri(url)

    async def handshake(self) -> None:
        import socket

        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (self.url.host, self.url.port))
        self.reader, self.writer = await asyncio.open_connection(sock=sock, limit=4096)
        request = self.proto.connect()
        request.headers["Cookie"] = f"oh_session={self.cookie}"
        self.proto.send_request(request)
        self.writer.write(b"".join(self.proto.data_to_send()))
        while self.proto.handshake_exc is None and not self.proto.events_received():
            self.proto.receive_data(await self.reader.read(4096))
            if self.proto.state.name == "OPEN":
                break
        assert self.proto.state.name == "OPEN", self.proto.handshake_exc

    def local_port(self) -> int:
        assert self.writer is not None
        return int(self.writer.get_extra_info("sockname")[1])

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.transport.abort()

    async def read_until_gone(self, timeout: float) -> str:
        """Read (and drop) until the server's end is gone: 'reset' or 'eof'."""
        assert self.reader is not None
        async with asyncio.timeout(timeout):
            try:
                while await self.reader.read(65536):
                    pass
            except ConnectionResetError:
                return "reset"
        return "eof"

    async def read_until_closed(self, timeout: float) -> tuple[int | None, int]:
        frames = 0
        async with asyncio.timeout(timeout):
            while True:
                data = await self.reader.read(65536)
                if not data:
                    self.proto.receive_eof()
                else:
                    self.proto.receive_data(data)
                for event in self.proto.events_received():
                    if getattr(event, "opcode", None) == Opcode.TEXT:
                        frames += 1
                if self.proto.close_rcvd is not None:
                    return self.proto.close_rcvd.code, frames
                if not data:
                    return None, frames
