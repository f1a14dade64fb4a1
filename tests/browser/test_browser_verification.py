"""In Debian's chromium: a shop visitor who typed a known customer's email is verified
with a one-time code. The agent clicks "Verify" on the claim in the 360° panel (no
"Merge here" on a typed claim), the code leaves by mail to a real SMTP peer, the visitor
types it into the widget's prompt, and the agent's panel fills in with the customer.
Skips locally without chromium, fails in CI."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.browser import (
    ARTIFACTS,
    PageErrors,
    login_agent,
    open_shop,
    widget_message,
    widget_online,
)
from tests.fixtures.helpers import eventually
from tests.fixtures.verify import code_in_mail, run_send_job

pytestmark = [pytest.mark.browser]

async def test_visitor_enters_the_code_and_the_agent_panel_fills_in(
        browser, relay_hub, db, redis, smtp_peer):
    from playwright.async_api import expect

    hub = relay_hub
    anna = await db.fetchrow(
        "SELECT c.id, c.name, i.value AS email FROM contacts c JOIN identities i"
        " ON i.contact_id = c.id AND i.kind = 'email' ORDER BY c.id LIMIT 1")
    errors = PageErrors()
    shop_ctx, shop = await open_shop(browser, hub.base_url, errors)
    agent_ctx, page = await login_agent(browser, hub.base_url, errors)
    try:
        await shop.get_by_test_id("widget-bubble").click()
        await widget_online(shop)
        await shop.get_by_test_id("widget-input").fill("Hi, I'm Anna, where is my order?")
        await shop.get_by_test_id("widget-input").press("Enter")
        await expect(widget_message(shop, "where is my order")).to_have_count(1)
        conv = await shop.evaluate("window.OmnihubWidget.state.conversationId")
        visitor = await db.fetchval("SELECT contact_id FROM conversations WHERE id = $1", conv)
        # What the pre-chat form stores when someone types an email: an unverified claim.
        await db.execute("INSERT INTO identity_claims (contact_id, kind, value, source)"
                         " VALUES ($1, 'email', $2, 'prechat')", visitor, anna["email"])

        await page.goto(f"{hub.base_url}/inbox#/conversations/{conv}")
        claim = page.locator(f"[data-testid=claim][data-key='email:{anna['email']}']")
        await expect(claim).to_be_visible()
        # The typed email of a customer is no reason to merge: no button on the suggestion.
        suggestion = page.get_by_test_id("merge-suggestion")
        await expect(suggestion).to_have_count(1)
        await expect(suggestion.get_by_role("button")).to_have_count(0)
        await claim.get_by_test_id("verify-claim").click()

        async def sent() -> Any:
            return await db.fetchval("SELECT id FROM identity_verifications")
        vid = await eventually(sent)
        prompt = shop.get_by_test_id("verify-prompt")
        await expect(prompt).to_contain_text("a 6-digit code")
        await expect(prompt).not_to_contain_text(anna["email"])  # masked
        assert await run_send_job(db, redis, hub.settings, vid) == "sent"
        await expect(prompt).to_contain_text("we sent a 6-digit code")
        await expect(claim.get_by_test_id("verification-status")).to_contain_text("code sent")
        code = code_in_mail(smtp_peer, anna["email"])

        await shop.get_by_test_id("verify-code").fill("000000" if code != "000000" else "111111")
        await shop.get_by_test_id("verify-submit").click()
        await expect(shop.get_by_test_id("verify-note")).to_contain_text("4 tries left")
        await expect(claim.get_by_test_id("verification-status")).to_contain_text("4 tries left")
        await shop.get_by_test_id("verify-code").fill(code)
        await shop.get_by_test_id("verify-submit").click()
        await expect(shop.get_by_test_id("verify-note")).to_have_text("Thanks, you're verified.")
        await expect(shop.get_by_test_id("verify-code")).to_be_hidden()

        # The agent's 360° panel is Anna's now: her verified email, no claim left.
        await expect(page.locator(
            f"[data-testid=identity][data-key='email:{anna['email']}']")).to_be_visible()
        await expect(page.get_by_test_id("claim")).to_have_count(0)
        await expect(page.get_by_test_id("context-name")).to_have_text(anna["name"])
        await expect(page.get_by_test_id("context-account").first).to_be_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "claim-verified-panel.png"))
        await shop.screenshot(path=str(ARTIFACTS / "claim-verified-widget.png"))
        assert await db.fetchval("SELECT merged_into FROM contacts WHERE id = $1",
                                 visitor) == anna["id"]
    finally:
        await shop_ctx.close()
        await agent_ctx.close()
    assert errors.errors == []


async def test_widget_on_a_refused_origin_says_why(browser, hub, db):
    """The handshake's refusal reason reaches the widget, visibly."""
    from playwright.async_api import expect

    await db.execute("UPDATE inboxes SET allowed_origins = '{https://shop.example}'"
                     " WHERE slug = 'web'")
    hub.app.state.hub._inboxes.clear()
    errors = PageErrors()
    ctx = await browser.new_context()
    page = await ctx.new_page()
    try:
        # A page on another origin (127.0.0.1 vs localhost) that embeds the widget.
        other = hub.base_url.replace("127.0.0.1", "localhost")
        await page.goto(f"{other}/demo")
        await page.get_by_test_id("widget-bubble").click()
        error = page.get_by_test_id("widget-error")
        await expect(error).to_be_visible()
        await expect(error).to_contain_text("is not an allowed origin of inbox web")
        await expect(page.get_by_test_id("widget-status")).to_have_attribute(
            "data-state", "error")
    finally:
        await ctx.close()
    assert errors.errors == []
