"""In Debian's chromium: the supervisor wallboard shows a waiting chat, then follows it
live (socket events, no reload, no polling for supervisors) when an agent accepts it;
TV mode hides the chrome; a supervisor sets an agent away from the board.
Real hub, router task, Postgres, Valkey and sockets (docs/board.md)."""

from __future__ import annotations

import pytest

from tests.fixtures.browser import ARTIFACTS, PageErrors, login_supervisor
from tests.fixtures.helpers import SUPERVISOR, agent_http, eventually, login
from tests.fixtures.routing_live import AgentClient, configure, doc, ids, running_router, start_chat

pytestmark = [pytest.mark.browser]


async def test_board_shows_a_waiting_chat_then_updates_live_when_assigned(browser, hub, db,
                                                                         redis):
    from playwright.async_api import expect

    await configure(hub, db, redis, doc(hub, queues=[{"id": "support"}, {"id": "sales"}],
                                        agents={"agent1": ["support"], "agent2": ["sales"]}))
    errors = PageErrors()
    ARTIFACTS.mkdir(exist_ok=True)
    a1 = await AgentClient(hub, "agent1").connect()
    ctx = None
    try:
        await a1.put("/api/v1/routing/presence", {"status": "away"})  # the chat must wait
        async with running_router(hub, db, redis):
            widget = await start_chat(hub, "My TV box shows error 42")
            try:
                ctx, page = await login_supervisor(browser, hub.base_url, errors)
                await page.get_by_test_id("queue-board-toggle").click()  # the inbox links it
                await page.get_by_test_id("open-wallboard").click()
                await page.wait_for_url(f"{hub.base_url}/board")
                await expect(page.get_by_test_id("board-conn")).to_have_text("live")
                support = page.get_by_test_id("board-queues").locator("tr[data-queue='support']")
                await expect(support.get_by_test_id("q-waiting")).to_have_text("1")
                await expect(support.get_by_test_id("q-in-progress")).to_have_text("0")

                await a1.put("/api/v1/routing/presence", {"status": "available"})
                offer = await a1.wait_event("workitem.offered", agent_id=a1.id)
                item = offer["work_item_id"]
                r = await a1.post(f"/api/v1/work-items/{item}/accept")
                assert r.status_code == 200, r.text

                await expect(support.get_by_test_id("q-waiting")).to_have_text("0")
                await expect(support.get_by_test_id("q-in-progress")).to_have_text("1")
                mine = page.get_by_test_id("board-agents").locator(f"tr[data-agent='{a1.id}']")
                await expect(mine.locator(f"li[data-item='{item}']")).to_contain_text("chat")
                await page.screenshot(path=str(ARTIFACTS / "wallboard.png"))

                # filter by queue: sales shows neither the support row nor agent1
                await page.get_by_test_id("filter-queue").select_option("sales")
                await expect(support).to_have_count(0)
                await expect(mine).to_have_count(0)
                await page.get_by_test_id("filter-queue").select_option("")

                # a supervisor sets agent2 away from the board
                agent2 = ids(hub)["agent2"]
                row2 = page.get_by_test_id("board-agents").locator(f"tr[data-agent='{agent2}']")
                await row2.get_by_test_id("set-presence").select_option("away")
                await row2.get_by_test_id("set-presence-go").click()
                await eventually(lambda: _status_is(hub, agent2, "away"))

                # TV mode: no chrome, the figures stay
                await page.get_by_test_id("tv-mode").click()
                await expect(page.locator("body")).to_have_class("board-page board-tv")
                await expect(page.get_by_test_id("filter-queue")).to_be_hidden()
                await expect(support.get_by_test_id("q-in-progress")).to_be_visible()
                await page.screenshot(path=str(ARTIFACTS / "wallboard-tv.png"))
            finally:
                if ctx is not None:
                    await ctx.close()
                await widget.close()
    finally:
        await a1.close()
    assert errors.errors == []


async def _status_is(hub, agent_id: int, status: str) -> bool:
    async with agent_http(hub.base_url, await login(hub.base_url, SUPERVISOR)) as http:
        body = (await http.get("/api/v1/routing/presence")).json()
    return any(a["agent_id"] == agent_id and a["status"] == status for a in body["agents"])
