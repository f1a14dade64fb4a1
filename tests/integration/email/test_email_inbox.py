"""Email in the agent inbox: authenticated downloads of the raw message and attachments
from the blob store (roles, inbox membership, safe headers, no traversal), and in
Chromium the trimmed text with its quoted-part toggle, the HTML only in a sandboxed
srcdoc frame with remote images blocked until "Load images", and the subject."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import asyncpg
import msgspec
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from channels.email.ingest_sink import FileBlobStore, RedisMailSink
from channels.email.smtp_receiver import IngestHandler, RecipientMap, SmtpReceiver
from hub.config import Settings
from tests.fixtures.browser import ARTIFACTS, PageErrors, login_agent
from tests.fixtures.helpers import AGENT, agent_http, eventually, login

RECIPIENTS = {"support@shop.test": "mail", "@billing.shop.test": "mail-billing"}
PDF = b"%PDF-1.4\n% a tiny test file\n"
EVIL_HTML = b"<script>alert(document.cookie)</script>"


@pytest_asyncio.fixture
async def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The web app reads the same blob directory the mail adapter writes."""
    return msgspec.structs.replace(settings, mail_blob_dir=str(tmp_path / "blobs"))


@pytest_asyncio.fixture
async def smtp(hub: Any, db: asyncpg.Pool, redis: aioredis.Redis,
               settings: Settings) -> AsyncIterator[SmtpReceiver]:
    await db.execute(  # 'mail-billing' has no members: agents may not read it
        "INSERT INTO inboxes (slug, name, channel, default_queue) VALUES"
        " ('mail', 'Support mail', 'email', 'support'),"
        " ('mail-billing', 'Billing mail', 'email', 'sales') ON CONFLICT (slug) DO NOTHING")
    sink = RedisMailSink(redis, settings.ingest_stream, FileBlobStore(settings.mail_blob_dir))
    async with SmtpReceiver(IngestHandler(sink, RecipientMap(RECIPIENTS)), "127.0.0.1", 0,
                            max_message_bytes=1 << 20) as receiver:
        yield receiver


def rich_mail(message_id: str = "<rich@customer.test>",
              image_url: str = "https://images.example/pixel.png") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Anna Kunde <anna@customer.test>"
    msg["To"] = "support@shop.test"
    msg["Subject"] = "Re: Router blinks red"
    msg["Message-ID"] = message_id
    msg.set_content("Still blinking after the restart.\n\nAnna\n\n"
                    "On Mon, 3 Feb 2025 at 10:00, Support <support@shop.test> wrote:\n"
                    "> Please restart the router.\n> Kind regards\n")
    msg.add_alternative(
        "<p>Still <b>blinking</b> after the restart.</p>"
        f"<img src=\"{image_url}\" alt=\"tracker\">"
        "<script>parent.document.title='pwned'</script>"
        "<blockquote>Please restart the router.</blockquote>", subtype="html")
    msg.add_attachment(PDF, maintype="application", subtype="pdf",
                       filename="Rechnung März.pdf")
    msg.add_attachment(EVIL_HTML, maintype="text", subtype="html", filename="../../evil.html")
    return msg


async def deliver(smtp: SmtpReceiver, msg: EmailMessage, to: str = "support@shop.test") -> None:
    await aiosmtplib.send(msg, sender="anna@customer.test", recipients=[to],
                          hostname="127.0.0.1", port=smtp.port, timeout=10)


async def message_row(db: asyncpg.Pool, provider_id: str) -> asyncpg.Record:
    async def row() -> asyncpg.Record | None:
        return await db.fetchrow("SELECT id, conversation_id, raw_ref, attachments FROM messages"
                                 " WHERE provider_id = $1", provider_id)
    result: asyncpg.Record = await eventually(row)
    return result


async def test_downloads_are_authenticated_scoped_and_safe(smtp, hub, db, settings):
    msg = rich_mail()
    await deliver(smtp, msg)
    row = await message_row(db, "<rich@customer.test>")
    mid = row["id"]
    async with agent_http(hub.base_url, await login(hub.base_url, AGENT)) as client:
        raw = await client.get(f"/api/v1/messages/{mid}/raw")
        assert raw.status_code == 200 and raw.headers["content-type"] == "message/rfc822"
        assert raw.headers["content-disposition"].startswith("attachment;")
        assert b"Still blinking after the restart." in raw.content
        assert raw.content == FileBlobStore(settings.mail_blob_dir).get(row["raw_ref"])

        pdf = await client.get(f"/api/v1/messages/{mid}/attachments/0")
        assert pdf.status_code == 200 and pdf.content == PDF
        assert pdf.headers["content-type"] == "application/pdf"
        assert "filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf" in pdf.headers["content-disposition"]
        assert pdf.headers["x-content-type-options"] == "nosniff"

        html = await client.get(f"/api/v1/messages/{mid}/attachments/1")
        assert html.status_code == 200 and html.content == EVIL_HTML
        # Never rendered on our origin: a download, an inert type, a sandboxing CSP.
        assert html.headers["content-type"] == "application/octet-stream"
        assert html.headers["content-disposition"].startswith('attachment; filename="evil.html"')
        assert "sandbox" in html.headers["content-security-policy"]

        for path, status in ((f"/api/v1/messages/{mid}/attachments/2", 404),
                             (f"/api/v1/messages/{mid}/attachments/-1", 404),
                             (f"/api/v1/messages/{mid + 1000}/raw", 404),
                             ("/api/v1/messages/0/raw", 404),
                             ("/api/v1/messages/x/raw", 404)):
            resp = await client.get(path)
            assert resp.status_code == status, path
        missing = await client.get(f"/api/v1/messages/{mid}/attachments/2")
        assert missing.json()["error"] and "Traceback" not in missing.text

        # A stored ref that is not a blob ref (or points outside the store) is refused.
        await db.execute("UPDATE messages SET raw_ref = 'blob:sha256:../../etc/passwd'"
                         " WHERE id = $1", mid)
        assert (await client.get(f"/api/v1/messages/{mid}/raw")).status_code == 404

        # Mail in an inbox the agent is not a member of.
        await deliver(smtp, rich_mail("<other@customer.test>"), "bill@billing.shop.test")
        other = await message_row(db, "<other@customer.test>")
        forbidden = await client.get(f"/api/v1/messages/{other['id']}/raw")
        assert forbidden.status_code == 403 and forbidden.json()["error"]

    async with agent_http(hub.base_url, "not-a-session") as anonymous:
        assert (await anonymous.get(f"/api/v1/messages/{mid}/attachments/0")).status_code == 401


async def test_message_rest_shape_carries_email_facts(smtp, hub, db):
    await deliver(smtp, rich_mail())
    row = await message_row(db, "<rich@customer.test>")
    async with agent_http(hub.base_url, await login(hub.base_url, AGENT)) as client:
        body = (await client.get(f"/api/v1/conversations/{row['conversation_id']}")).json()
    conv, [m] = body["conversation"], body["messages"]
    assert conv["subject"] == "Re: Router blinks red"
    assert m["text"].startswith("Still blinking after the restart.")
    assert "Please restart the router." in m["attributes"]["email.quoted"]
    assert "<script" not in m["html"] and "images.example" not in m["html"]
    assert json.loads(m["attributes"]["email.remote_image_urls"]) == [
        "https://images.example/pixel.png"]
    assert 'src="cid:omnihub-remote-image-0"' in m["html"]
    assert m["raw_ref"].startswith("blob:sha256:")
    assert [a["filename"] for a in m["attachments"]] == ["Rechnung März.pdf", "evil.html"]
    # Everything older clients read is still there, unchanged.
    assert {"id", "conversation_id", "direction", "author", "text", "html", "private",
            "channel", "provider_id", "status", "attachments", "created_at"} <= m.keys()


@pytest.mark.browser
async def test_inbox_shows_trimmed_text_quoted_toggle_and_sandboxed_html(
        smtp, hub, db, browser):
    from playwright.async_api import expect

    # The "remote" image host: a loopback TCP server that counts the browser's attempts
    # (Playwright's routing does not see requests from sandboxed srcdoc frames).
    attempts: list[int] = []

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        attempts.append(1)
        writer.close()

    tracker = await asyncio.start_server(count, "127.0.0.1", 0)
    image_url = f"https://127.0.0.1:{tracker.sockets[0].getsockname()[1]}/pixel.png"
    await deliver(smtp, rich_mail(image_url=image_url))
    row = await message_row(db, "<rich@customer.test>")
    errors = PageErrors()
    ctx, page = await login_agent(browser, hub.base_url, errors)
    await page.get_by_test_id("tab-all").click()
    item = page.locator(f"[data-testid=conv-item][data-conversation-id='{row['conversation_id']}']")
    await item.click()
    await expect(page.get_by_test_id("thread-subject")).to_have_text("Re: Router blinks red")

    body = page.get_by_test_id("email-body")
    await expect(body.get_by_test_id("email-text")).to_have_text(
        "Still blinking after the restart.\n\nAnna")
    quoted = body.get_by_test_id("email-quoted")
    await expect(quoted).to_be_hidden()
    await body.get_by_test_id("email-quoted-toggle").click()
    await expect(quoted).to_be_visible()
    await expect(quoted).to_contain_text("> Please restart the router.")

    await expect(body.get_by_test_id("email-html")).to_have_count(0)
    await show_formatted(body)
    frame_el = body.get_by_test_id("email-html")
    await expect(frame_el).to_be_visible()
    sandbox = await frame_el.get_attribute("sandbox")
    assert sandbox is not None and "allow-scripts" not in sandbox
    assert "allow-same-origin" not in sandbox
    srcdoc = await frame_el.get_attribute("srcdoc") or ""
    assert 'http-equiv="Content-Security-Policy"' in srcdoc
    assert "img-src data: cid:;" in srcdoc and "https:" not in srcdoc.split("<body")[0]
    assert "<script" not in srcdoc and image_url not in srcdoc
    frame = page.frame_locator("[data-testid=email-html]")
    await expect(frame.locator("b")).to_have_text("blinking")
    await expect(frame.locator("blockquote")).to_contain_text("Please restart the router.")
    await expect(body.get_by_test_id("email-images-blocked")).to_contain_text("1 remote image")
    assert attempts == []  # blocked until the agent asks

    await body.get_by_test_id("email-load-images").click()
    await expect(body.get_by_test_id("email-images-blocked")).to_have_count(0)
    await expect(frame.locator("img")).to_have_attribute("src", image_url)
    await eventually(lambda: _true(attempts))  # now the browser fetches it
    await expect(body.get_by_test_id("email-attachment")).to_have_count(2)
    await expect(body.get_by_test_id("email-raw")).to_have_attribute(
        "href", f"/api/v1/messages/{row['id']}/raw")
    assert await page.title() != "pwned"
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "inbox-email.png"))
    await ctx.close()
    tracker.close()
    # The only error: the tracker host hangs up on the (allowed) image request.
    assert [e for e in errors.errors if "Failed to load resource" not in e] == []


async def _true(value: Any) -> Any:
    return value


PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc00000030101002218dd8b0000000049454e44ae426082")


@pytest.mark.browser
async def test_inline_cid_images_show_inside_the_sandboxed_html(smtp, hub, db, browser):
    """A signature logo sent as multipart/related (<img src="cid:…">) appears in the
    formatted view: the page fetches it with the agent's session and hands it to the
    cookie-less sandboxed frame as a data: URL."""
    from playwright.async_api import expect

    msg = EmailMessage()
    msg["From"] = "Anna Kunde <anna@customer.test>"
    msg["To"] = "support@shop.test"
    msg["Subject"] = "Logo"
    msg["Message-ID"] = "<inline@customer.test>"
    msg.set_content("See our logo.")
    msg.add_alternative('<p>See our logo.</p><img src="cid:logo123@customer.test" alt="logo">',
                        subtype="html")
    msg.get_payload()[1].add_related(PNG_1PX, maintype="image", subtype="png",
                                     cid="<logo123@customer.test>", filename="logo.png")
    await deliver(smtp, msg)
    row = await message_row(db, "<inline@customer.test>")
    attrs = await db.fetchval("SELECT attributes->>'email.inline_images' FROM messages"
                              " WHERE id = $1", row["id"])
    assert attrs == '{"logo123@customer.test": 0}'
    errors = PageErrors()
    ctx, page = await login_agent(browser, hub.base_url, errors)
    await page.get_by_test_id("tab-all").click()
    await page.locator(
        f"[data-testid=conv-item][data-conversation-id='{row['conversation_id']}']").click()
    body = page.get_by_test_id("email-body")
    await show_formatted(body)
    frame = page.frame_locator("[data-testid=email-html]")
    await expect(frame.locator("img")).to_have_attribute(
        "src", re.compile(r"^data:image/png;base64,"))
    await ctx.close()
    assert errors.errors == []


async def show_formatted(body: Any) -> None:
    """Open an email's formatted view. A click can land while the thread re-renders (a
    live event) and hit nothing as the rows move; the toggle's state says whether it
    took, so the click is made again until the view reports itself open."""
    toggle = body.get_by_test_id("email-html-toggle")

    async def opened() -> bool:
        if await toggle.get_attribute("aria-expanded") != "true":
            await toggle.click()
        return await toggle.get_attribute("aria-expanded") == "true"

    await eventually(opened)
