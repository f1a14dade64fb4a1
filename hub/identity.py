"""Identity normalisation and matching keys. Pure: no I/O."""

from __future__ import annotations

import re

from hub.errors import BadInput
from hub.schema import Identity

_EMAIL = re.compile(r"^[^@\s<>\"]{1,64}@[^@\s<>\"]{1,255}$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_.:@+-]{1,200}$")


def normalise_identity(kind: str, value: str) -> Identity:
    """Return the canonical identity, or raise BadInput naming what is wrong."""
    value = value.strip()
    if kind == "email":
        value = value.lower()
        if not _EMAIL.match(value):
            raise BadInput("email: not an address")
    elif kind == "phone":
        compact = re.sub(r"[\s().-]", "", value)
        if not _E164.match(compact):
            raise BadInput("phone: not an E.164 number (+<country><number>)")
        value = compact
    elif kind in ("visitor", "external", "whatsapp", "messenger", "instagram", "telegram"):
        if not _TOKEN.match(value):
            raise BadInput(f"{kind}: 1-200 characters of [A-Za-z0-9_.:@+-]")
    else:
        raise BadInput(f"unknown identity kind {kind!r}")
    return Identity(kind=kind, value=value)  # type: ignore[arg-type]


def identity_key(identity: Identity) -> str:
    return f"{identity.kind}:{identity.value}"
