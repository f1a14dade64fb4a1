"""The agent media proxy (web/routes_media.py), end to end: a signed provider webhook
stores a media reference, then an agent downloads the bytes through the hub, which
resolves the reference with the inbox's credentials against a local fake provider over
real HTTP (tests/fixtures/fake_media.py). Real Postgres, Valkey, pipeline and web app.

Covers one download per provider, the size limit (declared at ingest, declared by the
provider's metadata or Content-Length, undeclared and counted, a lying Content-Length),
expiry (404/410 -> 410, marked), provider errors (-> 502), auth and inbox scoping, the
response headers, and the concurrency bound."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
import pytest_asyncio

from hub.config import Settings
from tests.fixtures.fake_media import FakeMediaProviders, Item
from tests.fixtures.fake_providers import (
    Webhooks,
    messenger_event,
    new_sid,
    whatsapp_value,
)
from tests.fixtures.helpers import AGENT, SUPERVISOR, agent_http, eventually, login
from tests.fixtures.media import IG, LIMIT, PAGE, WA, agent, fake, settings, stored
from tests.fixtures.messaging import fake_port, webhooks
from tests.fixtures.ports import refused_port

__all__ = ["agent", "fake", "fake_port", "settings", "webhooks"]  # fixtures

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40  # ~10 KiB "image"


async def attachments(db: asyncpg.Pool, message_id: int) -> list[dict[str, Any]]:
    raw = await db.fetchval("SELECT attachments FROM messages WHERE id = $1", message_id)
    return json.loads(raw)  # type: ignore[no-any-return]


# ---- inbound helpers: one signed webhook per provider ------------------------------


async def twilio_mms(webhooks: Webhooks, fake: FakeMediaProviders, key: str,
                     ctype: str = "image/jpeg") -> str:
    c = webhooks.creds["twilio-sms"]
    sid = new_sid("MM")
    url = f"{fake.base_url}/2010-04-01/Accounts/{c['account_sid']}/Messages/{sid}/Media/{key}"
    params = webhooks.twilio_inbound("twilio-sms", "+14155550100", "photo of the router",
                                     sid=sid, NumMedia="1", MediaUrl0=url,
                                     MediaContentType0=ctype)
    resp = await webhooks.twilio("twilio-sms", params)
    assert resp.status_code == 200, resp.text
    return sid


async def whatsapp_media(webhooks: Webhooks, media_id: str, kind: str = "image",
                         mime: str = "image/jpeg", **extra: Any) -> str:
    wamid = "wamid." + new_sid("")
    resp = await webhooks.meta(whatsapp_value(WA, contacts=[
        {"profile": {"name": "Sheena"}, "wa_id": "16505551234"}], messages=[{
            "from": "16505551234", "id": wamid, "timestamp": "1749416383", "type": kind,
            kind: {"id": media_id, "mime_type": mime, **extra}}]))
    assert resp.status_code == 200, resp.text
    return wamid


async def messenger_media(webhooks: Webhooks, url: str, kind: str = "image",
                          obj: str = "page") -> str:
    """A Messenger (``page``) or Instagram (``instagram``) message with one attachment."""
    mid = "m_" + new_sid("")
    payload = messenger_event(PAGE if obj == "page" else IG, "PSID1", mid, "", attachments=[
        {"type": kind, "payload": {"url": url}}])
    payload["object"] = obj
    resp = await webhooks.meta(payload)
    assert resp.status_code == 200, resp.text
    return mid


async def telegram_photo(webhooks: Webhooks, file_id: str, size: int | None = None,
                         update_id: int = 50001) -> str:
    photo: dict[str, Any] = {"file_id": file_id, "file_unique_id": "u" + file_id,
                             "width": 800, "height": 600}
    if size is not None:
        photo["file_size"] = size
    user = {"id": 1111111, "first_name": "Test", "is_bot": False}
    resp = await webhooks.telegram("telegram", {"update_id": update_id, "message": {
        "message_id": 7, "date": 1441645532, "chat": {"id": 1111111, "type": "private"},
        "from": user, "caption": "look", "photo": [photo]}})
    assert resp.status_code == 200, resp.text
    return f"update:{update_id}"


def assert_safe_headers(resp: httpx.Response) -> None:
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["content-security-policy"].startswith("sandbox")
    assert resp.headers["cache-control"].startswith("private")


# ---- one download per provider --------------------------------------------------


async def test_twilio_media_with_basic_auth_through_the_storage_redirect(
        hub, db, fake, webhooks, agent):
    fake.media["ME1"] = Item(JPEG, "image/jpeg")
    mid, atts = await stored(db, await twilio_mms(webhooks, fake, "ME1"))
    assert "state" not in atts[0] and atts[0]["filename"] == "media0.jpg"  # available
    resp = await agent.get(f"/api/v1/messages/{mid}/attachments/0")
    assert resp.status_code == 200 and resp.content == JPEG
    assert resp.headers["content-type"] == "image/jpeg"
    assert resp.headers["content-disposition"].startswith('inline; filename="media0.jpg"')
    assert_safe_headers(resp)
    [first] = fake.hits_for("twilio")
    assert first.headers["authorization"].startswith("Basic ")
    # The redirect hop got no credentials (at Twilio it is a pre-signed storage URL).
    [storage] = fake.hits_for("storage")
    assert "authorization" not in storage.headers


async def test_whatsapp_cloud_media_via_graph_lookup(hub, db, fake, webhooks, agent):
    audio = b"OggS" + b"\x01" * 5000
    fake.media["MEDIA77"] = Item(audio, "audio/ogg")
    mid, atts = await stored(db, await whatsapp_media(webhooks, "MEDIA77", "audio",
                                                      "audio/ogg; codecs=opus"))
    assert atts[0]["ref"] == "whatsapp-media:MEDIA77"
    resp = await agent.get(f"/api/v1/messages/{mid}/attachments/0")
    assert resp.status_code == 200 and resp.content == audio
    assert resp.headers["content-type"] == "audio/ogg"
    token = webhooks.creds["whatsapp"]["access_token"]
    assert [h.headers["authorization"] for h in fake.hits if h.key == "MEDIA77"] == [
        f"Bearer {token}", f"Bearer {token}"]  # the Graph lookup, then the media URL


@pytest.mark.parametrize("obj", ["page", "instagram"])
async def test_messenger_and_instagram_media_from_the_public_cdn_without_token(
        hub, db, fake, webhooks, agent, obj):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 3000
    fake.media["cdn1"] = Item(png, "image/png")
    mid, atts = await stored(db, await messenger_media(
        webhooks, f"{fake.base_url}/cdn/cdn1", obj=obj))
    channel = await db.fetchval("SELECT channel FROM messages WHERE id = $1", mid)
    assert channel == ("messenger" if obj == "page" else "instagram")
    assert atts[0]["content_type"] == "image/*"
    resp = await agent.get(f"/api/v1/messages/{mid}/attachments/0")
    assert resp.status_code == 200 and resp.content == png
    assert resp.headers["content-type"] == "image/png"  # the CDN's type wins over "image/*"
    [hit] = fake.hits_for("cdn")
    assert "authorization" not in hit.headers


async def test_telegram_file_via_get_file(hub, db, fake, webhooks, agent):
    fake.media["AgADphoto"] = Item(JPEG, "image/jpeg")
    mid, atts = await stored(db, await telegram_photo(webhooks, "AgADphoto", len(JPEG)))
    assert atts[0]["ref"] == "telegram-file:AgADphoto"
    resp = await agent.get(f"/api/v1/messages/{mid}/attachments/0")
    assert resp.status_code == 200 and resp.content == JPEG
    assert [h.route for h in fake.hits] == ["getFile", "tg-file"]


# ---- the size limit --------------------------------------------------------------


async def test_declared_over_limit_at_ingest_is_stored_flagged_and_never_fetched(
        hub, db, fake, webhooks, agent):
    fake.media["BIG"] = Item(JPEG)
    tg_id, tg = await stored(db, await telegram_photo(webhooks, "BIG", LIMIT + 1))
    wa_id, wa = await stored(db, await whatsapp_media(
        webhooks, "BIGWA", "video", "video/mp4", file_size=LIMIT * 3))
    for mid, atts in ((tg_id, tg), (wa_id, wa)):
        assert atts[0]["state"] == "too_large"
        resp = await agent.get(f"/api/v1/messages/{mid}/attachments/0")
        assert resp.status_code == 413 and resp.json()["error"] == "media_too_large"
    assert fake.hits == []


async def test_size_declared_by_provider_metadata_or_content_length(
        hub, db, fake, webhooks, agent):
    # Graph says file_size over the limit: refused before the media URL is touched.
    fake.media["WAHUGE"] = Item(b"x" * 10, "video/mp4", declared_size=LIMIT + 10)
    wa_id, _ = await stored(db, await whatsapp_media(webhooks, "WAHUGE", "video", "video/mp4"))
    resp = await agent.get(f"/api/v1/messages/{wa_id}/attachments/0")
    assert resp.status_code == 413 and resp.json()["error"] == "media_too_large"
    assert fake.hits_for("wa-cdn") == []
    assert (await attachments(db, wa_id))[0]["state"] == "too_large"

    # Twilio declares nothing at ingest; the storage's Content-Length is over the limit.
    fake.media["MEBIG"] = Item(b"y" * (LIMIT + 1), "video/mp4")
    tw_id, _ = await stored(db, await twilio_mms(webhooks, fake, "MEBIG", "video/mp4"))
    resp = await agent.get(f"/api/v1/messages/{tw_id}/attachments/0")
    assert resp.status_code == 413 and resp.json()["error"] == "media_too_large"
    assert (await attachments(db, tw_id))[0]["state"] == "too_large"
    # Marked: the next request does not go to the provider at all.
    before = len(fake.hits)
    again = await agent.get(f"/api/v1/messages/{tw_id}/attachments/0")
    assert again.status_code == 413 and len(fake.hits) == before


async def test_undeclared_size_is_counted_while_streaming(hub, db, fake, webhooks, agent):
    # Chunked, no Content-Length, over the limit: the download is cut before the limit
    # is passed on, and the attachment is marked too_large.
    fake.media["cdnbig"] = Item(b"z" * (LIMIT * 3), "video/mp4", chunked=True)
    mid, _ = await stored(db, await messenger_media(
        webhooks, f"{fake.base_url}/cdn/cdnbig", "video"))
    received = 0
    with pytest.raises(httpx.HTTPError):
        async with agent.stream("GET", f"/api/v1/messages/{mid}/attachments/0") as resp:
            assert resp.status_code == 200
            async for chunk in resp.aiter_bytes():
                received += len(chunk)
    assert received <= LIMIT
    assert (await eventually(lambda: _state(db, mid))) == "too_large"
    resp = await agent.get(f"/api/v1/messages/{mid}/attachments/0")
    assert resp.status_code == 413 and resp.json()["error"] == "media_too_large"

    # Within the limit and chunked: every byte arrives.
    body = b"q" * (LIMIT - 5)
    fake.media["cdnok"] = Item(body, "video/mp4", chunked=True)
    ok_id, _ = await stored(db, await messenger_media(
        webhooks, f"{fake.base_url}/cdn/cdnok", "video"))
    resp = await agent.get(f"/api/v1/messages/{ok_id}/attachments/0")
    assert resp.status_code == 200 and resp.content == body


async def _state(db: asyncpg.Pool, mid: int) -> str | None:
    state: str | None = (await attachments(db, mid))[0].get("state")
    return state


@contextlib.asynccontextmanager
async def raw_http_server(answer: bytes) -> AsyncIterator[str]:
    """A provider that writes ``answer`` verbatim (framing lies included), then closes."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def test_a_lying_content_length_never_passes_more_than_it_declared(
        hub, db, webhooks, agent, fake):
    # Declares 100 bytes, sends 3x the limit: the HTTP framing stops at 100.
    lie = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100\r\n\r\n"
    async with raw_http_server(lie + b"A" * (LIMIT * 3)) as base:
        mid, _ = await stored(db, await messenger_media(webhooks, f"{base}/x.png"))
        resp = await agent.get(f"/api/v1/messages/{mid}/attachments/0")
    assert resp.status_code == 200 and resp.content == b"A" * 100

    # Declares more than it sends and hangs up: a provider error, not a short file.
    short = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 5000\r\n\r\n"
    async with raw_http_server(short + b"B" * 10) as base:
        mid, _ = await stored(db, await messenger_media(webhooks, f"{base}/y.png"))
        resp = await agent.get(f"/api/v1/messages/{mid}/attachments/0")
    assert resp.status_code == 502 and resp.json()["error"] == "media_provider_error"
    assert "state" not in (await attachments(db, mid))[0]


# ---- provider errors -------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 410])
async def test_expired_media_is_410_and_marked(hub, db, fake, webhooks, agent, status):
    fake.media["gone"] = Item(b"", status=status)
    mid, _ = await stored(db, await messenger_media(webhooks, f"{fake.base_url}/cdn/gone"))
    resp = await agent.get(f"/api/v1/messages/{mid}/attachments/0")
    assert resp.status_code == 410 and resp.json()["error"] == "media_expired"
    assert (await attachments(db, mid))[0]["state"] == "expired"
    before = len(fake.hits)
    assert (await agent.get(f"/api/v1/messages/{mid}/attachments/0")).status_code == 410
    assert len(fake.hits) == before


async def test_whatsapp_media_id_unknown_to_graph_is_expired(hub, db, fake, webhooks, agent):
    mid, _ = await stored(db, await whatsapp_media(webhooks, "NOSUCHMEDIA"))
    resp = await agent.get(f"/api/v1/messages/{mid}/attachments/0")
    assert resp.status_code == 410 and resp.json()["error"] == "media_expired"


async def test_provider_errors_are_502_with_a_short_reason(hub, db, fake, webhooks, agent):
    fake.media["boom"] = Item(b"", status=500)
    mid, _ = await stored(db, await twilio_mms(webhooks, fake, "boom"))
    resp = await agent.get(f"/api/v1/messages/{mid}/attachments/0")
    assert resp.status_code == 502
    body = resp.json()
    assert body["error"] == "media_provider_error" and "500" in body["reason"]
    assert "Traceback" not in resp.text and webhooks.creds["twilio-sms"]["auth_token"] \
        not in resp.text
    assert "state" not in (await attachments(db, mid))[0]  # available: may work later

    # A provider that is not listening at all.
    with refused_port() as dead:
        mid, _ = await stored(db, await messenger_media(
            webhooks, f"http://127.0.0.1:{dead}/nothing"))
        resp = await agent.get(f"/api/v1/messages/{mid}/attachments/0")
    assert resp.status_code == 502 and resp.json()["error"] == "media_provider_error"

    # Telegram refusing our bot token (revoked at the provider): 502, not expired.
    fake.media["AgADx"] = Item(JPEG)
    mid, _ = await stored(db, await telegram_photo(webhooks, "AgADx", 10, update_id=50002))
    fake.creds["telegram"] = {**fake.creds["telegram"], "access_token": "1:revoked"}
    resp = await agent.get(f"/api/v1/messages/{mid}/attachments/0")
    assert resp.status_code == 502 and "credentials" in resp.json()["reason"]
    assert "state" not in (await attachments(db, mid))[0]


# ---- auth, scoping, headers ------------------------------------------------------


async def test_auth_inbox_scope_and_indexes(hub, db, fake, webhooks, agent):
    fake.media["ME9"] = Item(JPEG)
    mid, _ = await stored(db, await twilio_mms(webhooks, fake, "ME9"))
    url = f"/api/v1/messages/{mid}/attachments/0"
    async with agent_http(hub.base_url, "not-a-session") as anonymous:
        resp = await anonymous.get(url)
        assert resp.status_code == 401 and resp.json()["error"]
    for bad in (f"/api/v1/messages/{mid}/attachments/1",
                f"/api/v1/messages/{mid + 10_000}/attachments/0"):
        resp = await agent.get(bad)
        assert resp.status_code == 404 and resp.json()["error"] == "not_found", bad
    assert (await agent.get(f"/api/v1/messages/{mid}/attachments/-1")).status_code == 404
    # Take agent1 out of the SMS inbox: the same URL is now refused, nothing fetched.
    await db.execute("DELETE FROM agent_inboxes WHERE inbox = 'twilio-sms' AND agent_id ="
                     " (SELECT id FROM agents WHERE email = $1)", AGENT[0])
    resp = await agent.get(url)
    assert resp.status_code == 403 and resp.json()["error"] == "forbidden"
    assert fake.hits == []
    # A supervisor sees every inbox.
    async with agent_http(hub.base_url, await login(hub.base_url, SUPERVISOR)) as sup:
        resp = await sup.get(url)
        assert resp.status_code == 200 and resp.content == JPEG


@pytest.mark.parametrize(("ctype", "name"), [
    ("text/html", "page.html"), ("image/svg+xml", "logo.svg"),
    ("application/pdf", "bill.pdf")])
async def test_active_and_document_types_are_downloads_never_inline(
        hub, db, fake, webhooks, agent, ctype, name):
    body = b"<svg onload=alert(1)></svg>" if "svg" in ctype else b"<script>x</script>"
    fake.media["DOC1"] = Item(body, ctype)
    mid, _ = await stored(db, await whatsapp_media(webhooks, "DOC1", "document", ctype,
                                                   filename=name))
    resp = await agent.get(f"/api/v1/messages/{mid}/attachments/0")
    assert resp.status_code == 200 and resp.content == body
    assert resp.headers["content-disposition"].startswith(f'attachment; filename="{name}"')
    assert resp.headers["content-type"] == (
        "application/pdf" if ctype == "application/pdf" else "application/octet-stream")
    assert_safe_headers(resp)


# ---- bounded concurrency ---------------------------------------------------------


class TestOneSlot:
    @pytest_asyncio.fixture(name="settings")
    async def _one_slot(self, settings: Settings) -> Settings:
        return msgspec.structs.replace(settings, media_max_concurrent=1,
                                       media_queue_wait_s=0.3)

    async def test_a_slow_provider_holds_one_slot_and_others_get_503(
            self, hub, db, fake, webhooks, agent):
        gate = asyncio.Event()
        slow = b"s" * (90 * 1024)  # the last piece waits for the gate
        fake.media["slow"] = Item(slow, "video/mp4", gate=gate)
        fake.media["fast"] = Item(JPEG, "image/png")
        slow_id, _ = await stored(db, await messenger_media(
            webhooks, f"{fake.base_url}/cdn/slow", "video"))
        fast_id, _ = await stored(db, await messenger_media(
            webhooks, f"{fake.base_url}/cdn/fast"))
        async with agent.stream("GET", f"/api/v1/messages/{slow_id}/attachments/0") as held:
            assert held.status_code == 200
            busy = await agent.get(f"/api/v1/messages/{fast_id}/attachments/0")
            assert busy.status_code == 503 and busy.json()["error"] == "media_busy"
            gate.set()
            assert await held.aread() == slow
        ok = await agent.get(f"/api/v1/messages/{fast_id}/attachments/0")
        assert ok.status_code == 200 and ok.content == JPEG

    async def test_an_agent_who_hangs_up_frees_the_slot(self, hub, db, fake, webhooks):
        gate = asyncio.Event()
        fake.media["slow2"] = Item(b"s" * (90 * 1024), "video/mp4", gate=gate)
        fake.media["fast2"] = Item(JPEG, "image/png")
        slow_id, _ = await stored(db, await messenger_media(
            webhooks, f"{fake.base_url}/cdn/slow2", "video"))
        fast_id, _ = await stored(db, await messenger_media(
            webhooks, f"{fake.base_url}/cdn/fast2"))
        cookie = await login(hub.base_url, AGENT)
        async with agent_http(hub.base_url, cookie) as quitter:
            async with quitter.stream("GET", f"/api/v1/messages/{slow_id}/attachments/0"
                                      ) as held:
                assert held.status_code == 200
        # The agent's connection is gone; the provider is still stuck. The slot frees.
        async with agent_http(hub.base_url, cookie) as other:
            async def fast_ok() -> bool:
                r = await other.get(f"/api/v1/messages/{fast_id}/attachments/0")
                return r.status_code == 200
            assert await eventually(fast_ok)
        gate.set()


class TestTimeouts:
    @pytest_asyncio.fixture(name="settings")
    async def _short_timeouts(self, settings: Settings) -> Settings:
        return msgspec.structs.replace(settings, media_read_timeout_s=0.5,
                                       media_max_concurrent=1)

    async def test_a_provider_that_stalls_is_a_502_and_frees_its_slot(
            self, hub, db, fake, webhooks, agent):
        gate = asyncio.Event()  # never opened: headers sent, then no byte
        fake.media["stall"] = Item(b"x" * 100, "image/png", gate=gate)
        fake.media["fine"] = Item(JPEG, "image/png")
        stall_id, _ = await stored(db, await messenger_media(
            webhooks, f"{fake.base_url}/cdn/stall"))
        fine_id, _ = await stored(db, await messenger_media(
            webhooks, f"{fake.base_url}/cdn/fine"))
        resp = await agent.get(f"/api/v1/messages/{stall_id}/attachments/0")
        assert resp.status_code == 502 and resp.json() == {
            "error": "media_provider_error", "reason": "the provider timed out"}
        assert "state" not in (await attachments(db, stall_id))[0]
        # The one slot is free again.
        ok = await agent.get(f"/api/v1/messages/{fine_id}/attachments/0")
        assert ok.status_code == 200 and ok.content == JPEG
        gate.set()
