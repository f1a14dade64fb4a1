"""How bearer tokens are stored: the SHA-256 hex digest (tokens are long random strings,
so a fast hash is enough), compared in constant time by whoever checks them."""

from __future__ import annotations

import hashlib


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
