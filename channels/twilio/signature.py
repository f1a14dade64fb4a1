"""``X-Twilio-Signature`` (HMAC-SHA1) verification. Pure: no I/O.

Algorithm (protocols.md §1.3, twilio-python ``RequestValidator``): the full URL Twilio
requested, then for form POSTs every received parameter (never a whitelist: Twilio adds
parameters without notice) sorted by name (ordinal order; a repeated name's values
sorted too) as ``name + value`` with no delimiters; HMAC-SHA1 keyed with the auth token;
Base64. JSON bodies instead carry ``bodySHA256`` (hex SHA-256 of the raw body) in the
URL, and the signature covers the URL alone.

Twilio is inconsistent about ports (SMS keeps an explicit port, Voice over HTTPS drops
it), so the URL is tried as given with its default port added and with any port removed,
exactly as twilio-python does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import parse_qs, urlsplit, urlunsplit

from hub.errors import Forbidden, Unauthorized

SIGNATURE_HEADER = "x-twilio-signature"
_DEFAULT_PORTS = {"https": 443, "http": 80}


def string_to_sign(url: str, params: Iterable[tuple[str, str]]) -> str:
    """URL followed by ``name+value`` of every param, sorted by name then value."""
    pairs = sorted(params)  # tuples: by name, then by value (twilio-python order)
    return url + "".join(name + value for name, value in pairs)


def compute_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    mac = hmac.new(auth_token.encode(), string_to_sign(url, params).encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _netloc(host: str, userinfo: str, port: int | None) -> str:
    prefix = f"{userinfo}@" if userinfo else ""
    return f"{prefix}{host}:{port}" if port is not None else f"{prefix}{host}"


def url_variants(url: str) -> tuple[str, ...]:
    """The URL with its port (the default one added if absent) and without any port.

    The host's case is kept: Twilio does not normalise it (vector T10).
    """
    parts = urlsplit(url)
    rest = parts.netloc.rpartition("@")
    userinfo, hostport = rest[0], rest[2]
    try:
        port = parts.port
    except ValueError:
        return (url,)
    host = hostport.rsplit(":", 1)[0] if port is not None else hostport
    with_port = port if port is not None else _DEFAULT_PORTS.get(parts.scheme)
    variants = [urlunsplit(parts._replace(netloc=_netloc(host, userinfo, None)))]
    if with_port is not None:
        variants.append(urlunsplit(parts._replace(netloc=_netloc(host, userinfo, with_port))))
    return tuple(dict.fromkeys(variants))


def _matches(auth_token: str, url: str, params: list[tuple[str, str]], signature: str) -> bool:
    ok = False
    for candidate in url_variants(url):
        expected = compute_signature(auth_token, candidate, params)
        # Evaluate every variant: no early exit that would time which one matched.
        ok |= hmac.compare_digest(expected.encode(), signature.encode())
    return ok


def verify_form(auth_token: str, url: str, params: list[tuple[str, str]],
                signature: str | None) -> None:
    """Raise unless ``signature`` signs ``url`` + the decoded form ``params``."""
    if not signature:
        raise Unauthorized("missing X-Twilio-Signature")
    if not auth_token or not _matches(auth_token, url, params, signature.strip()):
        raise Forbidden("X-Twilio-Signature does not match", code="bad_signature")


def verify_json(auth_token: str, url: str, body: bytes, signature: str | None) -> None:
    """JSON webhooks: the URL carries ``bodySHA256``; the signature covers the URL only."""
    if not signature:
        raise Unauthorized("missing X-Twilio-Signature")
    claimed = parse_qs(urlsplit(url).query).get("bodySHA256", [""])[0]
    body_ok = hmac.compare_digest(body_sha256(body).encode(), claimed.lower().encode())
    sig_ok = bool(auth_token) and _matches(auth_token, url, [], signature.strip())
    if not (body_ok and sig_ok):
        raise Forbidden("X-Twilio-Signature / bodySHA256 does not match", code="bad_signature")
