"""In Debian's chromium, against the live hub: the inbox's layout and the widget's status.

- offers and the call panel dock in the page flow and never cover the composer's Send;
- the widget shows ONE status, from the socket and the inbox's availability;
- over-long messages are refused with a counter (widget and agent), never cut;
- supervisors see agents' names, not ids;
- at 390 px the inbox is one column with a list/thread toggle;
- message bubbles carry dir="auto" for right-to-left text.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.fixtures.browser import (
    ARTIFACTS,
    TIMEOUT_MS,
    PageErrors,
    login_agent,
    login_as,
    login_supervisor,
    open_shop,
    widget_message,
    widget_online,
)
from tests.fixtures.helpers import SUPERVISOR, agent_http, api_post, eventually, login, new_id
from tests.fixtures.routing_live import running_router, start_chat
from tests.fixtures.voice_calls import cti

pytestmark = [pytest.mark.browser]

WIDGET_MAX = 10_000  # channels.chat.MAX_TEXT
AGENT_MAX = 20_000  # hub.conversations.actions.MAX_TEXT
RTL_TEXT = "שלום, האינטרנט שלי לא עובד"


async def api_conversation(hub: Any, db: Any, text: str) -> int:
    """A conversation in the API inbox (unassigned); returns its id once stored."""
    ref = new_id()
    resp = await api_post(hub.base_url, hub.seed["api_token"], {
        "source_id": "shop-crm", "email": f"{ref[:8]}@example.com", "name": "Dana Levi",
        "message_id": ref, "text": text})
    assert resp.status_code == 202, resp.text
    return await eventually(lambda: db.fetchval(
        "SELECT conversation_id FROM messages WHERE text = $1", text))


async def open_conversation(page: Any, conv_id: int) -> None:
    from playwright.async_api import expect

    await page.get_by_test_id("tab-all").click()
    await page.locator(f"[data-testid=conv-item][data-conversation-id='{conv_id}']").click()
    await expect(page.get_by_test_id("reply-input")).to_be_visible()


def overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


async def send_is_uncovered(page: Any) -> bool:
    """The topmost element at the Send button's centre is the button itself."""
    return bool(await page.evaluate("""() => {
        const b = document.getElementById("reply-send").getBoundingClientRect();
        const hit = document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2);
        return !!hit && hit.closest("#reply-send") !== null;
    }"""))


async def test_offer_and_call_panels_never_cover_send(browser, hub, db, redis):
    from playwright.async_api import expect

    errors = PageErrors()
    ARTIFACTS.mkdir(exist_ok=True)
    conv_id = await api_conversation(hub, db, "Where is my parcel?")
    widget = None
    async with running_router(hub, db, redis):
        ctx, page = await login_agent(browser, hub.base_url, errors)
        try:
            # Context column hidden: the thread (and Send) reaches the right-hand side.
            await page.set_viewport_size({"width": 1024, "height": 768})
            await open_conversation(page, conv_id)
            await expect(page.get_by_test_id("presence")).to_have_attribute(
                "data-presence", "online")
            widget = await start_chat(hub, "My TV box shows error 42")
            card = page.get_by_test_id("offer-card")
            await expect(card).to_have_count(1)

            contact = await db.fetchrow(
                "SELECT c.* FROM contacts c JOIN customer_accounts a ON a.contact_id = c.id"
                " WHERE c.phone LIKE '+49%' ORDER BY c.id LIMIT 1")
            await cti(hub, {"callId": new_id(), "direction": "in", "event": "newCall",
                            "from": contact["phone"].lstrip("+"), "to": "493055571600",
                            "user": ["Maya Schneider"], "queue": "support"})
            panel = page.get_by_test_id("call-panel")
            await expect(panel).to_be_visible()

            send = page.get_by_test_id("reply-send")
            await expect(send).to_be_visible()
            send_box = await send.bounding_box()
            composer_box = await page.get_by_test_id("composer").bounding_box()
            for floating in (page.get_by_test_id("offer-tray"), panel):
                box = await floating.bounding_box()
                assert box is not None and send_box is not None and composer_box is not None
                assert not overlaps(box, send_box), (box, send_box)
                assert not overlaps(box, composer_box), (box, composer_box)
            assert await send_is_uncovered(page)
            await page.screenshot(path=str(ARTIFACTS / "inbox-dock.png"))

            # Send still works with both docked: the reply reaches the conversation.
            await page.get_by_test_id("reply-input").fill("On its way, arriving tomorrow.")
            await send.click()
            await expect(page.locator("[data-testid=message][data-message-id]",
                                      has_text="On its way")).to_have_count(1)
        finally:
            await ctx.close()
            if widget is not None:
                await widget.close()
    assert errors.errors == []


async def test_widget_says_away_and_never_online_while_offline(browser, hub):
    """Nobody online: "We're away" (never together with "Online"); the browser losing the
    network: "Offline"; back online: the status returns from the new hello."""
    from playwright.async_api import expect

    errors = PageErrors()
    ctx, shop = await open_shop(browser, hub.base_url, errors)
    try:
        await shop.get_by_test_id("widget-bubble").click()
        await widget_online(shop)
        status = shop.get_by_test_id("widget-status")
        await expect(status).to_have_text("We're away")
        await expect(status).to_have_attribute("data-status", "away")
        panel = shop.get_by_test_id("widget-panel")
        await expect(panel.get_by_text("Online", exact=True)).to_have_count(0)
        await expect(panel.get_by_text("We typically reply in a few minutes")).to_be_hidden()

        await ctx.set_offline(True)
        await expect(status).to_have_text("Offline")
        await expect(status).to_have_attribute("data-status", "offline")
        await expect(panel.get_by_text("Online", exact=True)).to_have_count(0)
        await ctx.set_offline(False)
        await expect(status).to_have_text("We're away")
    finally:
        await ctx.close()
    assert errors.errors == []


async def test_widget_online_only_while_connected(browser, hub, db, redis):
    """An agent available: "Online". A page whose socket is blocked never says "Online"."""
    from playwright.async_api import expect

    errors = PageErrors()
    async with running_router(hub, db, redis):
        inbox_ctx, inbox = await login_agent(browser, hub.base_url, errors)
        shop_ctx, shop = await open_shop(browser, hub.base_url, errors)
        blocked_ctx = await browser.new_context()
        try:
            await expect(inbox.get_by_test_id("presence")).to_have_attribute(
                "data-presence", "online")
            await shop.get_by_test_id("widget-bubble").click()
            status = shop.get_by_test_id("widget-status")
            await expect(status).to_have_text("Online")
            await expect(shop.get_by_text("We typically reply in a few minutes")).to_be_visible()

            # Every widget socket of this page is accepted and closed at once.
            blocked = errors.watch(await blocked_ctx.new_page(), "blocked")
            blocked.set_default_timeout(TIMEOUT_MS)
            await blocked.route_web_socket(re.compile(r"/ws/widget"),
                                           lambda ws: ws.close(code=1011, reason="blocked"))
            await blocked.goto(f"{hub.base_url}/demo")
            await blocked.get_by_test_id("widget-bubble").click()
            bstatus = blocked.get_by_test_id("widget-status")
            await expect(bstatus).to_have_attribute("data-status", "reconnecting")
            await expect(bstatus).to_have_text("Reconnecting…")
            await expect(blocked.get_by_test_id("widget-panel").get_by_text(
                "We typically reply in a few minutes")).to_be_hidden()
        finally:
            await blocked_ctx.close()
            await shop_ctx.close()
            await inbox_ctx.close()
    assert errors.errors == []


async def test_over_long_messages_are_refused_with_a_counter_not_cut(browser, hub, db):
    from playwright.async_api import expect

    errors = PageErrors()
    ctx, shop = await open_shop(browser, hub.base_url, errors)
    inbox_ctx = None
    try:
        await shop.get_by_test_id("widget-bubble").click()
        await widget_online(shop)
        box = shop.get_by_test_id("widget-input")
        count = shop.get_by_test_id("widget-count")
        send = shop.get_by_test_id("widget-send")
        await box.fill("a" * 100)
        await expect(count).to_be_hidden()
        await box.fill("a" * 8_500)  # near the limit: the counter shows
        await expect(count).to_have_text("8,500 / 10,000")
        await expect(send).to_be_enabled()
        await box.fill("a" * (WIDGET_MAX + 1))
        await expect(count).to_have_text("Too long: 10,001 of at most 10,000 characters.")
        await expect(send).to_be_disabled()
        await box.press("Enter")  # refused: nothing queued, the text stays
        await expect(box).to_have_value("a" * (WIDGET_MAX + 1))
        assert await shop.evaluate("window.OmnihubWidget.state.outbox.length") == 0
        # Characters as the server counts them: one emoji is one, not two UTF-16 units.
        await box.fill("😀" * WIDGET_MAX)
        await expect(count).to_have_text("10,000 / 10,000")
        await expect(send).to_be_enabled()
        longest = "b" * WIDGET_MAX
        await box.fill(longest)
        await send.click()
        await expect(widget_message(shop, "bbbb")).to_have_count(1)
        stored = await eventually(lambda: db.fetchval(
            "SELECT length(text) FROM messages WHERE text LIKE 'bbbb%'"))
        assert stored == WIDGET_MAX  # whole, not cut

        # The agent's composer: the same rule with the agent limit from the hello.
        conv_id = await db.fetchval("SELECT conversation_id FROM messages WHERE text = $1",
                                    longest)
        inbox_ctx, inbox = await login_agent(browser, hub.base_url, errors)
        await open_conversation(inbox, conv_id)
        reply = inbox.get_by_test_id("reply-input")
        rcount = inbox.get_by_test_id("reply-count")
        rsend = inbox.get_by_test_id("reply-send")
        await reply.fill("c" * (AGENT_MAX + 1))
        await expect(rcount).to_have_text("Too long: 20,001 of at most 20,000 characters.")
        await expect(rsend).to_be_disabled()
        await reply.press("Enter")
        await expect(reply).to_have_value("c" * (AGENT_MAX + 1))
        await reply.fill("c" * AGENT_MAX)
        await expect(rcount).to_have_text("20,000 / 20,000")
        await rsend.click()
        await expect(inbox.locator("[data-testid=message][data-message-id]",
                                   has_text="cccc")).to_have_count(1)
        assert await db.fetchval("SELECT length(text) FROM messages WHERE text LIKE 'cccc%'"
                                 ) == AGENT_MAX
    finally:
        await ctx.close()
        if inbox_ctx is not None:
            await inbox_ctx.close()
    assert errors.errors == []


async def test_supervisor_sees_agent_names_not_ids(browser, hub, db):
    from playwright.async_api import expect

    errors = PageErrors()
    conv_id = await api_conversation(hub, db, "Can I upgrade my plan?")
    agents = hub.seed["agents"]
    cookie = await login(hub.base_url, SUPERVISOR)
    async with agent_http(hub.base_url, cookie) as http:
        resp = await http.post(f"/api/v1/conversations/{conv_id}/assign",
                               json={"agent_id": agents["agent1@demo.omnihub.test"]})
        assert resp.status_code == 200, resp.text
        assert resp.json()["conversation"]["assignee_name"] == "Maya Schneider"
        ctx, page = await login_supervisor(browser, hub.base_url, errors)
        try:
            await open_conversation(page, conv_id)
            assignee = page.get_by_test_id("assignee")
            await expect(assignee).to_have_text("Assigned to Maya Schneider")
            # Live: the conversation.assigned event carries the new name.
            resp = await http.post(f"/api/v1/conversations/{conv_id}/assign",
                                   json={"agent_id": agents["agent3@demo.omnihub.test"]})
            assert resp.status_code == 200, resp.text
            await expect(assignee).to_have_text("Assigned to Lucía Fernández")
            await expect(page.locator("#thread-head")).not_to_contain_text("agent #")
        finally:
            await ctx.close()
    assert errors.errors == []


async def test_inbox_at_390px_is_one_column_with_a_list_thread_toggle(browser, hub, db):
    from playwright.async_api import expect

    errors = PageErrors()
    conv_id = await api_conversation(hub, db, RTL_TEXT)
    ctx, page = await login_agent(browser, hub.base_url, errors)
    try:
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.get_by_test_id("tab-all").click()
        item = page.locator(f"[data-testid=conv-item][data-conversation-id='{conv_id}']")
        await expect(item).to_be_visible()
        await expect(page.get_by_test_id("back-to-list")).to_have_count(0)
        await item.click()
        thread = page.get_by_test_id("messages")
        await expect(thread).to_be_visible()
        await expect(page.get_by_test_id("conv-list")).to_be_hidden()
        box = await page.locator("section.thread").bounding_box()
        assert box is not None and box["width"] >= 300, box
        send = await page.get_by_test_id("reply-send").bounding_box()
        assert send is not None and send["x"] + send["width"] <= 390, send
        bubble = page.locator("[data-testid=message][data-message-id] .bubble",
                              has_text=RTL_TEXT)
        await expect(bubble).to_have_attribute("dir", "auto")
        await page.screenshot(path=str(ARTIFACTS / "inbox-390.png"))
        await page.get_by_test_id("back-to-list").click()
        await expect(item).to_be_visible()
        await expect(thread).to_be_hidden()
    finally:
        await ctx.close()
    assert errors.errors == []


async def test_widget_bubbles_have_dir_auto(browser, hub):
    from playwright.async_api import expect

    errors = PageErrors()
    ctx, shop = await open_shop(browser, hub.base_url, errors)
    try:
        await shop.get_by_test_id("widget-bubble").click()
        await widget_online(shop)
        await shop.get_by_test_id("widget-input").fill(RTL_TEXT)
        await shop.get_by_test_id("widget-send").click()
        row = widget_message(shop, RTL_TEXT)
        await expect(row).to_have_count(1)
        await expect(row.locator(".b")).to_have_attribute("dir", "auto")
    finally:
        await ctx.close()
    assert errors.errors == []


async def test_settings_inbox_checkboxes_sit_beside_their_labels(browser, hub):
    """Agents' inbox checkboxes: box and name on one line, the box before the name, with
    no text-field padding (it used to sit above its label, stretched like an input)."""
    from playwright.async_api import expect

    errors = PageErrors()
    ctx, page = await login_as(browser, hub.base_url, errors, "admin@demo.omnihub.test",
                             "demo-admin")
    try:
        await page.goto(f"{hub.base_url}/admin")
        await page.get_by_test_id("tab-agents").click()
        labels = page.get_by_test_id("new-agent").locator(".admin-inboxes label")
        await expect(labels.first).to_be_visible()
        for i in range(await labels.count()):
            label = labels.nth(i)
            geo = await label.evaluate("""(l) => {
                const box = l.querySelector("input").getBoundingClientRect();
                const r = document.createRange();
                r.selectNodeContents(l);
                r.setStartAfter(l.querySelector("input"));
                const text = r.getBoundingClientRect();
                return {box: [box.x, box.y, box.width, box.height],
                        text: [text.x, text.y, text.width, text.height]};
            }""")
            bx, by, bw, bh = geo["box"]
            tx, ty, _tw, th = geo["text"]
            assert bx + bw <= tx, geo  # the box, then its name
            assert abs((by + bh / 2) - (ty + th / 2)) <= 3, geo  # on one line
            assert bw <= 24, geo  # a checkbox, not stretched like a text field
    finally:
        await ctx.close()
    assert errors.errors == []
