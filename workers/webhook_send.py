"""API channel: POST the reply to the inbox's webhook. A retry after an ambiguous
failure (timeout after the request left) may repeat a send; it carries the same
Idempotency-Key so the receiver can drop the repeat."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from hub.config import Settings
from hub.messaging.store import accounts as accounts_store
from workers.senders import Attempt, OutboundMessage, Undeliverable

if TYPE_CHECKING:
    import asyncpg

MAX_TRIES = 6


class WebhookSender:
    async def prepare(self, conn: asyncpg.Connection, msg: OutboundMessage,
                      settings: Settings) -> str:
        url = await accounts_store.inbox_webhook_url(conn, msg.inbox)
        if not url:
            raise Undeliverable("no delivery route for this inbox")
        return str(url)

    async def send(self, ctx: dict[str, Any], msg: OutboundMessage, url: str) -> Attempt:
        payload = {
            "event": "message.outgoing", "message_id": msg.id,
            "conversation_id": msg.conversation_id, "recipient": msg.contact_identity,
            "text": msg.text, "author": msg.author_name,
            "created_at": msg.created_at.isoformat(),
        }
        try:
            resp = await ctx["http"].post(url, json=payload,
                                          headers={"Idempotency-Key": msg.provider_id})
        except httpx.HTTPError as exc:
            return Attempt(False, f"{type(exc).__name__}: {exc}", retryable=True)
        if resp.status_code < 300:
            return Attempt(True)
        return Attempt(False, f"HTTP {resp.status_code}",
                       retryable=resp.status_code >= 500 or resp.status_code == 429)

    def retry_delay(self, settings: Settings, tries: int) -> float | None:
        return float(min(300, 2 ** tries)) if tries < MAX_TRIES else None
