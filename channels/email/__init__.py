"""Email channel: the pure core (parsing, threading, trimming, composing, loop-safe
acknowledgements). No sockets, no database: I/O lives in the fetchers and workers."""

from __future__ import annotations

from channels.email.autoreply import correlate_bounce, should_auto_acknowledge
from channels.email.bounce import Bounce, read_bounce
from channels.email.compose import OutgoingMail, Parent, build_auto_ack, build_reply
from channels.email.envelope import envelope_from_email
from channels.email.parse import ParsedEmail, parse_email
from channels.email.threading import (
    Match,
    match_conversation,
    parse_reply_token,
    reply_address,
    verify_reply_token,
)
from channels.email.trim import trim_reply

__all__ = [
    "Bounce",
    "Match",
    "OutgoingMail",
    "Parent",
    "ParsedEmail",
    "build_auto_ack",
    "build_reply",
    "correlate_bounce",
    "envelope_from_email",
    "match_conversation",
    "parse_email",
    "parse_reply_token",
    "read_bounce",
    "reply_address",
    "should_auto_acknowledge",
    "trim_reply",
    "verify_reply_token",
]
