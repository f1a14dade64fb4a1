"""Shared by the email sending tests: an email case as the inbound pipeline leaves it,
settings pointing the worker at a local SMTP peer, a job context, and event readers."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from arq.connections import ArqRedis

from hub.config import Settings
from hub.outbox import Publisher
from tests.helpers import agent_http, login
from tests.smtp_peer import SmtpPeer

CUSTOMER = "emma@customer.test"
OUR_DOMAIN = "demo.omnihub.test"


def with_relay(settings: Settings, peer: SmtpPeer, **more: Any) -> Settings:
    return msgspec.structs.replace(settings, smtp_relay_host="127.0.0.1",
                                   smtp_relay_port=peer.port, smtp_relay_security="none",
                                   smtp_timeout_s=10.0, **more)


async def email_conversation(db, *, subject: str = "Router blinks red",
                             thread: tuple[tuple[str, str], ...] = (
                                 ("in", "<c1@customer.test>"),),
                             address: str = CUSTOMER, name: str = "Emma Stone",
                             locale: str = "en") -> int:
    """An email case as the inbound pipeline leaves it: contact, conversation in the
    'mail' inbox, the customer's message, and the stored Message-IDs of the thread."""
    async with db.acquire() as conn, conn.transaction():
        contact = await conn.fetchval(
            "SELECT contact_id FROM identities WHERE kind = 'email' AND value = $1", address)
        if contact is None:
            contact = await conn.fetchval(
                "INSERT INTO contacts (name, email, locale) VALUES ($1, $2, $3) RETURNING id",
                name, address, locale)
            await conn.execute("INSERT INTO identities (kind, value, contact_id)"
                               " VALUES ('email', $1, $2)", address, contact)
        cid = await conn.fetchval(
            "INSERT INTO conversations (inbox, channel, contact_id, contact_identity, subject)"
            " VALUES ('mail', 'email', $1, $2, $3) RETURNING id",
            contact, f"email:{address}", subject)
        for i, (direction, mid) in enumerate(thread):
            row = await conn.fetchval(
                "INSERT INTO messages (conversation_id, channel, channel_account, provider_id,"
                " direction, author_kind, text, status, created_at)"
                " VALUES ($1, 'email', 'mail', $2, $3, $4, 'earlier mail', $5,"
                " now() - make_interval(mins => $6)) RETURNING id",
                cid, f"{mid}#{cid}", direction, "contact" if direction == "in" else "agent",
                "received" if direction == "in" else "sent", 60 - i)
            await conn.execute(
                "INSERT INTO email_message_ids (inbox, message_id, conversation_id, message_row,"
                " direction, created_at) VALUES ('mail', $1, $2, $3, $4,"
                " now() - make_interval(mins => $5))", mid, cid, row, direction, 60 - i)
    return int(cid)


async def agent_reply(hub, cid: int, text: str, cookie: str | None = None) -> dict[str, Any]:
    cookie = cookie or await login(hub.base_url)
    async with agent_http(hub.base_url, cookie) as client:
        r = await client.post(f"/api/v1/conversations/{cid}/messages", json={"text": text})
        assert r.status_code == 201, r.text
        return r.json()["message"]


def job_ctx(db, redis, settings: Settings, job_try: int = 1) -> dict[str, Any]:
    return {"pool": db, "publisher": Publisher(redis, settings), "settings": settings,
            "job_try": job_try, "redis": ArqRedis(connection_pool=redis.connection_pool)}


async def events(redis, settings: Settings) -> list[dict[str, Any]]:
    return [json.loads(e[b"e"]) for _, e in await redis.xrange(settings.events_stream)]


async def status_events(redis, settings: Settings, mid: int) -> list[tuple[str, str]]:
    return [(e["status"], e["error"]) for e in await events(redis, settings)
            if e["type"] == "message.status" and e["message_id"] == mid]
