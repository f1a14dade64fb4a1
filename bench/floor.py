"""The floor: the least a hub built from our libraries could do on the ingest → agent path.

HTTP POST (Starlette on uvicorn) → decode the JSON body (msgspec) → XADD to a stream on
the same Valkey (concurrent requests' XADDs coalesced into one pipelined round trip) →
202. One background reader does XREAD BLOCK on that stream and turns
every entry into one ``{"type":"event",...,"event":{"type":"message.created",...}}`` text
frame, put on each connected socket's queue; a writer task per socket sends it.

No persistence, no auth, no consumer group, no routing: whatever the hub costs above
this is the price of what it does (and of how it does it). uvicorn runs with the same
options as ``omnihub web`` (``bench.core`` passes the hub's websocket implementation).

    python -m bench.floor --port P --redis-url redis://127.0.0.1:R/0 [--stream bench:floor]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import warnings
from collections.abc import AsyncIterator

import msgspec
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

log = logging.getLogger("bench.floor")

STREAM_MAXLEN = 200_000
SOCKET_QUEUE = 100_000  # the floor never drops; the bench watches memory by counting


class Inbound(msgspec.Struct):
    source_id: str
    text: str
    message_id: str = ""


_decode_inbound = msgspec.json.Decoder(Inbound).decode


class CoalescedXadd:
    """XADDs of concurrent requests share one pipelined round trip: the cheapest way to
    get many small writes into Redis from one event loop (the hub's ingest does it too).
    ``add`` resolves to the entry id once its batch is written; ``run`` is the writer."""

    def __init__(self, redis: aioredis.Redis, stream: str, field: bytes) -> None:
        self.redis, self.stream, self.field = redis, stream, field
        self.pending: list[tuple[bytes, asyncio.Future[bytes]]] = []
        self.wakeup = asyncio.Event()

    async def add(self, body: bytes) -> bytes:
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.pending.append((body, fut))
        self.wakeup.set()
        return await fut

    async def run(self) -> None:
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            batch, self.pending = self.pending, []
            if not batch:
                continue
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for body, _ in batch:
                        pipe.xadd(self.stream, {self.field: body}, maxlen=STREAM_MAXLEN,
                                  approximate=True)
                    ids = await pipe.execute()
            except Exception as exc:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut), sid in zip(batch, ids, strict=True):
                if not fut.done():
                    fut.set_result(sid)


def create_floor_app(redis_url: str, stream: str) -> Starlette:
    sockets: set[asyncio.Queue[str]] = set()
    redis = aioredis.from_url(redis_url, decode_responses=False)  # type: ignore[no-untyped-call]

    xadd = CoalescedXadd(redis, stream, b"d")

    async def post_message(request: Request) -> Response:
        body = await request.body()
        try:
            _decode_inbound(body)  # the hub validates its input too
        except msgspec.DecodeError as exc:
            return Response(f'{{"error":"bad_json","reason":"{exc}"}}', 400,
                            media_type="application/json")
        sid = await xadd.add(body)
        return Response(b'{"accepted":true,"stream_id":"' + sid + b'"}', 202,
                        media_type="application/json")

    async def agent_socket(ws: WebSocket) -> None:
        await ws.accept()
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=SOCKET_QUEUE)
        sockets.add(queue)
        await ws.send_text('{"type":"hello"}')

        async def writer() -> None:
            while True:
                await ws.send_text(await queue.get())

        async def reader() -> None:
            with contextlib.suppress(WebSocketDisconnect):
                while True:
                    msg = await ws.receive()
                    if msg["type"] == "websocket.disconnect":
                        return

        tasks = [asyncio.create_task(writer()), asyncio.create_task(reader())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sockets.discard(queue)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task

    async def read_stream() -> None:
        last = b"$"
        while True:
            try:
                resp = await redis.xread({stream: last}, count=64, block=5000)
            except (OSError, aioredis.ConnectionError) as exc:
                log.warning("floor reader lost Redis: %s", exc)
                await asyncio.sleep(0.5)
                continue
            if not resp:
                continue
            for sid, fields in resp[0][1]:
                frame = ('{"type":"event","id":"' + sid.decode()
                         + '","event":{"type":"message.created","message":'
                         + fields[b"d"].decode() + "}}")
                for queue in sockets:
                    queue.put_nowait(frame)
                last = sid
            await asyncio.sleep(0)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await redis.delete(stream)
        tasks = [asyncio.create_task(read_stream(), name="floor-reader"),
                 asyncio.create_task(xadd.run(), name="floor-writer")]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await redis.aclose()

    async def healthz(request: Request) -> Response:
        return Response(b'{"ok":true}', media_type="application/json")

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/api/v1/inboxes/{inbox}/messages", post_message, methods=["POST"]),
            WebSocketRoute("/ws/agent", agent_socket),
        ],
        lifespan=lifespan,
    )


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--stream", default="bench:floor")
    parser.add_argument("--ws", default="websockets",
                        help="uvicorn websocket implementation (same as omnihub web)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", message="The `websockets` implementation is deprecated")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    config = uvicorn.Config(
        create_floor_app(args.redis_url, args.stream),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        ws=args.ws,
        ws_max_size=64 * 1024,
        proxy_headers=False,
        lifespan="on",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    raise SystemExit(main())
