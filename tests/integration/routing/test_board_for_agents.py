"""With ``board_for_agents`` on, plain agents open /board and read its figures, without
the items other agents hold (docs/board.md)."""

from __future__ import annotations

import msgspec
import pytest_asyncio

from tests.fixtures.helpers import AGENT, agent_http, login
from tests.fixtures.routing_live import configure, doc


@pytest_asyncio.fixture
async def settings(settings):
    return msgspec.structs.replace(settings, board_for_agents=True)


async def test_an_agent_reads_the_board_when_the_setting_allows(hub, db, redis):
    assert hub.settings.board_for_agents
    await configure(hub, db, redis, doc(hub, queues=[{"id": "support"}],
                                        agents={"agent1": ["support"]}))
    async with agent_http(hub.base_url, await login(hub.base_url, AGENT)) as http:
        page = await http.get("/board", follow_redirects=False)
        r = await http.get("/api/v1/board")
    assert page.status_code == 200
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["supervisor"] is False
    assert [q["queue"] for q in body["queues"]] == ["support"]
    assert all("items" not in a for a in body["agents"])
