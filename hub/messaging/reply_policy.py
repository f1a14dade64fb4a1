"""Channel rules for agent replies, checked inside the reply's transaction.

WhatsApp's customer-care window: a free-form message may only be sent within 24 hours of
the customer's last message to this inbox (Meta rejects it otherwise, error 131047 /
Twilio 63016). Outside it, only an approved template may be sent. We refuse up front
with ``whatsapp_window_closed`` (409) so the agent gets a clear reason at once, instead
of a failed message later. Also: per-channel text limits, so an over-long reply is a
400 now rather than a provider error later. The reads are in
hub/messaging/store/reply_windows.py.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import msgspec

from hub.channels_table import CHANNELS, facts
from hub.conversations.rules import ReplyRoute
from hub.errors import BadInput, Conflict
from hub.messaging.rules import META_SOCIAL, MetaWindow, human_agent_enabled, meta_window
from hub.messaging.store import reply_windows as store
from hub.schema import Conversation

if TYPE_CHECKING:
    import asyncpg

WHATSAPP_WINDOW = timedelta(hours=facts("whatsapp").reply_window_h or 24)
# Per-channel text limits, from the channel table.
MAX_TEXT = {name: f.max_text for name, f in CHANNELS.items() if f.max_text is not None}
PLACEHOLDER = re.compile(r"\{\{(\d{1,2})\}\}")


class TemplateChoice(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str
    language: str
    params: list[str] = []


def window_closes_at(last_inbound_at: datetime | None) -> datetime | None:
    return None if last_inbound_at is None else last_inbound_at + WHATSAPP_WINDOW


def window_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    closes = window_closes_at(last_inbound_at)
    return closes is not None and now < closes


def render_template(body: str, params: list[str]) -> str:
    """The text a template shows, for the agent's timeline: ``{{n}}`` -> params[n-1]."""
    needed = {int(n) for n in PLACEHOLDER.findall(body)}
    if needed != set(range(1, len(needed) + 1)) or len(params) != len(needed):
        raise BadInput(f"template needs exactly {len(needed)} parameters")
    for p in params:
        if not p.strip() or len(p) > 1000 or "\n" in p:
            raise BadInput("template parameters: 1-1000 characters, one line each")
    return PLACEHOLDER.sub(lambda m: params[int(m.group(1)) - 1], body)


async def meta_window_for(conn: asyncpg.Connection, contact_id: int,
                          route: ReplyRoute) -> MetaWindow:
    """The Messenger/Instagram window of this contact on this account, now."""
    flag = await store.human_agent_flag(conn, route.account)
    last = await store.last_inbound_at(conn, contact_id, route.account)
    now = await store.database_now(conn)
    return meta_window(route.channel, last, now, human_agent_enabled(route.channel, flag))


async def enforce_reply_policy(conn: asyncpg.Connection, conv: Conversation,
                               route: ReplyRoute, text: str,
                               template: TemplateChoice | None) -> dict[str, str]:
    """The rules of the channel the reply goes out on (``route``), which in a joined
    conversation may differ from the conversation's own. Returns the attributes to store
    on the message (Meta: the messaging type the worker must send)."""
    channel = route.channel
    if template is not None:
        if channel != "whatsapp":
            raise BadInput("templates are only for WhatsApp conversations")
        return {}
    limit = MAX_TEXT.get(channel)
    if limit is not None and len(text) > limit:
        raise BadInput(f"text: at most {limit} characters on {channel}")
    if channel == "whatsapp":
        last = await store.last_inbound_at(conn, conv.contact_id, route.account)
        now = await store.database_now(conn)
        if not window_open(last, now):
            raise Conflict("the customer last wrote more than 24 hours ago: WhatsApp only"
                           " accepts an approved template now", code="whatsapp_window_closed")
    if channel in META_SOCIAL:
        window = await meta_window_for(conn, conv.contact_id, route)
        if not window.open:
            raise Conflict(window.reason, code="meta_window_closed")
        return window.attributes()
    return {}


async def record_template(conn: asyncpg.Connection, message_id: int,
                          template: TemplateChoice) -> None:
    await store.insert_template_send(conn, message_id, template.name, template.language,
                                     msgspec.json.encode(template.params).decode())
