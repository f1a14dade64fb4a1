"""Which sender delivers a reply, by the conversation's channel. Channels whose replies
travel over our own sockets (chat) are never queued, so they are not listed here."""

from __future__ import annotations

from workers.email_send import EmailSender
from workers.messaging import MESSAGING_SENDERS
from workers.senders import ChannelSender
from workers.webhook_send import WebhookSender

SENDERS: dict[str, ChannelSender] = {
    "api": WebhookSender(),
    "email": EmailSender(),
    **MESSAGING_SENDERS,
}
