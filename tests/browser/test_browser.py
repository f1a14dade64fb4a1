"""End-to-end in Debian's chromium (Playwright): demo shop widget <-> agent inbox.

Needs the Debian package ``chromium`` (skips locally without it, fails in CI). Screenshots
for humans go to ``test-artifacts/`` (gitignored).
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from tests.fixtures.browser import (
    AGENT_EMAIL,
    AGENT_NAME,
    ARTIFACTS,
    TIMEOUT_MS,
    PageErrors,
    login_agent,
    open_shop,
    widget_message,
    widget_online,
)
from tests.fixtures.helpers import api_post

pytestmark = [pytest.mark.browser]


async def test_login_error_is_shown(browser, hub):
    from playwright.async_api import expect

    errors = PageErrors()
    ctx = await browser.new_context()
    page = errors.watch(await ctx.new_page(), "login")
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(f"{hub.base_url}/login")
    await expect(page.get_by_test_id("login-error")).to_be_hidden()
    await page.get_by_label("Email").fill(AGENT_EMAIL)
    await page.get_by_label("Password").fill("wrong password")
    await page.get_by_test_id("login-submit").click()
    await page.wait_for_url(re.compile(r".*/login\?error=1$"))
    await expect(page.get_by_test_id("login-error")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "login-error.png"))
    await ctx.close()
    assert errors.errors == []


async def test_shop_widget_to_agent_inbox_and_back(browser, hub, db):
    from playwright.async_api import expect

    errors = PageErrors()
    ARTIFACTS.mkdir(exist_ok=True)

    # Page B: the agent is logged in and watching "All" before the customer writes.
    inbox_ctx, inbox = await login_agent(browser, hub.base_url, errors)
    await inbox.get_by_test_id("tab-all").click()

    # Page A: the demo shop with the embedded widget.
    shop_ctx, shop = await open_shop(browser, hub.base_url, errors)
    await expect(
        shop.get_by_role("heading", name=re.compile("One bundle, one bill"))
    ).to_be_visible()
    await shop.get_by_test_id("widget-bubble").click()
    await expect(shop.get_by_test_id("widget-panel")).to_be_visible()
    await widget_online(shop)
    await expect(shop.get_by_test_id("widget-messages")).to_contain_text("Questions about your TV")
    await shop.get_by_test_id("widget-input").fill("Hello from the shop")
    await shop.get_by_test_id("widget-input").press("Enter")
    await expect(widget_message(shop, "Hello from the shop")).to_have_count(1)
    conversation_id = await shop.evaluate("window.OmnihubWidget.state.conversationId")
    assert isinstance(conversation_id, int)

    # The conversation appears live in the agent's list, unread, with a preview.
    item = inbox.locator(f"[data-testid=conv-item][data-conversation-id='{conversation_id}']")
    await expect(item).to_be_visible()
    await expect(item.get_by_test_id("conv-preview")).to_have_text("Hello from the shop")
    await expect(item.get_by_test_id("unread-badge")).to_have_text("1")

    # Open it: messages, customer context.
    await item.click()
    await expect(
        inbox.get_by_test_id("message").filter(has_text="Hello from the shop")
    ).to_have_count(1)
    context = inbox.get_by_test_id("context")
    await expect(context.get_by_test_id("context-name")).to_be_visible()
    await expect(context).to_contain_text("visitor")
    await expect(item.get_by_test_id("unread-badge")).to_have_count(0)

    # Agent typing reaches the widget; then the reply does, with the agent's name.
    reply = inbox.get_by_test_id("reply-input")
    await reply.press_sequentially("Hi, how can I help?", delay=10)
    await expect(shop.get_by_test_id("widget-typing")).to_contain_text(f"{AGENT_NAME} is typing")
    await inbox.get_by_test_id("reply-send").click()
    await expect(reply).to_have_value("")
    sent = inbox.locator("[data-testid=message][data-message-id]", has_text="Hi, how can I help?")
    await expect(sent).to_have_count(1)
    await expect(inbox.locator("[data-testid=message][data-pending]")).to_have_count(0)

    got = widget_message(shop, "Hi, how can I help?")
    await expect(got).to_have_count(1)
    await expect(got).to_contain_text(AGENT_NAME)
    await expect(shop.get_by_test_id("widget-typing")).not_to_contain_text("typing")

    # Replying assigned the conversation to the agent: it is now under "Mine".
    await inbox.get_by_test_id("tab-mine").click()
    await expect(item).to_be_visible()
    await expect(inbox.get_by_test_id("assignee")).to_have_text("Assigned to you")

    await shop.screenshot(path=str(ARTIFACTS / "shop-widget.png"))

    # Reloading the inbox rebuilds the same view from REST (list, open conversation via #hash).
    await inbox.reload()
    await expect(inbox.get_by_test_id("connection")).to_have_attribute("data-state", "online")
    await expect(item).to_be_visible()
    await expect(item.get_by_test_id("conv-preview")).to_contain_text("Hi, how can I help?")
    await expect(inbox.locator("[data-testid=message][data-message-id]")).to_have_count(2)
    await expect(context.get_by_test_id("context-name")).to_be_visible()

    # A known customer writes through the API channel: the 360° context panel fills up.
    customer = await db.fetchrow(
        "SELECT c.id, c.name, c.email, c.tier FROM contacts c"
        " WHERE EXISTS (SELECT 1 FROM invoices i WHERE i.contact_id = c.id AND i.status = 'overdue')"
        " ORDER BY (c.tier = 'vip') DESC, c.id LIMIT 1"
    )
    resp = await api_post(
        hub.base_url,
        hub.seed["api_token"],
        {
            "source_id": "shop-crm",
            "email": customer["email"],
            "name": customer["name"],
            "message_id": "crm-1",
            "text": "My last invoice looks wrong, can you check?",
        },
    )
    assert resp.status_code == 202, resp.text
    await inbox.get_by_test_id("tab-all").click()
    api_item = inbox.locator("[data-testid=conv-item]", has_text=customer["name"])
    await expect(api_item).to_be_visible()
    await expect(api_item.get_by_test_id("conv-preview")).to_have_text(
        "My last invoice looks wrong, can you check?"
    )
    await api_item.click()
    await expect(context.get_by_test_id("context-name")).to_have_text(customer["name"])
    await expect(context).to_contain_text(customer["email"])
    await expect(context.get_by_test_id("context-account")).not_to_have_count(0)
    await expect(context.get_by_test_id("context-order")).not_to_have_count(0)
    await expect(
        context.locator("[data-testid=context-invoice][data-status=overdue]").first
    ).to_be_visible()
    if customer["tier"] == "vip":
        await expect(context.get_by_test_id("context-vip")).to_be_visible()
    await inbox.get_by_test_id("note-toggle").click()
    await reply.fill("Checked billing: invoice is correct, overdue fee applies.")
    await inbox.get_by_test_id("reply-send").click()
    await expect(
        inbox.locator("[data-testid=message][data-private=true][data-message-id]")
    ).to_have_count(1)
    await inbox.get_by_test_id("reply-toggle").click()
    await inbox.screenshot(path=str(ARTIFACTS / "inbox.png"))

    # The widget never sees private notes of other conversations (nor any private note).
    await expect(shop.get_by_test_id("widget-message")).to_have_count(2)

    # Reload the shop: same conversation (cached messages + resume with last_id).
    await shop.reload()
    await widget_online(shop)
    assert await shop.evaluate("window.OmnihubWidget.state.conversationId") == conversation_id
    await shop.evaluate("window.OmnihubWidget.open()")
    await expect(widget_message(shop, "Hello from the shop")).to_have_count(1)
    await expect(widget_message(shop, "Hi, how can I help?")).to_have_count(1)

    # Reload again with only the visitor token kept: the server's hello snapshot
    # brings the conversation back.
    await shop.evaluate("""() => {
        for (const k of Object.keys(localStorage)) {
            if (!k.startsWith("omnihub:widget:")) continue;
            const s = JSON.parse(localStorage.getItem(k));
            localStorage.setItem(k, JSON.stringify({v: 1, token: s.token, outbox: []}));
        }
    }""")
    await shop.reload()
    await widget_online(shop)
    await shop.evaluate("window.OmnihubWidget.open()")
    await expect(widget_message(shop, "Hello from the shop")).to_have_count(1)
    await expect(widget_message(shop, "Hi, how can I help?")).to_have_count(1)
    assert await shop.evaluate("window.OmnihubWidget.state.conversationId") == conversation_id

    # Resolve from the inbox: the list (Open) drops it, the widget says so; then reopen.
    await item.click()
    await inbox.get_by_test_id("resolve").click()
    await expect(inbox.get_by_test_id("conv-status")).to_have_text("resolved")
    await expect(item).to_have_count(0)
    await expect(shop.get_by_test_id("widget-messages")).to_contain_text("marked as resolved")
    await inbox.get_by_test_id("reopen").click()
    await expect(inbox.get_by_test_id("conv-status")).to_have_text("open")
    await expect(item).to_be_visible()
    await expect(shop.get_by_test_id("widget-messages")).not_to_contain_text("marked as resolved")

    await shop_ctx.close()
    await inbox_ctx.close()
    assert errors.errors == []


async def test_widget_outbox_resends_with_same_client_id(browser, hub):
    """A message whose frame never reached the hub stays in the outbox, survives a reload,
    and is resent with the same client_id; duplicate sends never duplicate the message."""
    from playwright.async_api import expect

    errors = PageErrors()
    inbox_ctx, inbox = await login_agent(browser, hub.base_url, errors)
    await inbox.get_by_test_id("tab-all").click()
    shop_ctx, shop = await open_shop(browser, hub.base_url, errors)
    await shop.evaluate("window.OmnihubWidget.open()")
    await widget_online(shop)

    # Drop outgoing "message" frames: the message stays pending in the outbox.
    await shop.evaluate("""() => {
        const send = WebSocket.prototype.send;
        window.__dropMessages = true;
        WebSocket.prototype.send = function (data) {
            if (window.__dropMessages && JSON.parse(data).type === "message") return;
            return send.call(this, data);
        };
    }""")
    client_id = await shop.evaluate("window.OmnihubWidget.send('Is fibre available in my street?')")
    pending = shop.locator(f"[data-testid=widget-message][data-client-id='{client_id}']")
    await expect(pending).to_have_attribute("data-status", "pending")
    outbox = await shop.evaluate("window.OmnihubWidget.state.outbox")
    assert [o["client_id"] for o in outbox] == [client_id]

    # Reload: the outbox is in localStorage; this time every message frame is sent twice.
    await shop.add_init_script("""(() => {
        const send = WebSocket.prototype.send;
        WebSocket.prototype.send = function (data) {
            send.call(this, data);
            if (JSON.parse(data).type === "message") send.call(this, data);
        };
    })()""")
    await shop.reload()
    await shop.evaluate("window.OmnihubWidget.open()")
    await widget_online(shop)
    stored = widget_message(shop, "Is fibre available in my street?")
    await expect(stored).to_have_count(1)
    await shop.wait_for_function("window.OmnihubWidget.state.outbox.length === 0")

    # Exactly one stored message, carrying our client_id, on the agent side too.
    conv_id = await shop.evaluate("window.OmnihubWidget.state.conversationId")
    item = inbox.locator(f"[data-testid=conv-item][data-conversation-id='{conv_id}']")
    await item.click()
    await expect(
        inbox.get_by_test_id("message").filter(has_text="Is fibre available in my street?")
    ).to_have_count(1)
    msgs = await shop.evaluate("window.OmnihubWidget.state.messages")
    ours = [m for m in msgs if m["text"] == "Is fibre available in my street?"]
    assert len(ours) == 1 and ours[0]["provider_id"].endswith(client_id), json.dumps(ours)

    await shop_ctx.close()
    await inbox_ctx.close()
    assert errors.errors == []


@pytest.mark.parametrize("gap_expired", [False, True], ids=["gap", "gap-expired"])
async def test_offline_clients_resume_with_last_id(browser, hub, db, redis, gap_expired):
    """While the widget and the inbox are offline, the customer writes (outbox), the agent
    replies over REST and a new API conversation starts. After reconnecting with last_id
    both get exactly the gap: everything shows up once. When the gap was trimmed from the
    stream, the inbox gets ``reload`` (refetches REST) and the widget a ``reset`` snapshot."""
    from playwright.async_api import expect

    from tests.fixtures.helpers import agent_http, login

    errors = PageErrors()
    inbox_ctx, inbox = await login_agent(browser, hub.base_url, errors)
    await inbox.get_by_test_id("tab-all").click()
    shop_ctx, shop = await open_shop(browser, hub.base_url, errors)
    await shop.evaluate("window.OmnihubWidget.open()")
    await widget_online(shop)
    await shop.get_by_test_id("widget-input").fill("My internet drops every evening")
    await shop.get_by_test_id("widget-send").click()
    await expect(widget_message(shop, "My internet drops every evening")).to_have_count(1)
    conv_id = await shop.evaluate("window.OmnihubWidget.state.conversationId")
    item = inbox.locator(f"[data-testid=conv-item][data-conversation-id='{conv_id}']")
    await item.click()
    await expect(inbox.get_by_test_id("message")).to_have_count(1)

    # Both go offline.
    await inbox.evaluate("window.omnihubInbox.socket.pause()")
    await shop.evaluate("window.OmnihubWidget.disconnect()")
    await expect(inbox.get_by_test_id("connection")).to_have_attribute("data-state", "offline")
    await expect(shop.get_by_test_id("widget-status")).to_have_attribute("data-state", "offline")

    # Meanwhile: the customer writes (kept in the outbox), the agent replies from another
    # device (REST), and a new customer writes through the API channel.
    await shop.get_by_test_id("widget-input").fill("It happened again just now")
    await shop.get_by_test_id("widget-input").press("Enter")
    await expect(shop.locator("[data-testid=widget-message][data-status=pending]")).to_have_count(1)
    cookie = await login(hub.base_url)
    async with agent_http(hub.base_url, cookie) as client:
        resp = await client.post(
            f"/api/v1/conversations/{conv_id}/messages",
            json={
                "text": "We see a line fault, a technician is booked.",
                "client_id": "0b5d7c1e-0000-4000-8000-000000000001",
            },
        )
        assert resp.status_code == 201, resp.text
    resp = await api_post(
        hub.base_url,
        hub.seed["api_token"],
        {
            "source_id": "shop-crm",
            "email": "new.customer@example.com",
            "name": "Nora New",
            "message_id": "crm-offline-1",
            "text": "Do you deliver to Bergstraße 12?",
        },
    )
    assert resp.status_code == 202, resp.text
    for _ in range(200):  # the pipeline stores it within a few 100 ms
        if await db.fetchval("SELECT count(*) FROM messages WHERE provider_id = 'crm-offline-1'"):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the API message was not stored within 10 s")
    if gap_expired:
        await redis.xtrim(hub.settings.events_stream, maxlen=0, approximate=False)

    # Back online: gap replayed, outbox flushed with the same client_id.
    await inbox.evaluate("window.omnihubInbox.socket.resume()")
    await shop.evaluate("window.OmnihubWidget.reconnect()")
    await expect(inbox.get_by_test_id("connection")).to_have_attribute("data-state", "online")
    await widget_online(shop)

    await expect(widget_message(shop, "We see a line fault")).to_have_count(1)
    await expect(widget_message(shop, "It happened again just now")).to_have_count(1)
    await expect(shop.get_by_test_id("widget-message")).to_have_count(3)
    await expect(inbox.locator("[data-testid=message][data-message-id]")).to_have_count(3)
    await expect(
        inbox.get_by_test_id("message").filter(has_text="It happened again")
    ).to_have_count(1)
    new_item = inbox.locator("[data-testid=conv-item]", has_text="Nora New")
    await expect(new_item).to_be_visible()
    if not gap_expired:  # unread counts are client-side: live events only
        await expect(new_item.get_by_test_id("unread-badge")).to_have_text("1")
    assert (
        await db.fetchval("SELECT count(*) FROM messages WHERE conversation_id = $1", conv_id) == 3
    )

    await shop_ctx.close()
    await inbox_ctx.close()
    assert errors.errors == []
