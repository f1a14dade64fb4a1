"""Which channel an agent's reply goes out on. Pure (no I/O).

A queue in cross-channel 'join' mode puts a customer's chat, then their SMS, into one
conversation; the conversation keeps the channel and inbox it was opened on. Replying
there would answer an SMS in a chat window the customer has closed. So a reply goes, by
default, to the channel account (inbox) of the customer's most recent inbound message in
the conversation; the agent may pick any other account the customer wrote from in it
(``via``). A conversation that never joined has one account: its own, as before.

Only channels whose replies the hub can route per message are offered as alternatives
(chat over our sockets, the API webhook and the messaging providers). Email threads are
answered on their own channel only: their replies depend on the conversation's thread.
A phone call cannot carry a written reply at all: a voice conversation offers only the
written channels the customer used in it, and none when they only called (the agent
adds private notes or calls back; ``choose_reply_route`` refuses with
``no_reply_channel``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from hub.channels_table import channels_where
from hub.errors import BadInput

ROUTABLE = channels_where(routable_reply=True)
# Channels that cannot carry a written reply at all (a call is audio).
NO_TEXT = channels_where(text=False)
NO_REPLY_CHANNEL = ("This conversation has no written channel to reply on (phone calls"
                    " cannot carry a text): add a private note or call the customer.")


@dataclass(frozen=True, slots=True)
class InboundUse:
    """The customer wrote in this conversation from ``account`` (an inbox slug) on
    ``channel``, last at ``last_at``."""

    channel: str
    account: str
    last_at: datetime


@dataclass(frozen=True, slots=True)
class ReplyRoute:
    channel: str
    account: str


def reply_routes(conv_channel: str, conv_inbox: str,
                 uses: Iterable[InboundUse]) -> list[ReplyRoute]:
    """Where a reply may go: the accounts the customer used here, most recent first,
    then the conversation's own account if the customer never wrote from it. Only
    channels that deliver text: empty for a conversation that is only phone calls."""
    own = ReplyRoute(conv_channel, conv_inbox)
    routes: list[ReplyRoute] = []
    for u in sorted(uses, key=lambda u: (u.last_at, u.account), reverse=True):
        route = ReplyRoute(u.channel, u.account)
        if (u.channel in ROUTABLE or (route == own and u.channel not in NO_TEXT)) \
                and route not in routes:
            routes.append(route)
    if own not in routes and conv_channel not in NO_TEXT:
        routes.append(own)
    return routes


def choose_reply_route(conv_channel: str, conv_inbox: str, uses: Iterable[InboundUse],
                       via: str | None = None) -> ReplyRoute:
    """The route for a reply: ``via`` (an account from ``reply_routes``) when given,
    else the customer's most recently used one."""
    routes = reply_routes(conv_channel, conv_inbox, uses)
    if not routes:
        raise BadInput(NO_REPLY_CHANNEL, code="no_reply_channel")
    if via is None:
        return routes[0]
    for r in routes:
        if r.account == via:
            return r
    allowed = ", ".join(r.account for r in routes)
    raise BadInput(f"via: the customer has not written from {via[:100]!r} in this"
                   f" conversation; choose one of: {allowed}")
