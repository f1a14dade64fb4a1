"""Outbound delivery for messaging inboxes (SMS, WhatsApp, Messenger, Instagram,
Telegram): one ``ChannelSender`` (workers/senders.py) registered for each channel in
workers/registry.py.

``prepare`` (inside the claim's transaction) reads the inbox's provider account, the
recipient address and a template choice; no account or no reachable address is
``Undeliverable``. ``send`` makes one provider call; on success it records the
provider's id and ``sent`` itself (``record_sent``), which also applies any status report
that raced ahead of us. Retries only when the provider certainly did not act (connection
refused, 429, 5xx; see channels/send_result.py), with exponential backoff and jitter, at
least the provider's Retry-After."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from channels.meta.send import send_social_message, send_whatsapp_message
from channels.recipients import recipient_for
from channels.send_result import SendResult
from channels.telegram.send import send_telegram_message
from channels.twilio.send import send_twilio_message
from hub.config import Settings
from hub.errors import BadInput
from hub.messaging.actions import record_sent
from hub.messaging.rules import ATTR_TAG, ATTR_TYPE
from hub.messaging.store import accounts as accounts_store
from workers.senders import Attempt, OutboundMessage, Undeliverable

if TYPE_CHECKING:
    import asyncpg

MAX_TRIES = 6
MESSAGING_CHANNELS = ("sms", "whatsapp", "messenger", "instagram", "telegram")


def backoff_s(tries: int, retry_after: float | None = None) -> float:
    """2, 4, 8 ... s with ±20 % jitter, capped at 5 min; a provider's Retry-After wins
    when it asks for longer."""
    delay = min(300.0, 2.0 ** tries) * random.uniform(0.8, 1.2)
    return max(delay, retry_after or 0.0)


def status_callback_url(settings: Settings) -> str:
    return (settings.webhook_base_url or settings.public_url).rstrip("/") + "/webhooks/twilio/sms"


@dataclass(frozen=True, slots=True)
class Prepared:
    provider: str
    external_id: str
    account_sid: str
    auth_token: str
    access_token: str
    to: str
    template: tuple[str, str, list[str]] | None
    # Messenger/Instagram: what the reply policy decided (hub/messaging/rules.py).
    messaging_type: str = "RESPONSE"
    tag: str = ""


async def prepare_messaging(conn: asyncpg.Connection, msg: OutboundMessage) -> Prepared:
    row = await accounts_store.messaging_send_row(conn, msg.conversation_id, msg.id,
                                                  msg.inbox)
    if row is None or row["provider"] is None:
        raise Undeliverable("this inbox has no provider account configured")
    try:
        to = recipient_for(msg.channel, row["external_id"],
                           [msg.contact_identity, *row["identities"]])
    except BadInput as exc:
        raise Undeliverable(exc.reason) from None
    template = None
    if row["template_name"] is not None:
        params = msgspec.json.decode(row["template_params"], type=list[str])
        template = (row["template_name"], row["template_language"], params)
        if row["provider"] != "meta":
            raise Undeliverable("templates are sent through WhatsApp Cloud API inboxes")
    attrs = msgspec.json.decode(row["attributes"] or "{}", type=dict[str, str])
    return Prepared(row["provider"], row["external_id"], row["account_sid"],
                    row["auth_token"], row["access_token"], to, template,
                    attrs.get(ATTR_TYPE) or "RESPONSE", attrs.get(ATTR_TAG, ""))


async def call_provider(ctx: dict[str, Any], msg: OutboundMessage, p: Prepared) -> SendResult:
    settings: Settings = ctx["settings"]
    http = ctx["http"]
    if p.provider == "twilio":
        prefix = "whatsapp:" if msg.channel == "whatsapp" else ""
        return await send_twilio_message(
            http, base=settings.twilio_api_base, account_sid=p.account_sid,
            auth_token=p.auth_token, sender=p.external_id, to=prefix + p.to, body=msg.text,
            status_callback=status_callback_url(settings))
    if p.provider == "meta" and msg.channel == "whatsapp":
        return await send_whatsapp_message(
            http, base=settings.meta_graph_base, version=settings.meta_graph_version,
            phone_number_id=p.external_id, token=p.access_token, to_e164=p.to, text=msg.text,
            template=p.template)
    if p.provider == "meta":
        return await send_social_message(
            http, base=settings.meta_graph_base, version=settings.meta_graph_version,
            account_id=p.external_id, token=p.access_token, channel=msg.channel,
            recipient=p.to, text=msg.text, messaging_type=p.messaging_type, tag=p.tag)
    if p.provider == "telegram":
        return await send_telegram_message(
            http, base=settings.telegram_api_base, bot_token=p.access_token, chat_id=p.to,
            text=msg.text)
    return SendResult(False, error=f"no sender for provider {p.provider!r}")


class MessagingSender:
    async def prepare(self, conn: asyncpg.Connection, msg: OutboundMessage,
                      settings: Settings) -> Prepared:
        return await prepare_messaging(conn, msg)

    async def send(self, ctx: dict[str, Any], msg: OutboundMessage, prepared: Prepared
                   ) -> Attempt:
        result = await call_provider(ctx, msg, prepared)
        if result.ok:
            await record_sent(ctx["pool"], ctx["publisher"], msg.id, prepared.provider,
                              result.provider_ref)
            return Attempt(True)
        return Attempt(False, result.error, retryable=result.retryable,
                       retry_after_s=result.retry_after_s)

    def retry_delay(self, settings: Settings, tries: int) -> float | None:
        return backoff_s(tries) if tries < MAX_TRIES else None


MESSAGING_SENDERS = dict.fromkeys(MESSAGING_CHANNELS, MessagingSender())
