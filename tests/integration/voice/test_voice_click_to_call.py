"""Click-to-call in the demo: a widget's ``en-US`` callback is offered to an ``en``
agent (BCP 47 fallback, hub/languages.py). Real Postgres, Valkey, HTTP, websockets."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.fixtures.helpers import agent_http, eventually, login, new_id
from tests.fixtures.routing_live import AgentClient, configure, ids, running_router
from tests.fixtures.voice_calls import (
    ask_callback,
    configure_originator,
    status_of,
    stored_callback,
    worker_ctx,
)
from workers.voice import originate_callback

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_widget_callback_in_en_us_is_offered_to_an_en_agent(hub, db, redis):
    who = ids(hub)
    await configure(hub, db, redis, {
        "offers": {"timeout_s": 30, "reoffer_cooldown_s": 0.5},
        "presence": {"heartbeat_timeout_s": 60, "away_grace_s": 0.5, "offline_after_s": 600},
        "queues": [{"id": "support", "filter": "true", "strategy": "round_robin"}],
        "agents": [{"id": who["agent1"], "queues": ["support"], "languages": ["en", "de"]},
                   {"id": who["agent2"], "queues": ["support"], "languages": ["fr"]}],
    })
    a1 = await AgentClient(hub, "agent1").connect()
    a2 = await AgentClient(hub, "agent2").connect()
    try:
        async with running_router(hub, db, redis):
            rid = new_id()
            resp = await ask_callback(hub, request_id=rid, language="en-US")
            assert resp.status_code == 202, resp.text
            cb = await stored_callback(db, rid)
            offer = await a1.wait_event("workitem.offered", work_item_id=cb["work_item_id"])
            assert offer["agent_id"] == a1.id and offer["channel"] == "voice"
            assert a2.seen("workitem.offered", work_item_id=cb["work_item_id"]) == []
    finally:
        await a1.close()
        await a2.close()


async def test_phone_conversation_offers_no_reply_channel_but_takes_notes(hub, db):
    rid = new_id()
    await ask_callback(hub, request_id=rid)
    cb = await stored_callback(db, rid)
    conv = cb["conversation_id"]
    async with agent_http(hub.base_url, await login(hub.base_url)) as agent:
        opts = (await agent.get(f"/api/v1/conversations/{conv}/reply-options")).json()
        assert opts["routes"] == [] and opts["can_reply"] is False
        assert opts["channel"] is None and opts["window_open"] is False
        assert "phone" in opts["window_reason"].lower()
        before = await db.fetchval("SELECT count(*) FROM messages WHERE conversation_id = $1",
                                   conv)
        resp = await agent.post(f"/api/v1/conversations/{conv}/messages",
                                json={"text": "Hello", "client_id": new_id()})
        assert resp.status_code == 400 and resp.json()["error"] == "no_reply_channel"
        assert await db.fetchval("SELECT count(*) FROM messages WHERE conversation_id = $1",
                                 conv) == before
        note = await agent.post(f"/api/v1/conversations/{conv}/messages",
                                json={"text": "Called, no answer", "private": True,
                                      "client_id": new_id()})
        assert note.status_code in (200, 201), note.text


async def test_pbx_simulator_plays_a_whole_callback_over_real_tcp(hub, db, redis):
    """The dev PBX (channels/cti/pbx_sim.py) on port 0: the worker's AMI client logs in
    and originates; the simulator rings and answers the agent leg (OriginateResponse),
    then reports newCall → answer → hangup to the hub's CTI API with the callback id;
    the hub ends with a completed call linked to a completed callback."""
    from channels.cti.pbx_sim import PbxSimulator, SimTiming
    from web.seed import demo_ami_secret, demo_cti_token

    rid = new_id()
    await ask_callback(hub, request_id=rid, phone="+44 20 7946 0123")
    cb = await stored_callback(db, rid)
    agent1 = hub.seed["agents"]["agent1@demo.omnihub.test"]
    secret = demo_ami_secret(hub.settings)
    cti_url = f"{hub.base_url}/cti/{demo_cti_token(hub.settings)}/events"
    timing = SimTiming(agent_ring_s=0.05, customer_ring_s=0.05, talk_s=0.05)
    async with PbxSimulator("omnihub", secret, cti_url, timing=timing) as pbx, \
            httpx.AsyncClient() as http:
        assert pbx.port > 0
        await configure_originator(db, {"host": "127.0.0.1", "port": pbx.port,
                                        "username": "omnihub", "secret": secret,
                                        "context": "from-internal",
                                        "caller_id": "Omnihub Support <493055571600>"})
        ctx = worker_ctx(hub, db, redis, http)
        assert await originate_callback(ctx, cb["work_item_id"], agent1) == "connected"
        (call,) = pbx.calls
        async with asyncio.timeout(30):
            await call.done.wait()
    assert (call.extension, call.customer, call.callback_id) == ("101", "+442079460123",
                                                                 str(cb["id"]))
    assert [e["event"] for e in call.cti] == ["newCall", "answer", "hangup"]
    row = await eventually(lambda: db.fetchrow(
        "SELECT * FROM calls WHERE call_id = $1 AND state = 'completed'", call.unique_id))
    assert (row["direction"], row["to_number"], row["agent_id"], row["callback_id"]) == (
        "out", "+442079460123", agent1, cb["id"])
    keys = {r["event_key"] for r in await db.fetch(
        "SELECT event_key FROM call_events WHERE call_id = $1", call.unique_id)}
    assert keys == {f"{call.unique_id}:{k}" for k in ("newCall", "answer", "hangup")}
    done = await eventually(lambda: db.fetchrow(
        "SELECT * FROM callbacks WHERE id = $1 AND status = 'completed'", cb["id"]))
    assert done["agent_id"] == agent1
    assert (await status_of(hub, rid))["status"] == "completed"


async def test_pbx_simulator_refuses_a_wrong_login_and_binds_loopback_only():
    from channels.cti.ami import AmiClient, AmiError, AmiOriginate
    from channels.cti.pbx_sim import PbxSimulator

    async with PbxSimulator("omnihub", "right", "http://127.0.0.1:9/cti/x/events") as pbx:
        client = AmiClient("127.0.0.1", pbx.port, "omnihub", "wrong", timeout_s=5)
        try:
            await client.originate(AmiOriginate(channel="PJSIP/101", exten="4930901820",
                                                context="from-internal"), "t-1")
            raise AssertionError("a wrong secret was accepted")
        except AmiError as exc:
            assert exc.code == "pbx_login_refused" and exc.permanent
        assert pbx.calls == []
    try:
        await PbxSimulator("u", "s", "http://x").start("0.0.0.0", 0)
        raise AssertionError("the dev PBX listened beyond loopback")
    except ValueError:
        pass


async def _run_worker(hub: Any) -> None:
    from arq.worker import create_worker

    from workers.main import make_worker_settings

    worker = create_worker(make_worker_settings(hub.settings), burst=True,
                           poll_delay=0.02, handle_signals=False, cron_jobs=[])
    try:
        async with asyncio.timeout(60):
            await worker.main()
    finally:
        await worker.close()


async def test_call_now_dials_the_chosen_callback_and_again_after_a_failure(hub, db, redis):
    """Two requests in one conversation share its work item: "Call now" dials the one
    the agent chose. A busy agent phone keeps the item with the agent, and "Call now"
    again is a new job that dials (before: the same job id, silently nothing)."""
    from tests.fixtures.voice import FakeAmi

    first, second = new_id(), new_id()
    await ask_callback(hub, request_id=first, phone="+1 202 555 0142")
    cb_a = await stored_callback(db, first)
    await ask_callback(hub, request_id=second, phone="+1 202 555 0142", topic="Another")
    cb_b = await stored_callback(db, second)
    assert cb_a["work_item_id"] == cb_b["work_item_id"]
    agent1 = hub.seed["agents"]["agent1@demo.omnihub.test"]
    async with agent_http(hub.base_url, await login(hub.base_url)) as agent:
        async with FakeAmi(originate_result=("Failure", "5")) as busy:
            await configure_originator(db, {"host": "127.0.0.1", "port": busy.port,
                                            "username": "omnihub", "secret": "s3cret"})
            assert (await agent.post(f"/api/v1/callbacks/{cb_b['id']}/call")).status_code == 202
            await _run_worker(hub)
        rows = {r["id"]: r for r in await db.fetch(
            "SELECT * FROM callbacks WHERE id = ANY($1::bigint[])", [cb_a["id"], cb_b["id"]])}
        assert (rows[cb_b["id"]]["status"], rows[cb_b["id"]]["reason"],
                rows[cb_b["id"]]["attempts"]) == ("requested", "agent_busy", 1)
        assert rows[cb_a["id"]]["attempts"] == 0  # the other request was not dialled
        item = await db.fetchrow("SELECT * FROM work_items WHERE id = $1", cb_b["work_item_id"])
        assert (item["status"], item["agent_id"]) == ("assigned", agent1)
        async with FakeAmi() as ami:
            await configure_originator(db, {"host": "127.0.0.1", "port": ami.port,
                                            "username": "omnihub", "secret": "s3cret"})
            assert (await agent.post(f"/api/v1/callbacks/{cb_b['id']}/call")).status_code == 202
            await _run_worker(hub)
        originate = next(p for p in ami.packets if p["Action"] == "Originate")
        assert originate["ActionID"] == f"omnihub-cb-{cb_b['id']}-2"
    row = await db.fetchrow("SELECT * FROM callbacks WHERE id = $1", cb_b["id"])
    assert (row["status"], row["reason"]) == ("connected", "")
    assert (await db.fetchval("SELECT status FROM callbacks WHERE id = $1", cb_a["id"])
            ) == "requested"


async def test_cti_callback_id_is_checked_and_only_links_its_own_inbox(hub, db):
    """``callbackId`` (CTI extension): digits only (else 400, nothing ingested); a PBX
    of another inbox cannot advance this inbox's callback."""
    import hashlib

    rid = new_id()
    await ask_callback(hub, request_id=rid)
    cb = await stored_callback(db, rid)
    token = "cti_" + new_id().replace("-", "")
    await db.execute("INSERT INTO inboxes (slug, name, channel, default_queue)"
                     " VALUES ('phone2', 'Phone 2', 'voice', 'support') ON CONFLICT DO NOTHING")
    await db.execute("INSERT INTO cti_endpoints (inbox, name, token_hash) VALUES"
                     " ('phone2', 'Other PBX', $1)", hashlib.sha256(token.encode()).hexdigest())
    call_id = "other-" + new_id()[:8]
    base = {"callId": call_id, "direction": "out", "from": "493055571600",
            "to": "4930901820", "user": ["101"], "callbackId": str(cb["id"])}
    async with httpx.AsyncClient(base_url=hub.base_url) as client:
        bad = await client.post(f"/cti/{token}/events",
                                json={**base, "event": "newCall", "callbackId": "1; DROP"})
        assert bad.status_code == 400 and bad.json()["error"] == "invalid_body"
        for event in ("newCall", "answer", "hangup"):
            extra = {"answeringNumber": "101"} if event != "newCall" else {}
            resp = await client.post(f"/cti/{token}/events",
                                     json={**base, "event": event, **extra})
            assert resp.status_code == 200, resp.text
    row = await eventually(lambda: db.fetchrow(
        "SELECT * FROM calls WHERE call_id = $1 AND state = 'completed'", call_id))
    assert row["inbox"] == "phone2" and row["callback_id"] is None
    assert await db.fetchval("SELECT status FROM callbacks WHERE id = $1",
                             cb["id"]) == "requested"
    assert await db.fetchval("SELECT count(*) FROM call_events WHERE call_id = $1",
                             call_id) == 3
