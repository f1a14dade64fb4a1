"""What each channel can do, in one table: the only place outside the channel-specific
subsystem packages (``hub/email``, ``hub/messaging``, ``hub/voice``, ``hub/bots``) where
``hub/`` names a channel. Generic code asks this table (``facts(channel)``,
``channels_where(...)``) instead of comparing names; ``tests/unit/platform/test_layout.py``
holds the rest of ``hub/`` to that. Pure data.

- ``live``: replies reach the customer over our own sockets at once, so they are stored
  ``sent``; every other channel stores them ``queued`` for a send worker.
- ``attachments``: an agent's reply may carry uploads.
- ``max_text``: the longest reply text the provider accepts (None: our own limit only).
- ``reply_window_h``: hours after the customer's last message in which a free-form reply
  is allowed (the provider's rule; hub/messaging applies it).
- ``routable_reply``: in a joined conversation a reply may be routed to this channel
  per message (email replies depend on their thread, so they may not).
- ``text``: the channel carries written messages at all (a call does not).

Inboxes (``hub/admin``):

- ``inbox``: an admin may create an inbox of this channel (a bot is an author, not an inbox).
- ``providers``: the provider accounts that may serve the inbox, first the default; an
  inbox of a channel with providers needs an account to receive or send anything.
- ``from_address``: the inbox has its own address (``email_address``): required, replies
  are sent from it; no other channel may have one.
- ``webhook``: replies are POSTed to the inbox's ``webhook_url``; no other channel has one.
- ``secret``: the secret shown once when the inbox is created and rotated on demand
  (``api_token``: the API's bearer token, ``identity_secret``: the widget's HMAC key).
- ``widget``: the inbox is embedded on other sites, limited to its ``allowed_origins``.
- ``acks``: the inbox may send automatic acknowledgements of new cases.
- ``templates_provider``: the provider whose approved templates agents may send.

Routing (``hub/routing``):

- ``routing_weight``: the capacity units an item of this channel takes by default (an
  agent has 60: one call, or three chats, or five emails).
- ``starter_weight``: the starting routing config lists the weight (to show where it goes).
- ``max_per_agent``, ``wrapup_s``: what the starting routing config sets for the channel.

Contacts (``hub/contacts/rules/identity``):

- ``identity``: the channel's senders have identities of the channel's own kind
  (``whatsapp:+4930…``, ``telegram:<bot>:<user>``), valued a ``"phone"`` number (E.164)
  or an opaque ``"token"``. Other channels' senders are ``email``, ``phone``, ``visitor``
  or ``external`` identities, kinds that are addresses, not channels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

# The typed spellings (msgspec validates against them); test_layout.py checks that they
# name exactly the channels of CHANNELS below.
Channel = Literal["chat", "api", "email", "sms", "whatsapp", "messenger", "instagram",
                  "telegram", "voice", "bot"]
InboxChannel = Literal["chat", "api", "email", "sms", "whatsapp", "messenger", "instagram",
                       "telegram", "voice"]
ChannelIdentityKind = Literal["whatsapp", "messenger", "instagram", "telegram"]


@dataclass(frozen=True, slots=True)
class ChannelFacts:
    live: bool = False
    attachments: bool = False
    max_text: int | None = None
    reply_window_h: int | None = None
    routable_reply: bool = False
    text: bool = True
    inbox: bool = True
    providers: tuple[str, ...] = ()
    from_address: bool = False
    webhook: bool = False
    secret: Literal["api_token", "identity_secret"] | None = None
    widget: bool = False
    acks: bool = False
    templates_provider: str | None = None
    routing_weight: int = 12
    starter_weight: bool = False
    max_per_agent: int | None = None
    wrapup_s: int | None = None
    identity: Literal["phone", "token"] | None = None


CHANNELS: Mapping[str, ChannelFacts] = {
    "chat": ChannelFacts(live=True, routable_reply=True, secret="identity_secret",
                         widget=True, routing_weight=20, starter_weight=True),
    "api": ChannelFacts(routable_reply=True, webhook=True, secret="api_token"),
    "email": ChannelFacts(attachments=True, from_address=True, acks=True,
                          starter_weight=True),
    "sms": ChannelFacts(max_text=1600, routable_reply=True, providers=("twilio",),
                        routing_weight=15),
    "whatsapp": ChannelFacts(max_text=4096, reply_window_h=24, routable_reply=True,
                             providers=("twilio", "meta"), templates_provider="meta",
                             routing_weight=20, identity="phone"),
    "messenger": ChannelFacts(max_text=2000, reply_window_h=24, routable_reply=True,
                              providers=("meta",), routing_weight=20, identity="token"),
    "instagram": ChannelFacts(max_text=1000, reply_window_h=24, routable_reply=True,
                              providers=("meta",), routing_weight=20, identity="token"),
    "telegram": ChannelFacts(max_text=4096, routable_reply=True, providers=("telegram",),
                             routing_weight=20, identity="token"),
    "voice": ChannelFacts(text=False, routing_weight=60, starter_weight=True,
                          max_per_agent=1, wrapup_s=30),
    "bot": ChannelFacts(inbox=False),
}

# The item size behind the queue board's "agents available": room for one chat.
AVAILABILITY_PROBE: Channel = "chat"
# What a ``workitem.reassigned`` event built without a channel is about.
DEFAULT_CHANNEL: Channel = "chat"

_UNKNOWN = ChannelFacts()


def facts(channel: str) -> ChannelFacts:
    return CHANNELS.get(channel, _UNKNOWN)


def is_live(channel: str) -> bool:
    return facts(channel).live


def channels_where(**wanted: object) -> frozenset[str]:
    """The channels whose facts have every ``wanted`` value, e.g. ``live=True``."""
    return frozenset(channels_in_order(**wanted))


def channels_in_order(**wanted: object) -> tuple[str, ...]:
    """As ``channels_where``, in the table's order (for output that must stay stable)."""
    return tuple(name for name, f in CHANNELS.items()
                 if all(getattr(f, k) == v for k, v in wanted.items()))
