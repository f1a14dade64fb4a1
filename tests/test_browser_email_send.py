"""Delivery status of email in the agent inbox (Debian's chromium via Playwright): a
reply refused with 550 turns 'failed' live with the server's reason, still shown after a
reload; the automatic acknowledgement appears live as a card with what the customer got."""

from __future__ import annotations

import pytest

from tests.email_fixtures import agent_reply, email_conversation, job_ctx, with_relay
from tests.smtp_peer import SmtpPeer
from tests.test_browser import ARTIFACTS, PageErrors, browser, login_agent  # noqa: F401
from workers.delivery import deliver_message
from workers.email_ack import send_email_ack

pytestmark = [pytest.mark.browser]

REASON = "550 5.1.1 <emma@customer.test>: Recipient address rejected"


async def test_email_delivery_status_and_ack_are_live_in_the_inbox(browser, hub, db, redis):  # noqa: F811
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
