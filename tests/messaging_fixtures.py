"""Fixtures for the messaging integration tests: settings pointing the provider API bases
at a local fake (and a public webhook URL, as behind a TLS proxy), the fake itself, the
providers' webhook client, and an in-process arq worker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest_asyncio
from arq.worker import Worker

from hub.config import Settings
from tests.conftest import LiveHub
from tests.fake_providers import FakeProviders, Webhooks, running
from tests.ports import ReservedPort
from web.seed_messaging import messaging_credentials
from workers.main import make_worker_settings

PUBLIC_URL = "https://hub.example.test/omnihub"


@pytest_asyncio.fixture
async def fake_port() -> AsyncIterator[ReservedPort]:
    """The fake providers' port, reserved before the settings that point at it."""
    reserved = ReservedPort()
    try:
        yield reserved
    finally:
        reserved.close()


@pytest_asyncio.fixture
async def settings(settings: Settings, fake_port: ReservedPort) -> Settings:
    base = fake_port.base_url
    return msgspec.structs.replace(settings, twilio_api_base=base, meta_graph_base=base,
                                   telegram_api_base=base, webhook_base_url=PUBLIC_URL)


@pytest_asyncio.fixture
async def fake(settings: Settings, fake_port: ReservedPort) -> AsyncIterator[FakeProviders]:
    async with running(FakeProviders(messaging_credentials(settings), fake_port)) as f:
        yield f


@pytest_asyncio.fixture
async def webhooks(hub: LiveHub) -> AsyncIterator[Webhooks]:
    async with httpx.AsyncClient(timeout=20) as client:
        yield Webhooks(hub.base_url, hub.seed["messaging"], client, PUBLIC_URL)


@pytest_asyncio.fixture
async def worker(hub: LiveHub, fake: FakeProviders) -> AsyncIterator[Worker]:
    ws: Any = make_worker_settings(hub.settings)
    w = Worker(functions=ws.functions, queue_name=ws.queue_name,
               redis_settings=ws.redis_settings, on_startup=ws.on_startup,
               on_shutdown=ws.on_shutdown, max_tries=ws.max_tries, handle_signals=False,
               poll_delay=0.05)
    task = asyncio.create_task(w.async_run())
    try:
        yield w
    finally:
        # Let jobs in flight finish first: close() cancels them, and a job cancelled while
        # finishing (the test already saw its status event) fails the teardown.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                while any(not t.done() for t in w.tasks.values()):
                    await asyncio.sleep(0.02)
        await w.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
