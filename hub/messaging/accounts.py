"""Provider accounts of the messaging channels (hub/channels_table.py ``providers``): the
admin's typed body and the per-provider checks of an account's ids and secrets
(protocols.md §1-3). Pure; a failure is a ``BadInput`` naming the field."""

from __future__ import annotations

import re
from typing import Literal

import msgspec

from hub.channels_table import facts
from hub.errors import BadInput

Provider = Literal["twilio", "meta", "telegram"]

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_TWILIO_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")
_DIGITS = re.compile(r"^\d{5,30}$")
_TELEGRAM_TOKEN = re.compile(r"^(\d{5,15}):[A-Za-z0-9_-]{30,64}$")
_TELEGRAM_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_PRINTABLE = re.compile(r"^[\x21-\x7e]{8,512}$")


class AccountBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A provider account. Secrets left out keep their stored value (so an admin can
    change the number without re-typing the token); on a new account they are required."""

    provider: Provider
    external_id: str
    account_sid: str | None = None
    auth_token: str | None = None
    access_token: str | None = None
    app_secret: str | None = None
    verify_token: str | None = None
    secret_token: str | None = None
    # Messenger/Instagram: reply with the HUMAN_AGENT tag up to 7 days after the customer's
    # last message (null: the channel's default, on for Messenger, off for Instagram).
    human_agent: bool | None = None


def _need(body: AccountBody, stored: dict[str, str], field: str) -> str:
    value = getattr(body, field)
    if value is None:
        value = stored.get(field, "")
    if not value:
        raise BadInput(f"{field}: required for a {body.provider} account")
    return str(value)


def check_account(channel: str, body: AccountBody, stored: dict[str, str]) -> dict[str, str]:
    """The full column set of a ``channel_accounts`` row, validated for the provider;
    ``stored`` is the current row (empty for a new account)."""
    providers = facts(channel).providers
    if not providers:
        raise BadInput(f"a {channel} inbox has no provider account")
    if body.provider not in providers:
        raise BadInput(f"provider: {channel} inboxes use {', '.join(providers)}")
    if body.provider != stored.get("provider", body.provider):
        stored = {}  # another provider: nothing of the old account carries over
    ext = body.external_id.strip()
    row = {"provider": body.provider, "account_sid": "", "auth_token": "",
           "access_token": "", "app_secret": "", "verify_token": "", "secret_token": ""}
    if body.provider == "twilio":
        number = ext.removeprefix("whatsapp:")
        if not _E164.match(number):
            raise BadInput("external_id: the Twilio number in E.164, e.g. +4930901820")
        ext = f"whatsapp:{number}" if channel == "whatsapp" else number
        row["account_sid"] = _need(body, stored, "account_sid")
        row["auth_token"] = _need(body, stored, "auth_token")
        if not _TWILIO_SID.match(row["account_sid"]):
            raise BadInput("account_sid: AC followed by 32 hex digits")
        if not _HEX32.match(row["auth_token"]):
            raise BadInput("auth_token: 32 hex digits")
    elif body.provider == "meta":
        if not _DIGITS.match(ext):
            raise BadInput("external_id: the page, Instagram account or WhatsApp phone"
                           " number id (digits)")
        for field in ("access_token", "app_secret", "verify_token"):
            row[field] = _need(body, stored, field)
            if not _PRINTABLE.match(row[field]):
                raise BadInput(f"{field}: 8-512 printable characters")
    else:
        row["access_token"] = _need(body, stored, "access_token")
        m = _TELEGRAM_TOKEN.match(row["access_token"])
        if m is None:
            raise BadInput("access_token: the bot token from @BotFather (<bot id>:<secret>)")
        if ext != m.group(1):
            raise BadInput("external_id: the bot id, the digits before ':' in its token")
        row["secret_token"] = _need(body, stored, "secret_token")
        if not _TELEGRAM_SECRET.match(row["secret_token"]):
            raise BadInput("secret_token: 1-256 of A-Z, a-z, 0-9, _ and -")
    row["external_id"] = ext
    return row
