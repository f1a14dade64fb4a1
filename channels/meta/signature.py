"""``X-Hub-Signature-256`` verification and the ``hub.challenge`` handshake. Pure.

Meta signs the raw request body (``sha256=`` + lowercase hex HMAC-SHA256 keyed with the
App Secret), computed over its own escaped-unicode serialisation: hash the bytes exactly
as received, never a re-serialised JSON (protocols.md §2.2, vectors M1, M4/M5). The
legacy SHA-1 ``X-Hub-Signature`` is not accepted.
"""

from __future__ import annotations

import hashlib
import hmac

from hub.errors import BadInput, Forbidden, Unauthorized

SIGNATURE_HEADER = "x-hub-signature-256"


def compute_signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(app_secrets: list[str] | tuple[str, ...], body: bytes,
                     header: str | None) -> str:
    """Raise unless ``header`` signs ``body`` with one of ``app_secrets``.

    Several secrets are allowed because one endpoint serves several Meta apps (and a
    secret rotation overlaps the old and the new one). Returns the secret that matched.
    """
    if not header:
        raise Unauthorized("missing X-Hub-Signature-256")
    given = header.strip()
    if not given.startswith("sha256="):
        raise Forbidden("X-Hub-Signature-256 must start with sha256=", code="bad_signature")
    given = "sha256=" + given[7:].lower()
    matched = ""
    for secret in app_secrets:
        if secret and hmac.compare_digest(compute_signature(secret, body).encode(),
                                          given.encode()):
            matched = matched or secret
    if not matched:
        raise Forbidden("X-Hub-Signature-256 does not match", code="bad_signature")
    return matched


def answer_challenge(params: dict[str, str], verify_tokens: list[str] | tuple[str, ...]) -> str:
    """The ``hub.challenge`` to echo back, if mode and verify token are right."""
    if params.get("hub.mode") != "subscribe":
        raise BadInput("hub.mode must be subscribe")
    challenge = params.get("hub.challenge", "")
    if not challenge or len(challenge) > 200 or not challenge.isprintable():
        raise BadInput("hub.challenge: 1-200 printable characters")
    token = params.get("hub.verify_token", "").encode()
    ok = False
    for expected in verify_tokens:
        ok |= bool(expected) and hmac.compare_digest(expected.encode(), token)
    if not ok:
        raise Forbidden("hub.verify_token does not match", code="bad_verify_token")
    return challenge
