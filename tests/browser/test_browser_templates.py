"""The inbox's reply bar and WhatsApp template picker in Debian's chromium (Playwright),
against the live hub, the arq worker and the fake Graph API over real HTTP: window
closed -> free text disabled -> pick a template -> fill its parameters (live preview,
client-side checks) -> a server refusal shown inline -> send -> the message is in the
timeline and the fake provider received the template call; the customer writes again ->
the window opens and the picker stays reachable. And the reply bar of a joined
conversation (chat, then SMS): "Replying via SMS (+…)" and picking the web chat instead.

Skips locally without chromium; fails in CI (tests/fixtures/system_deps.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import quote

import asyncpg
import pytest

from tests.conftest import LiveHub
from tests.fixtures.browser import PageErrors, login_agent
from tests.fixtures.fake_providers import FakeProviders, Webhooks, whatsapp_text
from tests.fixtures.helpers import eventually, new_id, recv_until
from tests.fixtures.messaging import fake, fake_port, settings, webhooks, worker

__all__ = ["fake", "fake_port", "settings", "webhooks", "worker"]
pytestmark = [pytest.mark.browser]

WA = "106540352242922"
RENDERED = "Hello Sheena, there is an update on your order A-1001. Reply for details."


async def test_whatsapp_template_picker_when_the_window_is_closed(
        browser: Any, hub: LiveHub, fake: FakeProviders, webhooks: Webhooks, worker: Any,
        db: asyncpg.Pool) -> None:
    from playwright.async_api import expect

    r = await webhooks.meta(whatsapp_text(WA, "16505551234", "wamid.IN1", "Where is my order?"))
    assert r.status_code == 200
    conv = await eventually(lambda: db.fetchval(
        "SELECT conversation_id FROM messages WHERE provider_id = 'wamid.IN1'"))
    await db.execute("UPDATE messages SET created_at = now() - interval '25 hours'"
                     " WHERE direction = 'in'")

    errors = PageErrors()
    ctx, page = await login_agent(browser, hub.base_url, errors)
    await page.goto(f"{hub.base_url}/inbox#/conversations/{conv}")
    await expect(page.get_by_test_id("message").filter(has_text="Where is my order?")
                 ).to_have_count(1)
    await expect(page.get_by_test_id("reply-via-label")).to_have_text(
        "Replying via WhatsApp (+16505551234)")
    state = page.get_by_test_id("window-state")
    await expect(state).to_have_attribute("data-state", "closed")
    await expect(page.get_by_test_id("reply-input")).to_be_disabled()
    await expect(page.get_by_test_id("reply-input")).to_have_attribute(
        "placeholder", "The customer last wrote more than 24 hours ago: WhatsApp only"
        " accepts an approved template now.")

    await page.get_by_test_id("template-open").click()
    picker = page.get_by_test_id("template-picker")
    items = picker.get_by_test_id("template-item")
    await expect(items).to_have_count(2)
    await expect(items.first).to_contain_text("follow_up")
    await expect(items.first).to_contain_text("en")
    await items.filter(has_text="order_update").click()
    params = picker.get_by_test_id("template-param")
    await expect(params).to_have_count(2)
    send = picker.get_by_test_id("template-send")
    preview = picker.get_by_test_id("template-preview")
    await expect(preview).to_have_text(
        "Hello {{1}}, there is an update on your order {{2}}. Reply for details.")
    await expect(send).to_be_disabled()
    await params.nth(0).fill("Sheena")
    await expect(preview).to_contain_text("Hello Sheena, there is an update on your order {{2}}")
    await expect(send).to_be_disabled()  # {{2}} still empty
    await params.nth(1).fill("   ")
    await expect(send).to_be_disabled()  # blank is refused, as on the server
    await params.nth(1).fill("x" * 1001)
    await expect(picker.get_by_test_id("template-errors")).to_contain_text("at most 1000")
    await params.nth(1).fill("A-1001")
    await expect(preview).to_have_text(RENDERED)
    await expect(send).to_be_enabled()

    # A refusal from the server is shown in the picker, nothing is sent.
    await db.execute("UPDATE conversations SET status = 'resolved' WHERE id = $1", conv)
    await send.click()
    await expect(picker.get_by_test_id("template-errors")).to_contain_text("resolved")
    assert fake.sent_by("meta") == []
    await db.execute("UPDATE conversations SET status = 'open' WHERE id = $1", conv)

    await send.click()
    await expect(picker).to_have_count(0)
    stored = page.locator("[data-testid=message][data-message-id]", has_text=RENDERED)
    await expect(stored).to_have_count(1)
    await expect(stored).to_have_attribute("data-status", "sent")

    async def template_call() -> dict[str, Any] | None:
        sent = fake.sent_by("meta")
        return sent[-1].json if sent else None
    body = await eventually(template_call)
    assert body["type"] == "template" and body["to"] == "16505551234"
    assert body["template"] == {"name": "order_update", "language": {"code": "en"},
                                "components": [{"type": "body", "parameters": [
                                    {"type": "text", "text": "Sheena"},
                                    {"type": "text", "text": "A-1001"}]}]}
    assert await db.fetchval("SELECT count(*) FROM messages WHERE direction = 'out'") == 1

    # The customer writes again: the window opens, free text is back, the picker stays
    # reachable from its button.
    await webhooks.meta(whatsapp_text(WA, "16505551234", "wamid.IN2", "Thanks!"))
    await expect(state).to_have_attribute("data-state", "open")
    await expect(state).to_contain_text("left")
    await expect(page.get_by_test_id("reply-input")).to_be_enabled()
    await expect(page.get_by_test_id("template-open")).to_be_visible()
    await ctx.close()
    # The browser logs the deliberate 409 above as a failed resource; nothing else.
    assert [e for e in errors.errors if "status of 409" not in e] == []
    assert len(errors.errors) == 1


async def test_join_conversation_reply_bar_picks_the_channel(
        browser: Any, hub: LiveHub, fake: FakeProviders, webhooks: Webhooks, worker: Any,
        db: asyncpg.Pool) -> None:
    """A joined conversation (chat, then SMS): the bar says "Replying via SMS (+…)", the
    reply reaches the fake Twilio; picking the web chat sends the next one there."""
    from playwright.async_api import expect
    from websockets.asyncio.client import connect

    await db.execute("UPDATE queues SET cross_channel = 'join' WHERE slug = 'support'")
    anna = await db.fetchrow("SELECT id, email, phone FROM contacts ORDER BY id LIMIT 1")
    user_hash = hmac.new(hub.seed["identity_secret"].encode(), anna["email"].encode(),
                         hashlib.sha256).hexdigest()
    async with connect(f"{hub.ws_url}/ws/widget?inbox=web&email={quote(anna['email'])}"
                       f"&hash={user_hash}", origin="https://shop.example") as widget:
        await recv_until(widget, lambda f: f["type"] == "hello")
        await widget.send(json.dumps({"type": "message", "client_id": new_id(),
                                      "text": "chat: my router blinks"}))
        await recv_until(widget, lambda f: f["type"] == "ack")
    conv = await eventually(lambda: db.fetchval(
        "SELECT conversation_id FROM messages WHERE text = 'chat: my router blinks'"))
    r = await webhooks.twilio("twilio-sms", webhooks.twilio_inbound(
        "twilio-sms", anna["phone"], "sms: left the house"))
    assert r.status_code == 200
    await eventually(lambda: db.fetchval(
        "SELECT conversation_id FROM messages WHERE text = 'sms: left the house'"))

    errors = PageErrors()
    ctx, page = await login_agent(browser, hub.base_url, errors)
    await page.goto(f"{hub.base_url}/inbox#/conversations/{conv}")
    await expect(page.get_by_test_id("message").filter(has_text="sms: left the house")
                 ).to_have_count(1)
    await expect(page.get_by_test_id("reply-via-label")).to_have_text(
        f"Replying via SMS ({anna['phone']})")
    select = page.get_by_test_id("reply-via-select")
    await expect(select.locator("option")).to_have_count(2)
    await page.get_by_test_id("reply-input").fill("By SMS")
    await page.get_by_test_id("reply-send").click()
    await expect(page.locator("[data-testid=message][data-message-id]", has_text="By SMS")
                 ).to_have_count(1)

    async def twilio_body() -> str | None:
        sent = fake.sent_by("twilio")
        return sent[-1].form["Body"] if sent else None
    assert await eventually(twilio_body) == "By SMS"
    assert fake.sent_by("twilio")[-1].form["To"] == anna["phone"]

    await select.select_option("web")
    await expect(page.get_by_test_id("reply-via-label")).to_have_text("Replying via Web chat")
    await page.get_by_test_id("reply-input").fill("In the chat")
    await page.get_by_test_id("reply-send").click()
    await expect(page.locator("[data-testid=message][data-message-id]", has_text="In the chat")
                 ).to_have_count(1)
    row = await eventually(lambda: db.fetchrow(
        "SELECT channel, channel_account, status FROM messages WHERE text = 'In the chat'"))
    assert tuple(row) == ("chat", "web", "sent")
    assert len(fake.sent_by("twilio")) == 1
    await ctx.close()
    assert errors.errors == []
