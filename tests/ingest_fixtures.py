"""Helpers for tests/test_unstorable_input.py: a live SMTP receiver in front of the mail
sink, mail bytes, and the pre-chat form set up and submitted as the widget does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import asyncpg
import httpx
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from channels.email.ingest_sink import FileBlobStore, RedisMailSink
from channels.email.smtp_receiver import IngestHandler, RecipientMap, SmtpReceiver
from hub.config import Settings
from tests.helpers import agent_http, login

ADMIN = ("admin@demo.omnihub.test", "demo-admin")
SHOP = "https://shop.example"
PRECHAT_FORM: dict[str, Any] = {
    "enabled": True, "welcome": "Hi!",
    "fields": [
        {"key": "name", "label": "Your name", "required": True},
        {"key": "email", "label": "Email", "required": True},
        {"key": "topic", "label": "Topic", "type": "select", "required": True,
         "options": ["Billing", "Shipping"]},
    ],
    "consent": {"text": "I agree to the privacy policy.", "version": "2026-01"},
}


async def configure_prechat(base_url: str) -> None:
    admin = await login(base_url, ADMIN)
    async with agent_http(base_url, admin) as client:
        r = await client.put("/api/v1/inboxes/web/prechat", json=PRECHAT_FORM)
        assert r.status_code == 200, r.text


async def submit_prechat(base_url: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url) as client:
        return await client.post("/api/v1/widget/prechat", content=json.dumps(body),
                                 headers={"Origin": SHOP, "Content-Type": "text/plain"})


def make_mail(subject: str, message_id: str, body: str = "my line is down this morning\n",
              from_: str = "Anna Kunde <anna@customer.test>") -> bytes:
    msg = EmailMessage()
    msg["From"] = from_
    msg["To"] = "support@shop.test"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg.set_content(body)
    return msg.as_bytes()


async def add_mail_inbox(db: asyncpg.Pool) -> None:
    await db.execute("INSERT INTO inboxes (slug, name, channel, default_queue)"
                     " VALUES ('mail', 'Support mail', 'email', 'support')"
                     " ON CONFLICT (slug) DO NOTHING")  # the demo seed has it too


@pytest.fixture
def mail_sink(redis: aioredis.Redis, settings: Settings, tmp_path: Path) -> RedisMailSink:
    return RedisMailSink(redis, settings.ingest_stream, FileBlobStore(tmp_path / "blobs"))


@pytest_asyncio.fixture
async def smtp_receiver(mail_sink: RedisMailSink) -> AsyncIterator[SmtpReceiver]:
    handler = IngestHandler(mail_sink, RecipientMap({"support@shop.test": "mail"}),
                            deliver_timeout_s=5)
    async with SmtpReceiver(handler, "127.0.0.1", 0, max_message_bytes=64 * 1024) as receiver:
        yield receiver


async def smtp_send(receiver: SmtpReceiver, raw: bytes) -> None:
    await aiosmtplib.send(raw, sender="anna@customer.test", recipients=["support@shop.test"],
                          hostname="127.0.0.1", port=receiver.port, timeout=10)
