"""Identity normalisation and the contact-linking rules. Pure: no I/O.

An identity is ``kind:value``: ``email:ann@example.com``, ``phone:+4930123456``,
``whatsapp:+4930123456``, ``messenger:<page>:<psid>``, ``telegram:<bot>:<user>``,
``visitor:<random>``, ``external:<source id>``. Every identity that reaches the pipeline
as an envelope's sender (or in ``Envelope.linked``) was vouched for by its channel (a
signed provider webhook, an HMAC-validated widget user, a visitor token, an inbox bearer
token). Unverified claims (``Envelope.claims``, e.g. a pre-chat email) never link; see
docs/identity.md for the rules and the threat model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import phonenumbers

from hub.channels_table import channels_in_order
from hub.errors import BadInput
from hub.schema import Identity

_EMAIL_ADDRESS = re.compile(r"^[^@\s<>\"]{1,64}@[^@\s<>\"]{1,255}$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_.:@+-]{1,200}$")
# Identity kinds named after their channel (hub/channels_table.py ``identity``); "email",
# "phone", "visitor" and "external" are addresses and ids that belong to no one channel.
SOCIAL_KINDS = channels_in_order(identity="phone") + channels_in_order(identity="token")
_TOKEN_KINDS = ("visitor", "external", *channels_in_order(identity="token"))
# Kinds whose value is an E.164 number: the same number on another of these kinds is the
# same subscriber (WhatsApp ids are the phone number the account was registered with).
PHONE_KINDS = ("phone", *channels_in_order(identity="phone"))


def normalise_phone(raw: str, default_region: str | None = None) -> str:
    """E.164 (``+4930123456``) via libphonenumber. Numbers without ``+`` need
    ``default_region`` (ISO 3166 alpha-2, e.g. ``DE``). BadInput when not a valid number."""
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, (default_region or "").upper() or None)
    except phonenumbers.NumberParseException as exc:
        raise BadInput(f"phone: not a phone number ({exc._msg})") from None
    # "Possible" (right length for the country), not "valid" (assigned range): fictional
    # and test ranges (+44 7700 900xxx, Twilio's +1 500 555 xxxx) must still work.
    if not phonenumbers.is_possible_number(number):
        raise BadInput("phone: not a possible number for its country (+<country><number>)")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not _E164.match(e164):  # libphonenumber deems some 2-digit numbers "possible"
        raise BadInput("phone: too short or too long for E.164")
    return e164


def normalise_identity(kind: str, value: str, *, default_region: str | None = None) -> Identity:
    """Return the canonical identity, or raise BadInput naming what is wrong."""
    value = value.strip()
    if kind == "email":
        value = value.lower()
        if not _EMAIL_ADDRESS.match(value):
            raise BadInput("email: not an address")
    elif kind == "phone":
        value = normalise_phone(value, default_region)
    elif kind in PHONE_KINDS:
        # WhatsApp ids are phone numbers, with or without '+'.
        digits = value if value.startswith("+") else "+" + value
        value = normalise_phone(digits)
    elif kind in _TOKEN_KINDS:
        if not _TOKEN.match(value):
            raise BadInput(f"{kind}: 1-200 characters of [A-Za-z0-9_.:@+-]")
    else:
        raise BadInput(f"unknown identity kind {kind!r}")
    return Identity(kind=kind, value=value)  # type: ignore[arg-type]


def identity_key(identity: Identity) -> str:
    return f"{identity.kind}:{identity.value}"


def parse_identity_key(key: str) -> Identity:
    kind, sep, value = key.partition(":")
    if not sep:
        raise BadInput("identity: expected kind:value")
    return normalise_identity(kind, value)


def equivalent_keys(identity: Identity) -> list[str]:
    """Other identity keys that denote the same verified subscriber (not the key itself)."""
    if identity.kind in PHONE_KINDS:
        return [f"{k}:{identity.value}" for k in PHONE_KINDS if k != identity.kind]
    return []


def crm_attribute(identity: Identity) -> tuple[str, str] | None:
    """The operator-maintained contact column that may hold this identity's value
    (contacts.email / contacts.phone are written only by operators and verified
    identities, never by a customer's claim)."""
    if identity.kind == "email":
        return ("email", identity.value)
    if identity.kind in PHONE_KINDS:
        return ("phone", identity.value)
    return None


# ---- linking decisions ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Known:
    """What the store knows about the identities in a batch."""

    # identity key -> contact id owning it (identities table).
    owners: Mapping[str, int]
    # ("email"|"phone", value) -> contact ids whose CRM column holds that value.
    crm: Mapping[tuple[str, str], frozenset[int]]


@dataclass(slots=True)
class Resolution:
    """What to do for one sender."""

    sender: str
    contact_id: int | None  # None: create a new contact seeded by the sender
    # Identity keys to attach to the resolved contact (verified, currently unowned).
    attach: list[str] = field(default_factory=list)
    # Why: "known", "equivalent", "linked", "crm", "new", "ambiguous".
    reason: str = "known"
    # Verified identities owned by another contact: a merge suggestion, never a move.
    conflicts: dict[str, int] = field(default_factory=dict)


def lookup_keys(sender: Identity, linked: Iterable[Identity]) -> set[str]:
    """Every identity key whose owner the linking rules may need."""
    keys = {identity_key(sender), *equivalent_keys(sender)}
    for ident in linked:
        keys.add(identity_key(ident))
        keys.update(equivalent_keys(ident))
    return keys


def resolve_sender(sender: Identity, linked: Iterable[Identity], known: Known) -> Resolution:
    """Decide the contact of one sender. Rules, first match wins:

    1. known: the sender identity is on a contact → that contact.
    2. equivalent / linked: the sender is new, and the contacts owning its equivalent
       keys (same E.164 on phone/whatsapp) or the other verified identities the channel
       vouched for (``linked``) are exactly one contact → that contact.
    3. crm: otherwise, exactly one contact has the sender's email/phone in its
       operator-maintained column → that contact.
    4. new: nothing matched → a new contact. Two or more candidates at any step
       (ambiguous) also give a new contact: never guess between customers.
    Verified identities (sender, linked) not yet on any contact are attached to the
    result; those owned by another contact are reported as conflicts, never moved.
    """
    key = identity_key(sender)
    linked = [i for i in linked if identity_key(i) != key]
    res = Resolution(sender=key, contact_id=known.owners.get(key))
    if res.contact_id is None:
        res.attach.append(key)
        via_equiv = {known.owners[k] for k in equivalent_keys(sender) if k in known.owners}
        via_linked = {known.owners[k] for i in linked
                      for k in (identity_key(i), *equivalent_keys(i)) if k in known.owners}
        candidates = via_equiv | via_linked
        if len(candidates) == 1:
            res.contact_id = next(iter(candidates))
            res.reason = "equivalent" if via_equiv else "linked"
        elif len(candidates) > 1:
            res.reason = "ambiguous"
        else:
            attr = crm_attribute(sender)
            crm = known.crm.get(attr, frozenset()) if attr else frozenset()
            if len(crm) == 1:
                res.contact_id = next(iter(crm))
                res.reason = "crm"
            else:
                res.reason = "ambiguous" if crm else "new"
    for ident in linked:
        k = identity_key(ident)
        owner = known.owners.get(k)
        if owner is None:
            if k not in res.attach:
                res.attach.append(k)
        elif owner != res.contact_id:
            res.conflicts[k] = owner
    return res
