"""Phone numbers to E.164 with phonenumbers. PBXs send digits without '+'
(Zammad's examples: ``493055571600``), with a national trunk prefix, or words
(``anonymous``); the widget gets whatever a customer types."""

from __future__ import annotations

import re

import phonenumbers

from hub.errors import BadInput

_DIGITS = re.compile(r"^\d{8,15}$")
ANONYMOUS = frozenset({"", "anonymous", "unknown", "restricted", "private", "unavailable"})


def to_e164(raw: str, region: str = "DE", *, strict: bool = True) -> str | None:
    """E.164 when ``raw`` is a number, else None.

    Bare digits without a leading 0 (``4930...``, as PBXs send) are international;
    ``00`` is the international prefix; a leading 0 is national in ``region``.
    ``strict`` (customer input) wants a number assigned in the numbering plan;
    not strict (a PBX reporting a connected call) accepts any possible number, e.g.
    the drama ranges the demo data uses."""
    text = re.sub(r"[\s().-]", "", raw.strip())
    if text.lower() in ANONYMOUS or len(text) > 40 or sum(c.isdigit() for c in text) < 6:
        return None  # also keeps short internal extensions ('12') as they are
    if _DIGITS.match(text) and not text.startswith("0"):
        text = "+" + text
    elif text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else region)
    except phonenumbers.NumberParseException:
        return None
    ok = (phonenumbers.is_valid_number(parsed) if strict
          else phonenumbers.is_possible_number(parsed))
    if not ok:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def require_e164(raw: str, region: str = "DE", field: str = "phone") -> str:
    """E.164, or BadInput with a message a customer can act on."""
    number = to_e164(raw, region)
    if number is None:
        raise BadInput(f"{field}: not a valid phone number; include the country code,"
                       " e.g. +49 30 1234567", code="invalid_phone")
    return number
