"""Email threading: the pure matcher and reply tokens live in ``hub.email.rules`` (the
pipeline uses them, and hub/ must not import channels/); re-exported here for the
email adapters and senders."""

from __future__ import annotations

from hub.email.rules import (
    MAX_REFERENCE_LOOKUPS,
    ConversationRef,
    Match,
    ThreadLookup,
    Via,
    match_conversation,
    normalise_subject,
    parse_reply_token,
    reply_address,
    reply_token,
    verify_reply_token,
)

__all__ = [
    "MAX_REFERENCE_LOOKUPS",
    "ConversationRef",
    "Match",
    "ThreadLookup",
    "Via",
    "match_conversation",
    "normalise_subject",
    "parse_reply_token",
    "reply_address",
    "reply_token",
    "verify_reply_token",
]
