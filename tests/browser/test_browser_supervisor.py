"""In Debian's chromium: a supervisor's queue board shows who holds which item and moves
work: reassign an accepted chat to another agent, then transfer it to another queue.
Real hub, router task, Postgres, Valkey and sockets."""

from __future__ import annotations

import pytest

from tests.helpers import eventually
from tests.routing_live import AgentClient, configure, doc, running_router, start_chat
from tests.test_browser import (  # noqa: F401  (browser is a fixture)
    ARTIFACTS,
    TIMEOUT_MS,
    PageErrors,
    browser,
)

pytestmark = [pytest.mark.browser]


async def login_supervisor(browser, base_url, errors):  # noqa: F811
    from playwright.async_api import expect

    ctx = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = errors.watch(await ctx.new_page(), "supervisor")
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(f"{base_url}/login")
    await page.get_by_label("Email").fill("supervisor@demo.omnihub.test")
    await page.get_by_label("Password").fill("demo-super")
    await page.get_by_test_id("login-submit").click()
    await page.wait_for_url(f"{base_url}/inbox**")
    await expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "online")
    return ctx, page


async def test_supervisor_reassigns_and_transfers_from_the_board(browser, hub, db,  # noqa: F811
                                                                  redis):
    from playwright.async_api import expect

    await configure(hub, db, redis, doc(hub, queues=[
        {"id": "support", "filter": 'queue == "support"'}, {"id": "sales"}],
        agents={"agent1": ["support"], "agent3": ["support"], "agent2": ["sales"]}))
    errors = PageErrors()
    ARTIFACTS.mkdir(exist_ok=True)
    a1 = await AgentClient(hub, "agent1").connect()
    async with running_router(hub, db, redis):
        widget = await start_chat(hub, "My TV box shows error 42")
        offer = await a1.wait_event("workitem.offered", agent_id=a1.id)
        item = offer["work_item_id"]
        assert (await a1.post(f"/api/v1/work-items/{item}/accept")).status_code == 200

        ctx, page = await login_supervisor(browser, hub.base_url, errors)
        await page.get_by_test_id("queue-board-toggle").click()
        row = page.get_by_test_id("active-list").locator(f"li[data-item='{item}']")
        await expect(row).to_contain_text("Maya Schneider")
        await row.get_by_test_id("reassign-agent").select_option(label="Lucía Fernández (offline)")
        await row.get_by_test_id("reassign").click()
        agent3 = hub.seed["agents"]["agent3@demo.omnihub.test"]
        await eventually(lambda: _holder_is(db, item, agent3))
        await expect(row).to_contain_text("Lucía Fernández")
        await page.screenshot(path=str(ARTIFACTS / "supervisor-board.png"))

        await row.get_by_test_id("transfer-queue").select_option("sales")
        await row.get_by_test_id("transfer").click()
        await eventually(lambda: _queued_in(db, item, "sales"))
        await ctx.close()
        await widget.close()
    await a1.close()
    assert errors.errors == []


async def _holder_is(db, item, agent_id):
    row = await db.fetchrow("SELECT wi.agent_id, c.assignee_id FROM work_items wi JOIN"
                            " conversations c ON c.id = wi.conversation_id WHERE wi.id = $1", item)
    return row is not None and (row[0], row[1]) == (agent_id, agent_id)


async def _queued_in(db, item, queue):
    row = await db.fetchrow("SELECT queue, agent_id FROM work_items WHERE id = $1", item)
    return row is not None and row[0] == queue and row[1] is None
