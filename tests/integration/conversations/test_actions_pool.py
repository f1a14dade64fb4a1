"""Agent actions publish their events after giving their connection back: more
concurrent replies than the web process has connections (10) all complete. Holding the
connection while publish_committed waited for a second one deadlocked the pool."""

from __future__ import annotations

import asyncio

from tests.fixtures.helpers import agent_http, login
from tests.fixtures.mail import email_conversation


async def test_more_concurrent_replies_than_pool_connections_all_complete(hub, db):
    cids = [await email_conversation(db, thread=(("in", f"<p{i}@customer.test>"),),
                                     address=f"p{i}@customer.test", name=f"P {i}")
            for i in range(30)]
    cookie = await login(hub.base_url)
    async with agent_http(hub.base_url, cookie) as client:
        async def reply(cid: int) -> int:
            r = await client.post(f"/api/v1/conversations/{cid}/messages",
                                  json={"text": "On it."})
            return r.status_code

        async with asyncio.timeout(60):
            codes = await asyncio.gather(*(reply(c) for c in cids))
    assert codes == [201] * 30
    assert await db.fetchval("SELECT count(*) FROM messages WHERE author_kind = 'agent'") == 30
