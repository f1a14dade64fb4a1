"""Delivery status of email in the agent inbox (Debian's chromium via Playwright): a
reply refused with 550 turns 'failed' live with the server's reason, still shown after a
reload; the automatic acknowledgement appears live as a card with what the customer got."""

from __future__ import annotations

import msgspec
import pytest

from tests.fixtures.browser import ARTIFACTS, PageErrors, login_agent
from tests.fixtures.helpers import eventually
from tests.fixtures.mail import agent_reply, email_conversation, job_ctx, with_relay
from tests.fixtures.smtp_peer import SmtpPeer
from workers.delivery import deliver_message
from workers.email_ack import send_email_ack

pytestmark = [pytest.mark.browser]

@pytest.fixture
def settings(settings, tmp_path):
    """Uploads go to this test's own blob store, not the checkout's .omnihub."""
    return msgspec.structs.replace(settings, mail_blob_dir=str(tmp_path / "blobs"))


REASON = "550 5.1.1 <emma@customer.test>: Recipient address rejected"


async def test_email_delivery_status_and_ack_are_live_in_the_inbox(browser, hub, db, redis):
    from playwright.async_api import expect

    cid = await email_conversation(db, subject="Modem offline")
    errors = PageErrors()
    ctx, inbox = await login_agent(browser, hub.base_url, errors)
    await inbox.get_by_test_id("tab-all").click()
    await inbox.locator(f"[data-testid=conv-item][data-conversation-id='{cid}']").click()
    peer = await SmtpPeer().start()
    try:
        settings = with_relay(hub.settings, peer)
        await db.execute(
            "INSERT INTO email_acks (conversation_id, inbox, to_address, locale,"
            " parent_message_id) VALUES ($1, 'mail', 'emma@customer.test', 'de',"
            " '<c1@customer.test>')", cid)
        assert await send_email_ack(job_ctx(db, redis, settings), cid) == "sent"
        card = inbox.locator("[data-testid=message].auto-reply")
        await expect(card).to_contain_text("Hallo Emma Stone")
        await expect(card).to_have_attribute("data-status", "sent")

        msg = await agent_reply(hub, cid, "Please check the cable.")
        bubble = inbox.locator(f"[data-testid=message][data-message-id='{msg['id']}']")
        await expect(bubble).to_have_attribute("data-status", "queued")
        peer.handler.rcpt_replies = [REASON]
        assert await deliver_message(job_ctx(db, redis, settings), msg["id"]) == "failed"
        await expect(bubble).to_have_attribute("data-status", "failed")
        await expect(bubble).to_contain_text(REASON)
    finally:
        await peer.stop()

    await inbox.reload()
    await inbox.get_by_test_id("tab-all").click()
    await inbox.locator(f"[data-testid=conv-item][data-conversation-id='{cid}']").click()
    await expect(bubble).to_contain_text(REASON)  # status_error comes with the history
    ARTIFACTS.mkdir(exist_ok=True)
    await inbox.screenshot(path=str(ARTIFACTS / "email-delivery-status.png"))
    await ctx.close()
    assert errors.errors == []


async def test_agent_attaches_a_file_to_an_email_reply(browser, hub, db, redis, tmp_path):
    from playwright.async_api import expect

    cid = await email_conversation(db, subject="Contract copy")
    doc = tmp_path / "Vertrag.pdf"
    doc.write_bytes(b"%PDF-1.4 contract " * 100)
    errors = PageErrors()
    ctx, inbox = await login_agent(browser, hub.base_url, errors)
    await inbox.get_by_test_id("tab-all").click()
    await inbox.locator(f"[data-testid=conv-item][data-conversation-id='{cid}']").click()
    await inbox.get_by_test_id("attach-input").set_input_files(str(doc))
    chip = inbox.get_by_test_id("attach-chip")
    await expect(chip).to_have_attribute("data-state", "ready")
    await expect(chip).to_contain_text("Vertrag.pdf")
    await inbox.get_by_test_id("reply-input").fill("Here is your contract.")
    await inbox.get_by_test_id("reply-send").click()
    await expect(chip).to_have_count(0)
    bubble = inbox.get_by_test_id("message").filter(has_text="Here is your contract.")
    await expect(bubble).to_have_count(1)

    async def stored():
        raw = await db.fetchval("SELECT attachments FROM messages WHERE conversation_id = $1"
                                " AND direction = 'out'", cid)
        return msgspec.json.decode(raw) if raw and raw != "[]" else None
    refs = await eventually(stored)
    assert [(r["filename"], r["size"]) for r in refs] == [("Vertrag.pdf", doc.stat().st_size)]
    await expect(bubble).to_contain_text("Vertrag.pdf")
    await ctx.close()
    assert errors.errors == []
