"""The routing journal reaches Postgres exactly once and in order, whoever persists it
and however often; Redis is rebuilt from Postgres after a loss. Real Postgres + Valkey."""

from __future__ import annotations

import asyncio
import time

import pytest

from hub.outbox import Publisher
from hub.routing.atomic import Applied, RouterScript
from hub.routing.configstore import latest_config
from hub.routing.decide import decide
from hub.routing.decisions import AcceptOffer, OfferItem
from hub.routing.persist import persist_journal, persisted_mark
from hub.routing.reconcile import reconcile
from hub.routing.store import clear, load_state, router_keys
from web.realtime.presence import socket_opened

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _new_item(db, contact_id: int) -> int:
    conv = await db.fetchval(
        "INSERT INTO conversations (inbox, channel, contact_id) VALUES ('web', 'chat', $1)"
        " RETURNING id", contact_id)
    return await db.fetchval(
        "INSERT INTO work_items (conversation_id, queue, channel) VALUES ($1, 'support', 'chat')"
        " RETURNING id", conv)


async def test_journal_is_persisted_once_by_racing_persisters_and_redis_is_rebuilt(
        db, redis, settings, seeded):
    cfg = (await latest_config(db))[0]  # the seeded demo config
    agent = seeded["agents"]["agent1@demo.omnihub.test"]
    items = [await _new_item(db, c) for c in seeded["contact_ids"][:3]]
    now = time.time()
    assert await reconcile(db, redis, settings, cfg, now) == 3  # enqueued from Postgres
    await socket_opened(redis, settings, agent)  # online (the only agent)
    state = await load_state(redis, settings)
    script = RouterScript(settings, cfg)
    outcomes = await script.call_all(redis, decide(cfg, state, now), now)
    offers = [o.decision for o in outcomes
              if isinstance(o, Applied) and isinstance(o.decision, OfferItem)]
    assert offers and all(o.targets[0].agent_id == agent for o in offers)
    accepted = offers[0].item_id
    assert isinstance(await script.call(redis, AcceptOffer(item_id=accepted, agent_id=agent),
                                        now, by=agent, origin="web"), Applied)
    entries = await redis.xlen(router_keys(settings).journal)

    # Three persisters race (three processes would): every entry lands once.
    publisher = Publisher(redis, settings)
    results = await asyncio.gather(*(persist_journal(db, redis, settings, publisher)
                                     for _ in range(3)))
    assert sum(r.entries for r in results) == entries
    again = await persist_journal(db, redis, settings, publisher)
    assert again.entries == 0
    rows = await db.fetch("SELECT work_item_id, agent_id, status FROM work_item_offers"
                          " ORDER BY work_item_id")
    assert len(rows) == len(offers)
    assert {r["work_item_id"]: r["status"] for r in rows}[accepted] == "accepted"
    status = dict(await db.fetch("SELECT id, status FROM work_items WHERE id = ANY($1)", items))
    assert status[accepted] == "assigned"
    assert await db.fetchval("SELECT assignee_id FROM conversations c JOIN work_items wi"
                             " ON wi.conversation_id = c.id WHERE wi.id = $1", accepted) == agent
    published = [f[b"e"] for _, f in await redis.xrange(settings.events_stream)]
    assert sum(b'"workitem.accepted"' in e for e in published) == 1
    assert sum(b'"workitem.offered"' in e for e in published) == len(offers)
    assert await persisted_mark(db) != "0-0"

    # Redis lost: reconcile rebuilds it from Postgres (the holder keeps his item; the
    # offered ones wait again) and routing carries on without double counting.
    await clear(redis, settings)
    await socket_opened(redis, settings, agent)
    assert await reconcile(db, redis, settings, cfg, time.time()) == 3
    rebuilt = await load_state(redis, settings)
    assert rebuilt.items[accepted].agent_id == agent
    assert all(rebuilt.items[i].agent_id is None for i in items if i != accepted)
    assert await reconcile(db, redis, settings, cfg, time.time()) == 0  # in step now
