"""Phone numbers from provider payloads to E.164, through the hub's one normaliser
(``hub.contacts.rules.identity.normalise_phone``: ``phonenumbers``, *possible* not *allocated*, so
fictional test ranges work). Providers send international form: Twilio ``+44...``,
WhatsApp ``wa_id`` digits without the plus. Pure."""

from __future__ import annotations

from hub.contacts.rules.identity import normalise_phone
from hub.errors import BadInput


def to_e164(raw: str, *, field: str = "phone") -> str:
    text = raw.strip()
    if not text or len(text) > 40:
        raise BadInput(f"{field}: not a phone number")
    try:
        return normalise_phone(text if text.startswith("+") else "+" + text)
    except BadInput as exc:
        raise BadInput(f"{field}: {exc.reason}") from None
