"""Telegram webhook authentication: there is no HMAC; ``setWebhook(secret_token=...)``
makes Telegram send ``X-Telegram-Bot-Api-Secret-Token`` on every request, compared here
in constant time (protocols.md §3). Pure."""

from __future__ import annotations

import hmac
import re

from hub.errors import ConfigError, Forbidden, Unauthorized

SECRET_HEADER = "x-telegram-bot-api-secret-token"
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def check_secret_format(secret: str) -> str:
    """Telegram only accepts 1-256 characters of A-Z a-z 0-9 _ -."""
    if not _SECRET.match(secret):
        raise ConfigError("telegram secret_token: 1-256 characters of A-Za-z0-9_-")
    return secret


def verify_secret_token(expected: str, header: str | None) -> None:
    if not header:
        raise Unauthorized("missing X-Telegram-Bot-Api-Secret-Token")
    if not expected or not hmac.compare_digest(expected.encode(), header.encode()):
        raise Forbidden("X-Telegram-Bot-Api-Secret-Token does not match", code="bad_signature")
