"""The webhook floor: the least a hub built from our libraries could do per provider
webhook. Starlette on uvicorn (the hub's options), read the body, XADD it raw to a stream
(concurrent requests' XADDs coalesced into one pipelined round trip, as the hub's
ingest writer does), answer 200. No verification, no parsing, no Postgres.

    python -m bench.webhooks_floor --port P --redis-url redis://127.0.0.1:R/0
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.floor import CoalescedXadd


def create_app(redis_url: str, stream: str) -> Starlette:
    redis = aioredis.from_url(redis_url, decode_responses=False)  # type: ignore[no-untyped-call]
    xadd = CoalescedXadd(redis, stream, b"raw")

    async def webhook(request: Request) -> Response:
        await xadd.add(await request.body())
        return Response("<Response></Response>", media_type="text/xml")

    async def healthz(request: Request) -> Response:
        return Response("ok")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(xadd.run())
        yield
        task.cancel()
        await redis.aclose()

    return Starlette(routes=[Route("/healthz", healthz),
                             Route("/webhooks/{rest:path}", webhook, methods=["POST"])],
                     lifespan=lifespan)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--stream", default="bench:webhooks-floor")
    args = parser.parse_args()
    uvicorn.run(create_app(args.redis_url, args.stream), host="127.0.0.1", port=args.port,
                http="httptools", loop="uvloop", log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
