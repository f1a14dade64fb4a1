"""Shared by the claim-verification tests: a live hub whose settings point outgoing mail
at a local SMTP peer (tests/smtp_peer.py), the sending job run as the worker runs it, and
the code read back from the mail the peer received."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest_asyncio

from hub.config import Settings
from tests.conftest import LiveHub, live_hub
from tests.email_fixtures import job_ctx
from tests.smtp_peer import SmtpPeer


@pytest_asyncio.fixture
async def smtp_peer() -> AsyncIterator[SmtpPeer]:
    peer = await SmtpPeer().start()
    try:
        yield peer
    finally:
        await peer.stop()


@pytest_asyncio.fixture
async def relay_hub(settings: Settings, seeded: dict[str, Any], smtp_peer: SmtpPeer
                    ) -> AsyncIterator[LiveHub]:
    """Like the ``hub`` fixture, with OMNIHUB_SMTP_RELAY_* pointing at ``smtp_peer``."""
    relayed = msgspec.structs.replace(
        settings, smtp_relay_host="127.0.0.1", smtp_relay_port=smtp_peer.port,
        smtp_relay_security="none", smtp_timeout_s=10.0)
    async with live_hub(relayed, seeded) as running:
        yield running


async def run_send_job(db: Any, redis: Any, settings: Settings, verification_id: int) -> str:
    """The worker's job, as arq runs it (with an HTTP client for SMS)."""
    from workers.verification import send_verification_code

    ctx = job_ctx(db, redis, settings)
    async with httpx.AsyncClient() as http:
        ctx["http"] = http
        return await send_verification_code(ctx, verification_id)


def code_in_mail(peer: SmtpPeer, to: str) -> str:
    """The code of the last mail the peer accepted for ``to``."""
    for got in reversed(peer.handler.received):
        if to in got.rcpt_tos:
            body = got.message.get_body(("plain",))
            assert body is not None
            found = re.search(r"\b(\d{6})\b", str(body.get_content()))
            assert found, "no code in the mail"
            return found.group(1)
    raise AssertionError(f"no mail to {to}")
