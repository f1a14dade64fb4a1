"""In Debian's chromium: a supervisor's queue board shows who holds which item and moves
work: reassign an accepted chat to another agent, then transfer it to another queue.
Real hub, router task, Postgres, Valkey and sockets."""

from __future__ import annotations

import pytest

from tests.fixtures.browser import ARTIFACTS, PageErrors, login_supervisor
from tests.fixtures.helpers import eventually
from tests.fixtures.routing_live import AgentClient, configure, doc, running_router, start_chat

pytestmark = [pytest.mark.browser]


async def test_supervisor_reassigns_and_transfers_from_the_board(browser, hub, db,
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
