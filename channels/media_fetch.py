"""Resolve a stored media reference through its provider and open the bytes as an httpx
stream. No DB: the caller passes the inbox's credentials and the provider API bases
(the same settings the senders use, so tests talk to a local fake over real HTTP).

- ``url:`` (Twilio ``MediaUrlN``): GET with HTTP Basic auth (account SID + auth token),
  following Twilio's redirect to its storage. Credentials go only to the configured
  Twilio API origin (``twilio_api_base``), never to the host a redirect names.
- ``url:`` (Messenger/Instagram ``payload.url``): a public CDN URL, fetched without token.
- ``whatsapp-media:<id>``: ``GET {graph}/{version}/{id}`` with the Bearer token gives
  ``{url, mime_type, file_size}``; the url is fetched with the same Bearer token.
- ``telegram-file:<file_id>``: ``getFile`` gives ``file_path`` (and ``file_size``); the file
  is ``{api}/file/bot<token>/<file_path>``.

Every redirect is followed by hand (at most ``MAX_REDIRECTS``); a credential goes only
with the first request, never to the host a redirect names. A 404/410 from the provider means the media is
gone (providers keep it for a limited time): ``MediaFailure("expired")``. A declared
size over the limit (Graph/Telegram metadata or ``Content-Length``) is
``MediaFailure("too_large")`` before any byte is read; counting while streaming is the
caller's job (web/routes_media.py).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urljoin, urlsplit

import httpx

from channels.media import RefKind
from channels.send_result import json_or_empty
from hub.untrusted import is_decimal

MAX_REDIRECTS = 5
FailureKind = Literal["too_large", "expired", "provider"]


class MediaFailure(Exception):
    """Why the media cannot be served. ``reason`` is short and never holds a secret."""

    def __init__(self, kind: FailureKind, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True, slots=True)
class MediaAccount:
    provider: str  # twilio | meta | telegram
    account_sid: str = ""
    auth_token: str = ""
    access_token: str = ""


@dataclass(frozen=True, slots=True)
class ProviderBases:
    twilio: str
    graph: str
    graph_version: str
    telegram: str


@dataclass(slots=True)
class Upstream:
    """An open provider response (status 200); the caller must ``aclose`` it."""

    response: httpx.Response
    content_type: str
    length: int | None
    content_encoding: str


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _status_failure(status: int, what: str) -> MediaFailure:
    if status in (404, 410):
        return MediaFailure("expired", f"{what}: the provider no longer has this media")
    if status in (401, 403):
        return MediaFailure("provider", f"{what}: the provider refused our credentials"
                                        f" ({status})")
    return MediaFailure("provider", f"{what}: the provider answered {status}")


async def _get(http: httpx.AsyncClient, url: str, auth: str, what: str) -> httpx.Response:
    """GET with redirects followed by hand; ``auth`` only on the first request (Twilio
    redirects to pre-signed storage URLs, which need none and would refuse a second
    credential). Returns an open streamed 200 response."""
    for hop in range(MAX_REDIRECTS + 1):
        headers = {"Accept-Encoding": "identity"}
        if auth and hop == 0:
            headers["Authorization"] = auth
        resp = await http.send(http.build_request("GET", url, headers=headers), stream=True)
        if resp.status_code in (301, 302, 303, 307, 308):
            location = resp.headers.get("location", "")
            await resp.aclose()
            url = urljoin(url, location)
            if not location or not _http_url(url):
                raise MediaFailure("provider", f"{what}: a redirect without a usable Location")
            continue
        if resp.status_code != 200:
            await resp.aclose()
            raise _status_failure(resp.status_code, what)
        return resp
    raise MediaFailure("provider", f"{what}: more than {MAX_REDIRECTS} redirects")


async def _json(http: httpx.AsyncClient, url: str,
                headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    resp = await http.get(url, headers=headers)
    return resp.status_code, json_or_empty(resp)


async def _whatsapp_url(http: httpx.AsyncClient, media_id: str, account: MediaAccount,
                        bases: ProviderBases, limit: int) -> str:
    what = "WhatsApp media lookup"
    url = f"{bases.graph.rstrip('/')}/{bases.graph_version}/{quote(media_id, safe='')}"
    status, data = await _json(http, url, {"Authorization": f"Bearer {account.access_token}"})
    if status != 200:
        err = data.get("error")
        # Graph answers an unknown or expired media id with 400/404, error code 100.
        if status == 400 and isinstance(err, dict) and err.get("code") == 100:
            raise MediaFailure("expired", f"{what}: the provider no longer has this media")
        raise _status_failure(status, what)
    size = data.get("file_size")
    if isinstance(size, int | str) and is_decimal(str(size)) and int(size) > limit:
        raise MediaFailure("too_large", f"{what}: {size} bytes, over the {limit} byte limit")
    media_url = data.get("url")
    if not isinstance(media_url, str) or not _http_url(media_url):
        raise MediaFailure("provider", f"{what}: no media url in the answer")
    return media_url


async def _telegram_url(http: httpx.AsyncClient, file_id: str, account: MediaAccount,
                        bases: ProviderBases, limit: int) -> str:
    what = "Telegram getFile"
    base = f"{bases.telegram.rstrip('/')}"
    status, data = await _json(
        http, f"{base}/bot{account.access_token}/getFile?file_id={quote(file_id, safe='')}",
        {})
    result = data.get("result")
    if status != 200 or data.get("ok") is not True or not isinstance(result, dict):
        desc = str(data.get("description", ""))[:200]
        if "too big" in desc:  # bots may download at most 20 MB
            raise MediaFailure("too_large", f"{what}: {desc}")
        if status == 400 and "file_id" in desc:  # "invalid file_id", "wrong file_id or ..."
            raise MediaFailure("expired", f"{what}: {desc}")
        raise _status_failure(status, what)
    size = result.get("file_size")
    if isinstance(size, int) and size > limit:
        raise MediaFailure("too_large", f"{what}: {size} bytes, over the {limit} byte limit")
    path = result.get("file_path")
    if not isinstance(path, str) or not path or ".." in path.split("/"):
        raise MediaFailure("provider", f"{what}: no usable file_path in the answer")
    return f"{base}/file/bot{account.access_token}/{quote(path, safe='/')}"


async def open_media(http: httpx.AsyncClient, kind: RefKind, value: str,
                     account: MediaAccount, bases: ProviderBases, limit: int) -> Upstream:
    """Resolve and open. Raises ``MediaFailure``; transport errors propagate as httpx
    errors (the caller maps them to 502)."""
    if kind == "whatsapp-media":
        url = await _whatsapp_url(http, value, account, bases, limit)
        resp = await _get(http, url, f"Bearer {account.access_token}", "WhatsApp media")
    elif kind == "telegram-file":
        url = await _telegram_url(http, value, account, bases, limit)
        resp = await _get(http, url, "", "Telegram file")
    else:
        if not _http_url(value):
            raise MediaFailure("provider", "stored media URL is not http(s)")
        auth = ""
        if account.provider == "twilio" and _origin(value) == _origin(bases.twilio):
            auth = _basic(account.account_sid, account.auth_token)
        resp = await _get(http, value, auth, "media download")
    declared = resp.headers.get("content-length", "")
    length = int(declared) if is_decimal(declared) else None
    if length is not None and length > limit:
        await resp.aclose()
        raise MediaFailure("too_large", f"{length} bytes, over the {limit} byte limit")
    encoding = resp.headers.get("content-encoding", "").strip().lower()
    return Upstream(resp, resp.headers.get("content-type", ""), length,
                    "" if encoding in ("", "identity") else encoding[:40])
