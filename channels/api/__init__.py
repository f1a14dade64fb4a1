"""API channel: integrations inject customer messages with an inbox bearer token."""

from __future__ import annotations

import hmac
import uuid
from datetime import datetime
from typing import Final

import msgspec

from hub.contacts.rules.identity import normalise_identity
from hub.errors import BadInput, Unauthorized
from hub.schema import Envelope, Identity
from hub.tokens import token_digest

CHANNEL: Final = "api"


class ApiInboundMessage(msgspec.Struct, forbid_unknown_fields=True):
    source_id: str
    text: str
    name: str = ""
    message_id: str = ""
    email: str = ""
    phone: str = ""


# An API inbox's bearer token is stored as its digest (the admin API writes it too).
hash_api_token = token_digest


def verify_api_token(expected_hash: str | None, authorization: str) -> None:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing bearer token")
    if not expected_hash or not hmac.compare_digest(hash_api_token(token.strip()), expected_hash):
        raise Unauthorized("invalid token for this inbox")


def api_identities(msg: ApiInboundMessage, default_region: str | None = None
                   ) -> list[Identity]:
    """The customer's identities, most specific first: email, phone, external id. The
    integration authenticates with the inbox token, so all of them are verified (the
    first is the sender, the others are linked; docs/identity.md)."""
    out = []
    if msg.email:
        out.append(normalise_identity("email", msg.email))
    if msg.phone:
        out.append(normalise_identity("phone", msg.phone, default_region=default_region))
    out.append(normalise_identity("external", msg.source_id))
    return out


def sender_identity(msg: ApiInboundMessage) -> Identity:
    return api_identities(msg)[0]


def envelope_from_api(inbox: str, msg: ApiInboundMessage, now: datetime,
                      default_region: str | None = None) -> Envelope:
    text = msg.text.strip()
    if not text:
        raise BadInput("text: must not be empty")
    if len(text) > 20_000:
        raise BadInput("text: at most 20000 characters")
    if len(msg.message_id) > 200:
        raise BadInput("message_id: at most 200 characters")
    identities = api_identities(msg, default_region)
    return Envelope(
        channel=CHANNEL,
        channel_account=inbox,
        # Without a message_id the integration gets no retry safety; say so in the docs.
        provider_id=msg.message_id or f"gen:{uuid.uuid4()}",
        sender=identities[0],
        linked=tuple(identities[1:]),
        sender_name=msg.name[:200],
        text=text,
        received_at=now,
    )
