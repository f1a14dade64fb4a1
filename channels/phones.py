"""Phone numbers to E.164 with ``phonenumbers``. Pure.

Providers send numbers in international form (Twilio ``+44...``, WhatsApp ``wa_id``
digits without the plus). We require a number that is *possible* for its country
(length and prefix), not *valid* (allocated): fictional test ranges such as +1 555-01xx
must still work."""

from __future__ import annotations

import phonenumbers

from hub.errors import BadInput


def to_e164(raw: str, *, field: str = "phone") -> str:
    text = raw.strip()
    if not text or len(text) > 40:
        raise BadInput(f"{field}: not a phone number")
    if not text.startswith("+"):
        text = "+" + text
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise BadInput(f"{field}: not an international phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise BadInput(f"{field}: not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
