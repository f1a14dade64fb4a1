"""Threading: unforgeable reply tokens and the pure inbound matcher (channel-agnostic
domain logic, so it lives in hub/; ``channels.email.threading`` re-exports it).

Match order (issue 3): (1) a valid ``reply+<id>.<mac>@`` token; (2) References /
In-Reply-To against stored Message-IDs, trusted only when the conversation belongs to
the sender; (3) optionally the normalised subject, restricted to the same sender.
A reference to someone else's conversation without a valid token is never trusted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr
from typing import Literal, Protocol

from hub.contacts.rules.identity import identity_key
from hub.schema import Identity, ThreadHints

_MAC_BYTES = 15  # 120 bits → 24 base32 characters
_TOKEN = re.compile(r"^([0-9]{1,19})\.([a-z2-7]{24})$")
MAX_REFERENCE_LOOKUPS = 50


def _mac(conversation_id: int, secret: str) -> str:
    digest = hmac.new(secret.encode(), b"email-reply|" + str(conversation_id).encode(),
                      hashlib.sha256).digest()[:_MAC_BYTES]
    # base32, lower case: survives MTAs and clients that change the case of addresses
    return base64.b32encode(digest).decode().rstrip("=").lower()


def reply_token(conversation_id: int, secret: str) -> str:
    return f"{conversation_id}.{_mac(conversation_id, secret)}"


def reply_address(conversation_id: int, secret: str, domain: str) -> str:
    """``reply+<id>.<mac>@domain``: the Reply-To of everything we send in a conversation."""
    return f"reply+{reply_token(conversation_id, secret)}@{domain.lower()}"


def verify_reply_token(token: str, secret: str | Sequence[str]) -> int | None:
    """The conversation id, or None when forged or malformed. ``secret`` may list the
    current secret first and retired ones after it (rotation)."""
    m = _TOKEN.match(token.strip().lower())
    if not m:
        return None
    conversation_id = int(m.group(1))
    secrets = [secret] if isinstance(secret, str) else list(secret)
    ok = False
    for s in secrets:  # constant time per candidate; no early exit on the first match
        ok |= hmac.compare_digest(m.group(2), _mac(conversation_id, s))
    return conversation_id if ok else None


def parse_reply_token(address: str, secret: str | Sequence[str],
                      domains: Sequence[str] = ()) -> int | None:
    """Conversation id from ``reply+<token>@domain`` (display names allowed), or None.
    With ``domains``, the address must be at one of them."""
    addr = parseaddr(address)[1] or address.strip()
    local, at, domain = addr.rpartition("@")
    if not at or not local.lower().startswith("reply+"):
        return None
    if domains and domain.lower() not in {d.lower() for d in domains}:
        return None
    return verify_reply_token(local[6:], secret)


# ---- subjects ----------------------------------------------------------------------

_PREFIX = re.compile(
    r"^\s*(?:re|fwd?|aw|wg|sv|vs|vb|antw|antwort|rif|r|tr|odp|pd|enc|res|rv|ref|ynt|"
    r"atb|ant|rép|réf|回复|答复|转发|返信|転送)"
    r"\s*(?:\[\d{1,4}\]|\(\d{1,4}\)|\^\d{1,4})?\s*[:\uff1a]\s*", re.I)
_TICKET_TAG = re.compile(r"\[\s*(?:ticket|case|issue|request)?\s*#\s*[\w-]{1,40}\s*\]", re.I)


def normalise_subject(subject: str) -> str:
    """Strip Re:/Fwd:/AW:/WG:/SV:/RE[2]: ... prefixes and ticket tags, casefold."""
    s = _TICKET_TAG.sub(" ", subject or "")
    for _ in range(20):
        stripped = _PREFIX.sub("", s, count=1)
        if stripped == s:
            break
        s = stripped
    return " ".join(s.split()).casefold()


# ---- the matcher -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConversationRef:
    """What the lookup knows about a stored conversation."""

    id: int
    contact_keys: frozenset[str]  # identity keys ("email:a@b") of its contact
    last_message_at: datetime | None = None


class ThreadLookup(Protocol):
    """Implemented by the caller with database queries (tests use a dict)."""

    def conversation(self, conversation_id: int) -> ConversationRef | None: ...

    def by_message_ids(self, message_ids: Sequence[str]) -> dict[str, ConversationRef]:
        """Stored messages (inbound or outbound) with these Message-IDs."""
        ...

    def by_subject(self, sender: Identity, subject: str) -> Sequence[ConversationRef]:
        """Conversations of the sender's contact whose normalised subject is ``subject``."""
        ...


Via = Literal["token", "reference", "subject", "new"]


@dataclass(frozen=True, slots=True)
class Match:
    conversation_id: int | None
    via: Via
    forged_token: bool = False  # a reply+ token was present but did not verify
    untrusted: tuple[int, ...] = field(default=())  # referenced conversations refused


def _belongs_to(ref: ConversationRef, sender: Identity) -> bool:
    return identity_key(sender) in ref.contact_keys


def match_conversation(
    hints: ThreadHints,
    sender: Identity,
    lookup: ThreadLookup,
    *,
    secret: str | Sequence[str],
    subject: str = "",
    subject_fallback: bool = True,
) -> Match:
    """Which conversation an inbound mail continues (conversation_id None → a new one)."""
    forged = False
    token_conversation: int | None = None
    if hints.reply_token:
        token_conversation = verify_reply_token(hints.reply_token, secret)
        forged = token_conversation is None
        if token_conversation is not None and lookup.conversation(token_conversation):
            return Match(token_conversation, "token")

    ids = list(dict.fromkeys(
        ([hints.in_reply_to] if hints.in_reply_to else []) + list(reversed(hints.references))
    ))[:MAX_REFERENCE_LOOKUPS]
    untrusted: list[int] = []
    if ids:
        found = lookup.by_message_ids(ids)
        for mid in ids:  # the direct parent first, then newest to oldest
            ref = found.get(mid)
            if ref is None:
                continue
            if _belongs_to(ref, sender) or ref.id == token_conversation:
                return Match(ref.id, "reference", forged, tuple(untrusted))
            if ref.id not in untrusted:
                untrusted.append(ref.id)

    normalised = normalise_subject(subject)
    if subject_fallback and normalised:
        candidates = [c for c in lookup.by_subject(sender, normalised) if _belongs_to(c, sender)]
        if candidates:
            newest = max(candidates, key=lambda c: (
                c.last_message_at.timestamp() if c.last_message_at else float("-inf"), c.id))
            return Match(newest.id, "subject", forged, tuple(untrusted))
    return Match(None, "new", forged, tuple(untrusted))
