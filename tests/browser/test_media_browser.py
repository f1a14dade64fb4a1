"""Messaging media in the agent inbox, in Debian's chromium (Playwright): a WhatsApp
customer sends an image, a PDF, a voice note, a video declared over the size limit and
an image the provider no longer has. The inbox shows the image inline (decoded, through
the hub's media proxy from the fake provider), the PDF as a download link with its name
and type, the voice note with native controls, and labels instead of broken media for
the too-large and the expired items. Skips locally without chromium; fails in CI."""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import pytest

from tests.fixtures.browser import ARTIFACTS, PageErrors, login_agent
from tests.fixtures.fake_media import Item
from tests.fixtures.media import LIMIT, WA, agent, fake, settings, stored
from tests.fixtures.messaging import fake_port, webhooks

__all__ = ["agent", "fake", "fake_port", "settings", "webhooks"]  # fixtures

pytestmark = [pytest.mark.browser]


def tiny_png(w: int = 40, h: int = 30) -> bytes:
    raw = b"".join(b"\x00" + bytes([200, 30, 30]) * w for _ in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def wa_message(wamid: str, kind: str, media: dict[str, Any]) -> dict[str, Any]:
    return {"from": "16505550177", "id": wamid, "timestamp": "1749416383", "type": kind,
            kind: media}


async def test_whatsapp_media_renders_in_the_inbox(browser, hub, db, fake, webhooks):
    from playwright.async_api import expect

    from tests.fixtures.fake_providers import whatsapp_value

    png = tiny_png()
    fake.media["IMG1"] = Item(png, "image/png")
    fake.media["PDF1"] = Item(b"%PDF-1.4\n%%EOF\n", "application/pdf")
    fake.media["VOICE1"] = Item(b"OggS" + b"\x00" * 200, "audio/ogg")
    messages = [
        wa_message("wamid.B1", "image", {"id": "IMG1", "mime_type": "image/png",
                                         "caption": "router lights"}),
        wa_message("wamid.B2", "document", {"id": "PDF1", "mime_type": "application/pdf",
                                            "filename": "invoice-2291.pdf"}),
        wa_message("wamid.B3", "audio", {"id": "VOICE1", "mime_type": "audio/ogg"}),
        wa_message("wamid.B4", "video", {"id": "HUGE1", "mime_type": "video/mp4",
                                         "file_size": LIMIT * 5}),
        wa_message("wamid.B5", "image", {"id": "GONE1", "mime_type": "image/jpeg"}),
    ]
    resp = await webhooks.meta(whatsapp_value(WA, contacts=[
        {"profile": {"name": "Nora Media"}, "wa_id": "16505550177"}], messages=messages))
    assert resp.status_code == 200, resp.text
    ids = {}
    for m in messages:
        ids[m["id"]], _ = await stored(db, m["id"])
    conv = await db.fetchval("SELECT conversation_id FROM messages WHERE id = $1",
                             ids["wamid.B1"])

    errors = PageErrors()
    ctx, page = await login_agent(browser, hub.base_url, errors)
    await page.get_by_test_id("tab-all").click()
    await page.locator(f"[data-testid=conv-item][data-conversation-id='{conv}']").click()

    def row(wamid: str) -> Any:
        return page.locator(f"[data-testid=message][data-message-id='{ids[wamid]}']")

    # The image: inline, through the proxy, actually decoded by the browser.
    img = row("wamid.B1").locator("[data-testid=media-image] img")
    await expect(img).to_have_attribute("src", f"/api/v1/messages/{ids['wamid.B1']}/attachments/0")
    await expect(img).to_have_attribute("loading", "lazy")
    await img.scroll_into_view_if_needed()
    await page.wait_for_function("(el) => el.complete && el.naturalWidth === 40",
                                 arg=await img.element_handle())
    await expect(row("wamid.B1")).to_contain_text("router lights")

    # The PDF: a download link with its name and type.
    pdf = row("wamid.B2").get_by_test_id("media-file")
    await expect(pdf).to_contain_text("invoice-2291.pdf")
    await expect(pdf).to_contain_text("application/pdf")
    await expect(pdf).to_have_attribute("href", f"/api/v1/messages/{ids['wamid.B2']}/attachments/0")

    # The voice note: native controls, nothing fetched until the agent presses play.
    audio = row("wamid.B3").locator("[data-testid=media-audio] audio")
    await expect(audio).to_have_attribute("controls", "")
    await expect(audio).to_have_attribute("preload", "none")

    # Declared over the limit at ingest: a label, never requested.
    huge = row("wamid.B4").get_by_test_id("media-unavailable")
    await expect(huge).to_have_attribute("data-state", "too_large")
    await expect(huge).to_contain_text("too large")
    assert not fake.hits_for("graph") or all(h.key != "HUGE1" for h in fake.hits)

    # Gone at the provider: the image fails, the inbox asks the proxy why, shows a label.
    gone = row("wamid.B5").get_by_test_id("media-unavailable")
    await expect(gone).to_have_attribute("data-state", "expired")
    await expect(row("wamid.B5").locator("img")).to_have_count(0)
    atts = json.loads(await db.fetchval("SELECT attachments FROM messages WHERE id = $1",
                                        ids["wamid.B5"]))
    assert atts[0]["state"] == "expired"

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "inbox-media.png"))
    await ctx.close()
    # The only console errors: the expired image's own 410s.
    assert [e for e in errors.errors if "Failed to load resource" not in e] == []
