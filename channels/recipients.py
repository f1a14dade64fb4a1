"""Who an outbound message goes to. Pure.

The conversation's opening identity is preferred; otherwise any identity of the contact
that this inbox can reach (the contact may have been merged, or reached us first on
another channel). Social ids are scoped: a Messenger PSID only works from the Page that
issued it, so ``messenger:<page>:<psid>`` must name this inbox's Page (likewise
``instagram:<account>:<igsid>`` and ``telegram:<bot>:<user>``)."""

from __future__ import annotations

from collections.abc import Sequence

from hub.errors import BadInput


def recipient_for(channel: str, account_external_id: str, identities: Sequence[str]) -> str:
    """The provider's address for the first usable identity key (``kind:value``)."""
    for key in identities:
        kind, _, value = key.partition(":")
        if channel == "sms" and kind == "phone":
            return value
        if channel == "whatsapp" and kind == "whatsapp":
            return value
        if channel in ("messenger", "instagram", "telegram") and kind == channel:
            scope, _, user = value.partition(":")
            if scope == account_external_id and user:
                return user
    raise BadInput(f"the contact has no {channel} address this inbox can reach")
