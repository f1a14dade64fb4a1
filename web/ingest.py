"""Coalescing XADD writer: concurrent requests share one pipelined round trip to Redis.

Under load every request waiting while a batch is in flight joins the next batch, so
throughput scales without adding latency when idle.
"""

from __future__ import annotations

import asyncio
import contextlib

import redis.asyncio as aioredis

from hub.errors import Overloaded
from hub.schema import Envelope, encode_envelope

MAX_PENDING = 20_000


class IngestWriter:
    def __init__(self, redis: aioredis.Redis, stream: str) -> None:
        self._redis = redis
        self._stream = stream
        self._pending: list[tuple[bytes, asyncio.Future[str]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: list[tuple[bytes, asyncio.Future[str]]] = []

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ingest-writer")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, fut in (*self._inflight, *self._pending):
            if not fut.done():
                fut.set_exception(Overloaded("server shutting down"))

    async def submit(self, envelope: Envelope) -> str:
        """Durably append to the ingest stream; returns the stream id."""
        if len(self._pending) >= MAX_PENDING:
            raise Overloaded("ingest backlog full, retry later")
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending.append((encode_envelope(envelope), fut))
        self._wakeup.set()
        return await fut

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._pending = self._pending, []
            self._inflight = batch
            if not batch:
                continue
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for data, _ in batch:
                        pipe.xadd(self._stream, {"env": data})
                    ids = await pipe.execute()
            except Exception as exc:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(Overloaded(f"ingest unavailable: {type(exc).__name__}"))
                continue
            for (_, fut), sid in zip(batch, ids, strict=True):
                if not fut.done():
                    fut.set_result(sid.decode() if isinstance(sid, bytes) else str(sid))
