"""In Debian's chromium: a chat from the shop widget is offered to the agent in his
inbox (card, countdown, Accept / Decline), he accepts, and the conversation is his; busy,
he gets no offer and picks the next chat from his queue board.
Runs the demo routing config `make dev` seeds, with a live router task."""

from __future__ import annotations

import re

import pytest

from tests.fixtures.browser import (
    ARTIFACTS,
    PageErrors,
    login_agent,
    open_shop,
    widget_message,
    widget_online,
)
from tests.fixtures.routing_live import running_router

pytestmark = [pytest.mark.browser]


async def test_chat_offer_appears_in_the_inbox_and_accepting_makes_it_his(browser, hub, db,
                                                                          redis):
    from playwright.async_api import expect

    errors = PageErrors()
    ARTIFACTS.mkdir(exist_ok=True)
    agent_id = hub.seed["agents"]["agent1@demo.omnihub.test"]
    async with running_router(hub, db, redis):
        inbox_ctx, inbox = await login_agent(browser, hub.base_url, errors)
        presence = inbox.get_by_test_id("presence")
        await expect(presence).to_have_attribute("data-presence", "online")
        await expect(inbox.get_by_test_id("presence-select")).to_have_value("available")

        shop_ctx, shop = await open_shop(browser, hub.base_url, errors)
        await shop.get_by_test_id("widget-bubble").click()
        await widget_online(shop)
        await shop.get_by_test_id("widget-input").fill("Can someone help with my router?")
        await shop.get_by_test_id("widget-input").press("Enter")
        await expect(widget_message(shop, "Can someone help with my router?")).to_have_count(1)
        conversation_id = await shop.evaluate("window.OmnihubWidget.state.conversationId")

        card = inbox.get_by_test_id("offer-card")
        await expect(card).to_have_count(1)
        await expect(card).to_contain_text("Can someone help with my router?")
        await expect(card.get_by_test_id("offer-countdown")).to_have_text(re.compile(r"^\d+s$"))
        await inbox.screenshot(path=str(ARTIFACTS / "routing-offer.png"))
        await card.get_by_test_id("offer-accept").click()
        await expect(card).to_have_count(0)

        # Accepting opened the conversation and it is his.
        await expect(inbox.get_by_test_id("assignee")).to_have_text("Assigned to you")
        await expect(
            inbox.get_by_test_id("message").filter(has_text="Can someone help with my router?")
        ).to_have_count(1)
        row = await db.fetchrow(
            "SELECT c.assignee_id, wi.status, wi.agent_id FROM conversations c"
            " JOIN work_items wi ON wi.conversation_id = c.id WHERE c.id = $1", conversation_id)
        assert (row["assignee_id"], row["status"], row["agent_id"]) == (
            agent_id, "assigned", agent_id)

        # He goes busy from the selector; routing sees it and offers him nothing more.
        await inbox.get_by_test_id("presence-select").select_option("busy")
        await expect(presence).to_have_attribute("data-presence", "busy")

        # A second customer writes; busy, he picks it himself from his queue board.
        shop2_ctx, shop2 = await open_shop(browser, hub.base_url, errors)
        await shop2.get_by_test_id("widget-bubble").click()
        await widget_online(shop2)
        await shop2.get_by_test_id("widget-input").fill("Billing question")
        await shop2.get_by_test_id("widget-input").press("Enter")
        await expect(widget_message(shop2, "Billing question")).to_have_count(1)
        second = await shop2.evaluate("window.OmnihubWidget.state.conversationId")
        await inbox.get_by_test_id("queue-board-toggle").click()
        board = inbox.get_by_test_id("queue-board")
        await expect(board.get_by_test_id("queue-row")).not_to_have_count(0)
        pick = board.get_by_test_id("pick")
        await expect(pick).to_have_count(1)
        await expect(inbox.get_by_test_id("offer-card")).to_have_count(0)
        await pick.click()
        await expect(
            inbox.get_by_test_id("message").filter(has_text="Billing question")).to_have_count(1)
        await expect(inbox.get_by_test_id("assignee")).to_have_text("Assigned to you")
        assert await db.fetchval("SELECT assignee_id FROM conversations WHERE id = $1",
                                 second) == agent_id
        await inbox.screenshot(path=str(ARTIFACTS / "routing-board.png"))
        await inbox_ctx.close()
        await shop_ctx.close()
        await shop2_ctx.close()
    assert errors.errors == []
