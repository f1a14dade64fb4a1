"""Stable demo secrets derived from the hub's secret key (shared by the seed modules)."""

from __future__ import annotations

import hashlib
import hmac

from hub.config import Settings


def derive_secret(settings: Settings, purpose: str) -> str:
    """A stable secret for ``purpose``, derived from the hub's secret key (hex)."""
    if not settings.secret_key:
        raise ValueError("settings.secret_key is required to seed the demo")
    key = settings.secret_key.encode()
    return hmac.new(key, f"omnihub-demo:{purpose}".encode(), hashlib.sha256).hexdigest()
