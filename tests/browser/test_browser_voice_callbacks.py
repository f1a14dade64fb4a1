"""The inbox's callback panel in chromium: it appears when the agent opens the
conversation from the list (the inbox navigates with history.replaceState, which fires
no hashchange), never shows `null` or exception text, and a failed dial shows a short
message while the agent keeps the item and may call again."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.browser import PageErrors, login_agent
from tests.fixtures.helpers import eventually, new_id
from tests.fixtures.voice_calls import configure_originator, worker_ctx
from workers.voice import originate_callback

pytestmark = [pytest.mark.browser]

RAW = ["null", "undefined", "127.0.0.1", "AMI", "Errno", "Error(", "Traceback",
       "ConnectionRefused"]


async def test_callback_panel_follows_navigation_and_shows_failures_humanely(
        browser, hub, db, redis):
    from playwright.async_api import expect

    rid = new_id()
    async with httpx.AsyncClient(base_url=hub.base_url) as client:
        resp = await client.post("/api/v1/callbacks", json={
            "inbox": "phone", "phone": "+44 20 7946 0456", "request_id": rid,
            "language": "en-US"}, headers={"Origin": "https://shop.example"})
        assert resp.status_code == 202, resp.text
    cb = await eventually(lambda: db.fetchrow(
        "SELECT * FROM callbacks WHERE source_key = $1", f"widget:{rid}"))
    # Nothing listens there: the dial fails as when make dev had no PBX.
    await configure_originator(db, {"host": "127.0.0.1", "port": 1, "username": "omnihub",
                                    "secret": "x", "timeout_s": 5})
    errors = PageErrors()
    ctx, page = await login_agent(browser, hub.base_url, errors)
    try:
        await page.get_by_test_id("tab-all").click()
        row = page.locator(f"[data-testid=conv-item][data-conversation-id="
                           f"'{cb['conversation_id']}']")
        await row.click()  # the app's own navigation: no reload, no hashchange
        item = page.get_by_test_id("callback-item")
        await expect(item).to_contain_text("+442079460456")
        await expect(item).to_contain_text("no topic")        # no topic: said, not null
        await expect(page.get_by_test_id("call-now")).to_be_visible()
        # A phone-only conversation: no "Replying via Phone" (it could never deliver).
        await expect(page.get_by_test_id("reply-via-none")).to_contain_text("phone")
        await expect(page.get_by_test_id("reply-via-label")).to_have_count(0)

        agent1 = hub.seed["agents"]["agent1@demo.omnihub.test"]
        async with httpx.AsyncClient() as http:
            stored = await originate_callback(worker_ctx(hub, db, redis, http),
                                              cb["work_item_id"], agent1)
        assert stored == "requested"
        reason = page.get_by_test_id("callback-item-reason")
        await expect(reason).to_have_text("The phone system cannot be reached right now.")
        await expect(reason).to_have_attribute("data-code", "pbx_unreachable")
        await expect(page.get_by_test_id("callback-item-status")).to_have_text(
            "Call failed — try again")
        await expect(page.get_by_test_id("call-now")).to_be_visible()  # may call again
        text = await page.get_by_test_id("call-panel").inner_text()
        assert [w for w in RAW if w in text] == [], text
        # The failed dial kept the agent's assignment.
        held = await db.fetchrow(
            "SELECT wi.status, wi.agent_id, c.assignee_id FROM work_items wi JOIN"
            " conversations c ON c.id = wi.conversation_id WHERE wi.id = $1",
            cb["work_item_id"])
        assert (held["status"], held["agent_id"], held["assignee_id"]) == (
            "assigned", agent1, agent1)
        assert errors.errors == []
    finally:
        await ctx.close()
