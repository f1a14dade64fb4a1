"""What each channel can do, in one table: the only place outside the channel-specific
subsystem packages (``hub/email``, ``hub/messaging``, ``hub/voice``) where ``hub/`` names
a channel. Generic code asks this table (``facts(channel)``) instead of comparing names.
Pure data.

- ``live``: replies reach the customer over our own sockets at once, so they are stored
  ``sent``; every other channel stores them ``queued`` for a send worker.
- ``attachments``: an agent's reply may carry uploads.
- ``max_text``: the longest reply text the provider accepts (None: our own limit only).
- ``reply_window_h``: hours after the customer's last message in which a free-form reply
  is allowed (the provider's rule; hub/messaging applies it).
- ``routable_reply``: in a joined conversation a reply may be routed to this channel
  per message (email replies depend on their thread, so they may not).
- ``text``: the channel carries written messages at all (a call does not).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChannelFacts:
    live: bool = False
    attachments: bool = False
    max_text: int | None = None
    reply_window_h: int | None = None
    routable_reply: bool = False
    text: bool = True


CHANNELS: Mapping[str, ChannelFacts] = {
    "chat": ChannelFacts(live=True, routable_reply=True),
    "api": ChannelFacts(routable_reply=True),
    "email": ChannelFacts(attachments=True),
    "sms": ChannelFacts(max_text=1600, routable_reply=True),
    "whatsapp": ChannelFacts(max_text=4096, reply_window_h=24, routable_reply=True),
    "messenger": ChannelFacts(max_text=2000, reply_window_h=24, routable_reply=True),
    "instagram": ChannelFacts(max_text=1000, reply_window_h=24, routable_reply=True),
    "telegram": ChannelFacts(max_text=4096, routable_reply=True),
    "voice": ChannelFacts(text=False),
    "bot": ChannelFacts(),
}

_UNKNOWN = ChannelFacts()


def facts(channel: str) -> ChannelFacts:
    return CHANNELS.get(channel, _UNKNOWN)


def is_live(channel: str) -> bool:
    return facts(channel).live


def channels_where(**wanted: object) -> frozenset[str]:
    """The channels whose facts have every ``wanted`` value, e.g. ``live=True``."""
    return frozenset(name for name, f in CHANNELS.items()
                     if all(getattr(f, k) == v for k, v in wanted.items()))
