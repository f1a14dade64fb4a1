"""Web chat widget channel: visitor tokens, identity validation, and client frames turned
into envelopes. No I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Final

import msgspec

from hub.contacts.rules.identity import identity_key, normalise_identity
from hub.errors import BadInput, Unauthorized
from hub.schema import Envelope, Identity

CHANNEL: Final = "chat"
MAX_TEXT = 10_000


class WidgetMessage(msgspec.Struct, tag="message", tag_field="type", forbid_unknown_fields=True):
    client_id: str
    text: str


class WidgetTyping(msgspec.Struct, tag="typing", tag_field="type", forbid_unknown_fields=True):
    on: bool


class WidgetPing(msgspec.Struct, tag="ping", tag_field="type", forbid_unknown_fields=True):
    pass


WidgetFrame = WidgetMessage | WidgetTyping | WidgetPing


def _sign(secret: str, payload: str) -> str:
    mac = hmac.new(secret.encode(), b"widget-visitor|" + payload.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:18]).decode().rstrip("=")


def issue_visitor_token(secret: str, inbox: str, identity: Identity) -> str:
    payload = f"{inbox}|{identity_key(identity)}"
    body = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    return f"{body}.{_sign(secret, payload)}"


def new_visitor_identity() -> Identity:
    return Identity(kind="visitor", value=secrets.token_urlsafe(16))


def verify_visitor_token(secret: str, inbox: str, token: str) -> Identity:
    """Return the identity a token was issued for; Unauthorized if forged or foreign."""
    body, _, sig = token.partition(".")
    try:
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise Unauthorized("visitor token is malformed") from None
    if not sig or not hmac.compare_digest(sig, _sign(secret, payload)):
        raise Unauthorized("visitor token is invalid")
    token_inbox, _, key = payload.partition("|")
    if token_inbox != inbox:
        raise Unauthorized("visitor token belongs to another inbox")
    kind, _, value = key.partition(":")
    return normalise_identity(kind, value)


def verify_user_hash(identity_secret: str | None, email: str, user_hash: str) -> Identity:
    """Identity validation for shop users (HMAC-SHA256 of the email, hex), as in Chatwoot."""
    if not identity_secret:
        raise Unauthorized("this inbox does not accept identified users")
    identity = normalise_identity("email", email)
    expected = hmac.new(identity_secret.encode(), identity.value.encode(), hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest(), user_hash.lower()):
        raise Unauthorized("user hash does not match the email")
    return identity


def default_name(identity: Identity) -> str:
    """What agents see before the customer tells us their name."""
    if identity.kind == "email":
        return identity.value.split("@", 1)[0]
    return f"Visitor {identity.value[:6]}"


def envelope_from_widget(
    inbox: str, identity: Identity, frame: WidgetMessage, now: datetime, sender_name: str = ""
) -> Envelope:
    text = frame.text.strip()
    if not text:
        raise BadInput("text: must not be empty")
    if len(text) > MAX_TEXT:
        raise BadInput(f"text: at most {MAX_TEXT} characters")
    if not (1 <= len(frame.client_id) <= 64) or not frame.client_id.isprintable():
        raise BadInput("client_id: 1-64 printable characters")
    return Envelope(
        channel=CHANNEL,
        channel_account=inbox,
        # Scoped by visitor: one visitor's ids can never collide with another's.
        provider_id=f"{identity_key(identity)}:{frame.client_id}",
        sender=identity,
        sender_name=sender_name or default_name(identity),
        text=text,
        received_at=now,
    )
