"""The agent media proxy: an inbound WhatsApp/SMS/Messenger/Instagram/Telegram attachment
is fetched from its provider at request time and streamed to the agent. The hub stores
only the reference (channels/media.py); nothing is copied into Postgres or cached.

Served at the email download URL, ``GET /api/v1/messages/{id}/attachments/{n}``
(web/routes_email.py hands provider refs here after the same session, role and inbox
checks), so the inbox has one URL shape for every attachment.

- **Size**: ``Settings.media_max_bytes``. A declared size (Graph/Telegram metadata or
  ``Content-Length``) over it is refused before a byte is read; otherwise bytes are
  counted while streaming. The first ``PREBUFFER`` bytes are read before answering, so
  small limits (and small over-limit files) always give a clean 413
  ``media_too_large``; past that the download is cut (the agent's client sees a
  truncated response, never a "complete" file). Either way the attachment is marked
  ``too_large`` and later requests get 413 without contacting the provider.
- **Errors**: provider 404/410 → 410 ``media_expired`` (marked ``expired``); other
  provider answers, timeouts, transport errors → 502 ``media_provider_error`` with a
  short reason; every one JSON, no stack trace, no credential.
- **Bounds**: at most ``media_max_concurrent`` downloads per process (more wait up to
  ``media_queue_wait_s``, then 503 ``media_busy``), httpx connect/read timeouts, and a
  total time per download.
- ``HEAD`` resolves and checks the item (413/410/502 as for GET) without streaming it;
  the inbox asks this way why an image failed to load.
- **Safety**: ``nosniff``, ``Content-Security-Policy: sandbox``, ``Cache-Control: private``;
  only allow-listed image/audio/video types are served inline (so ``<img>``/``<audio>``/
  ``<video>`` work); anything else is an ``attachment`` with an inert type (HTML and SVG
  are never rendered on our origin).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from channels.media import parse_ref
from channels.media_fetch import MediaAccount, MediaFailure, ProviderBases, Upstream, open_media
from hub.errors import BadGateway, Gone, Overloaded, TooLarge
from hub.messaging.store import attachments as attachments_store
from hub.schema import AttachmentRef, AttachmentState
from web.download_headers import content_disposition, safe_content_type
from web.messaging_accounts import directory
from web.state import HubState

log = logging.getLogger("omnihub.media")

PREBUFFER = 64 * 1024
# Types a browser shows in <img>/<audio>/<video> without running anything. No SVG (it can
# hold script), no HTML/XML of any kind.
INLINE_TYPES = frozenset({
    "image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/avif",
    "audio/ogg", "audio/mpeg", "audio/mp4", "audio/aac", "audio/amr", "audio/wav",
    "audio/webm", "audio/x-m4a", "audio/opus",
    "video/mp4", "video/3gpp", "video/webm", "video/ogg", "video/quicktime",
})
_GENERIC = {"", "application/octet-stream", "binary/octet-stream", "application/binary"}


class _Abort(Exception):
    """Stop a download that already started (over the limit or over time)."""


def media_client(app: Starlette, state: HubState) -> httpx.AsyncClient:
    """The app's provider client, created on first use and closed by ``close_media``."""
    client: httpx.AsyncClient | None = getattr(app.state, "media_http", None)
    if client is None:
        s = state.settings
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(connect=s.media_connect_timeout_s,
                                  read=s.media_read_timeout_s, write=10.0, pool=5.0),
            limits=httpx.Limits(max_connections=s.media_max_concurrent * 2),
            follow_redirects=False, trust_env=False)
        app.state.media_http = client
    return client


async def close_media(app: Starlette) -> None:
    client: httpx.AsyncClient | None = getattr(app.state, "media_http", None)
    if client is not None:
        app.state.media_http = None
        await client.aclose()


def _slots(app: Starlette, state: HubState) -> asyncio.Semaphore:
    sem: asyncio.Semaphore | None = getattr(app.state, "media_slots", None)
    if sem is None:
        sem = asyncio.Semaphore(max(1, state.settings.media_max_concurrent))
        app.state.media_slots = sem
    return sem


async def mark_attachment(state: HubState, message_id: int, index: int,
                          value: AttachmentState) -> None:
    """Record what the provider told us, so the inbox labels it and nobody refetches."""
    await attachments_store.mark_attachment_state(state.pool, message_id, index, value)


def _too_large(limit: int, detail: str = "") -> TooLarge:
    reason = f"this attachment is over the {limit} byte media limit"
    return TooLarge(f"{reason} ({detail})" if detail else reason, code="media_too_large")


def _expired() -> Gone:
    return Gone("the provider no longer keeps this media", code="media_expired")


def _served_type(upstream_type: str, declared: str) -> tuple[str, bool]:
    """(Content-Type to send, inline?). The provider's answer wins over what the webhook
    declared, unless it is a generic octet-stream."""
    up = upstream_type.split(";", 1)[0].strip().lower()
    ctype = up if up not in _GENERIC else declared.split(";", 1)[0].strip().lower()
    if ctype in INLINE_TYPES:
        return ctype, True
    return safe_content_type(ctype or "application/octet-stream"), False


def _disposition(ref: AttachmentRef, index: int, inline: bool) -> str:
    value = content_disposition(ref.filename, f"attachment-{index}")
    return value.replace("attachment;", "inline;", 1) if inline else value


class MediaStream(StreamingResponse):
    """Streams an open upstream; always closes it and frees the slot, however it ends."""

    def __init__(self, body: AsyncIterator[bytes], headers: dict[str, str],
                 upstream: Upstream, release: Callable[[], None]) -> None:
        super().__init__(body, headers=headers)
        self._upstream = upstream
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except (_Abort, httpx.HTTPError) as exc:
            # The response has started: returning without the final body message makes
            # the server drop the connection, so the agent sees a cut download.
            log.warning("media download cut: %s", type(exc).__name__)
        finally:
            await self._upstream.response.aclose()
            self._release()


async def proxy_attachment(request: Request, state: HubState, message_id: int, index: int,
                           ref: AttachmentRef) -> StreamingResponse:
    """The caller has checked the session, the role and the inbox membership."""
    parsed = parse_ref(ref.ref)
    assert parsed is not None
    limit = state.settings.media_max_bytes
    if ref.state == "too_large" or (ref.size and ref.size > limit):
        raise _too_large(limit)
    if ref.state == "expired":
        raise _expired()
    inbox = await attachments_store.message_channel_account(state.pool, message_id)
    account = await directory(request).by_inbox(inbox or "")
    if account is None:
        raise BadGateway("no provider account is configured for this inbox",
                         code="media_provider_error")
    slots = _slots(request.app, state)
    try:
        await asyncio.wait_for(slots.acquire(), state.settings.media_queue_wait_s)
    except TimeoutError:
        raise Overloaded("too many media downloads in progress; retry shortly",
                         code="media_busy") from None
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            slots.release()

    s = state.settings
    bases = ProviderBases(s.twilio_api_base, s.meta_graph_base, s.meta_graph_version,
                          s.telegram_api_base)
    creds = MediaAccount(account.provider, account.account_sid, account.auth_token,
                         account.access_token)
    deadline = time.monotonic() + s.media_total_timeout_s
    upstream: Upstream | None = None
    try:
        async with asyncio.timeout(s.media_total_timeout_s):
            upstream = await open_media(media_client(request.app, state), parsed[0],
                                        parsed[1], creds, bases, limit)
            chunks = upstream.response.aiter_raw()
            head: list[bytes] = []
            count, done = 0, request.method == "HEAD"  # HEAD: the status, no bytes
            while count < PREBUFFER and not done:
                chunk = await anext(chunks, None)
                if chunk is None:
                    done = True
                    break
                count += len(chunk)
                head.append(chunk)
                if count > limit:
                    raise MediaFailure("too_large", f"more than {limit} bytes")
    except MediaFailure as failure:
        release()
        if upstream is not None:
            await upstream.response.aclose()
        if failure.kind == "too_large":
            await mark_attachment(state, message_id, index, "too_large")
            raise _too_large(limit, failure.reason) from None
        if failure.kind == "expired":
            await mark_attachment(state, message_id, index, "expired")
            raise _expired() from None
        raise BadGateway(failure.reason, code="media_provider_error") from None
    except (httpx.HTTPError, TimeoutError) as exc:
        release()
        if upstream is not None:
            await upstream.response.aclose()
        what = "timed out" if isinstance(exc, httpx.TimeoutException | TimeoutError) else (
            f"failed ({type(exc).__name__})")
        raise BadGateway(f"the provider {what}", code="media_provider_error") from None
    except BaseException:
        release()
        if upstream is not None:
            await upstream.response.aclose()
        raise

    async def body() -> AsyncIterator[bytes]:
        total = count
        for c in head:
            yield c
        if done:
            return
        async for c in chunks:
            total += len(c)
            if total > limit:
                await mark_attachment(state, message_id, index, "too_large")
                raise _Abort()
            if time.monotonic() > deadline:
                raise _Abort()
            yield c

    ctype, inline = _served_type(upstream.content_type, ref.content_type)
    headers = {
        "Content-Type": ctype,
        "Content-Disposition": _disposition(ref, index, inline),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "Cache-Control": "private, max-age=300",
        "Referrer-Policy": "no-referrer",
    }
    if done and request.method != "HEAD":
        headers["Content-Length"] = str(count)
    elif upstream.length is not None:
        headers["Content-Length"] = str(upstream.length)
    if upstream.content_encoding:
        headers["Content-Encoding"] = upstream.content_encoding
    return MediaStream(body(), headers, upstream, release)
