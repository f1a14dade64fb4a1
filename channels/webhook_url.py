"""The URL a provider signed. Twilio signs the exact URL it requested; behind a TLS proxy
the hub sees ``http://127.0.0.1:8000/...``, not ``https://hub.example.com/...``. The
public base comes from configuration (``Settings.webhook_base_url``), never from
client-controlled headers. Pure: no I/O."""

from __future__ import annotations

from urllib.parse import urlsplit

from hub.errors import ConfigError


def signed_url(base_url: str, path: str, query: str, request_url: str) -> str:
    """The full URL the provider called.

    ``base_url`` is the configured public origin plus optional path prefix (e.g.
    ``https://hub.example.com`` or ``https://example.com/omnihub`` when a proxy strips
    ``/omnihub``). Empty means "the request URL as received" (no proxy in front).
    ``path`` and ``query`` are the raw path and query string the hub received.
    """
    if not base_url:
        return request_url
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise ConfigError("webhook_base_url must be http(s)://host[:port][/prefix]")
    url = base_url.rstrip("/") + path
    return f"{url}?{query}" if query else url
