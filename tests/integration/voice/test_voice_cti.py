"""The CTI events API end to end: real HTTP into the hub, the pipeline applying the
events to Postgres, screen pops over real agent websockets."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.fixtures.helpers import (
    SUPERVISOR,
    agent_ws,
    eventually,
    is_event,
    login,
    new_id,
    recv_json,
    recv_until,
)
from tests.fixtures.voice_calls import call_row, ev, post

AGENT2 = ("agent2@demo.omnihub.test", "demo-agent")


async def settled(db: Any, call_id: str, n: int) -> None:
    """Wait until ``n`` distinct events of the call were applied (duplicates included
    as soon as the pipeline has seen them: we count applied keys)."""
    async def check() -> bool:
        count = await db.fetchval("SELECT count(*) FROM call_events WHERE call_id = $1", call_id)
        return bool(count >= n)
    await eventually(check)


async def test_ring_answer_hangup(hub, db):
    cid = new_id()
    for body in (ev("newCall", cid, user=["Maya Schneider"], queue="support",
                    ivr={"account": "AC-4100000", "menu": [2, 1], "language": "de"},
                    timestamp="2026-11-29T10:00:00Z"),
                 ev("answer", cid, answeringNumber="101", timestamp="2026-11-29T10:00:05Z"),
                 ev("hangup", cid, cause="normalClearing", answeringNumber="101",
                    timestamp="2026-11-29T10:02:05Z")):
        resp = await post(hub, body)
        assert resp.status_code == 200 and resp.json() == {}
    row = await call_row(db, cid, "completed")
    agent1 = hub.seed["agents"]["agent1@demo.omnihub.test"]
    assert row["agent_id"] == agent1
    assert row["duration_s"] == 120
    assert row["from_number"] == "+493055571600"
    assert row["cause"] == "normalClearing"
    assert row["wrapup_started_at"] == row["ended_at"]
    conv = await db.fetchrow("SELECT * FROM conversations WHERE id = $1", row["conversation_id"])
    assert conv["inbox"] == "phone" and conv["channel"] == "voice"
    assert conv["assignee_id"] == agent1
    item = await db.fetchrow("SELECT * FROM work_items WHERE conversation_id = $1", conv["id"])
    assert (item["status"], item["agent_id"], item["channel"]) == ("wrapup", agent1, "voice")
    msgs = await db.fetch("SELECT * FROM messages WHERE conversation_id = $1", conv["id"])
    assert [m["provider_id"] for m in msgs] == [f"call:{cid}", f"call:{cid}:end"]
    assert "Incoming call from +493055571600" in msgs[0]["text"]
    assert msgs[1]["text"] == "Call ended · 2:00 · Maya Schneider"
    assert await db.fetchval("SELECT count(*) FROM callbacks") == 0
    import json
    assert json.loads(row["ivr"]) == {"account": "AC-4100000", "menu": "2-1", "language": "de"}


async def test_ring_hangup_is_a_missed_call_and_a_callback_item(hub, db):
    cid = new_id()
    await post(hub, ev("newCall", cid, ivr={"language": "fr"}))
    await post(hub, ev("hangup", cid, cause="cancel"))
    row = await call_row(db, cid, "missed")
    cb = await eventually(lambda: db.fetchrow(
        "SELECT * FROM callbacks WHERE source_key = $1", f"missed:phone:{cid}"))
    assert (cb["source"], cb["status"], cb["phone"], cb["language"]) == (
        "missed_call", "requested", "+493055571600", "fr")
    item = await db.fetchrow("SELECT * FROM work_items WHERE id = $1", cb["work_item_id"])
    assert (item["status"], item["channel"], item["conversation_id"]) == (
        "queued", "voice", row["conversation_id"])


async def test_duplicated_events_are_applied_once(hub, db):
    cid = new_id()
    for body in [ev("newCall", cid)] * 3 + [ev("answer", cid, answeringNumber="102")] * 2:
        assert (await post(hub, body)).status_code == 200
    await call_row(db, cid, "answered")
    await settled(db, cid, 2)
    assert await db.fetchval("SELECT count(*) FROM calls WHERE call_id = $1", cid) == 1
    conv = await db.fetchval("SELECT conversation_id FROM calls WHERE call_id = $1", cid)
    assert await db.fetchval("SELECT count(*) FROM messages WHERE conversation_id = $1",
                             conv) == 1
    await post(hub, ev("hangup", cid, cause="normalClearing"))
    await post(hub, ev("hangup", cid, cause="busy"))
    row = await call_row(db, cid, "completed")
    assert row["cause"] == "normalClearing"


async def test_out_of_order_and_unknown_calls(hub, db):
    # hangup overtakes answer: first missed, then the answer turns it into completed and
    # withdraws the callback.
    cid = new_id()
    await post(hub, ev("newCall", cid, timestamp="2026-11-29T10:00:00Z"))
    await post(hub, ev("hangup", cid, cause="normalClearing", timestamp="2026-11-29T10:01:00Z"))
    await call_row(db, cid, "missed")
    await post(hub, ev("answer", cid, answeringNumber="103", timestamp="2026-11-29T10:00:10Z"))
    row = await call_row(db, cid, "completed")
    assert row["duration_s"] == 50
    assert row["agent_id"] == hub.seed["agents"]["agent3@demo.omnihub.test"]
    cb = await db.fetchrow("SELECT * FROM callbacks WHERE source_key = $1", f"missed:phone:{cid}")
    assert cb["status"] == "cancelled"
    # a late newCall after hangup changes no state
    await post(hub, ev("newCall", cid, queue="late"))
    await settled(db, cid, 3)
    await asyncio.sleep(0.3)
    assert (await call_row(db, cid))["state"] == "completed"
    # events for a call we never saw start
    unknown = new_id()
    await post(hub, ev("hangup", unknown, cause="noAnswer"))
    await call_row(db, unknown, "missed")
    answered_first = new_id()
    await post(hub, ev("answer", answered_first, answeringNumber="101"))
    await call_row(db, answered_first, "answered")


async def test_replies_reject_blocked_callers_and_dial_with_caller_id(hub, db):
    cid = new_id()
    resp = await post(hub, ev("newCall", cid, **{"from": "493099999999"}))
    assert resp.json() == {"action": "reject", "reason": "busy"}
    await post(hub, ev("hangup", cid, **{"from": "493099999999"}, cause="busy"))
    row = await call_row(db, cid, "blocked")
    assert row["conversation_id"] is None
    await settled(db, cid, 2)
    assert await db.fetchval("SELECT count(*) FROM callbacks") == 0
    out = await post(hub, {"event": "newCall", "callId": new_id(), "direction": "out",
                           "from": "101", "to": "12025550123", "user": ["Maya Schneider"]})
    assert out.json() == {"action": "dial", "caller_id": "12025550100", "number": "12025550123"}
    out = await post(hub, {"event": "newCall", "callId": new_id(), "direction": "out",
                           "from": "101", "to": "4940123456"})
    assert out.json()["caller_id"] == "493055571600"


async def test_bad_token_and_bad_payloads_change_nothing(hub, db, redis):
    before = await redis.xlen(hub.settings.ingest_stream)
    resp = await post(hub, ev("newCall", new_id()), token="cti_wrong")
    assert resp.status_code == 401 and resp.json()["error"] == "unauthorized"
    assert "traceback" not in resp.text.lower()
    async with httpx.AsyncClient(base_url=hub.base_url) as client:
        url = f"/cti/{hub.seed['cti_token']}/events"
        cases = [
            (client.post(url, json=ev("newCall", "x", direction="up")), 422,
             "invalid_direction"),
            (client.post(url, json={"event": "newCall", "direction": "in"}), 400,
             "invalid_body"),
            (client.post(url, content=b"{nope", headers={"content-type": "application/json"}),
             400, "bad_json"),
            (client.post(url, content=b"<xml/>", headers={"content-type": "text/xml"}), 415,
             "unsupported_media_type"),
            (client.post(url, json=ev("hangup", "x", cause="explosion")), 400, "invalid_body"),
            (client.post(url, json=ev("ring", "x")), 400, "unknown_event"),
            (client.post(url, content=b"x" * 70_000,
                         headers={"content-type": "application/json"}), 413, "too_large"),
        ]
        for request, status, code in cases:
            resp = await request
            assert resp.status_code == status, (code, resp.text)
            assert resp.json()["error"] == code
        # the form encoding works too (Zammad: arrays as user[])
        form = await client.post(url, data={"event": "newCall", "callId": "form-1",
                                            "direction": "in", "from": "493055571600",
                                            "to": "4930123456", "user[]": ["A", "B"]})
        assert form.status_code == 200 and form.json() == {}
    assert await redis.xlen(hub.settings.ingest_stream) == before + 1
    row = await call_row(db, "form-1")
    assert list(row["users"]) == ["A", "B"]


async def test_screen_pop_reaches_the_rung_agent_only_with_context(hub, db):
    phone = await db.fetchval(
        "SELECT c.phone FROM contacts c JOIN customer_accounts a ON a.contact_id = c.id"
        " WHERE c.phone LIKE '+49%' ORDER BY c.id LIMIT 1")
    contact = await db.fetchrow("SELECT * FROM contacts WHERE phone = $1", phone)
    a1 = await agent_ws(hub.ws_url, hub.base_url, await login(hub.base_url))
    a2 = await agent_ws(hub.ws_url, hub.base_url, await login(hub.base_url, AGENT2))
    sup = await agent_ws(hub.ws_url, hub.base_url, await login(hub.base_url, SUPERVISOR))
    for ws in (a1, a2, sup):
        assert (await recv_json(ws))["type"] == "hello"
    cid = new_id()
    await post(hub, ev("newCall", cid, **{"from": phone.lstrip("+")}, user=["Maya Schneider"],
                       queue="support", ivr={"account": "AC-1", "language": "de"}))
    frame = await recv_until(a1, is_event("call.ringing"))
    e = frame["event"]
    agent1 = hub.seed["agents"]["agent1@demo.omnihub.test"]
    assert e["agent_id"] == agent1 and e["call"]["call_id"] == cid
    assert e["known_caller"] is True
    ctx = e["context"]
    assert ctx["contact"]["id"] == contact["id"] and ctx["contact"]["name"] == contact["name"]
    assert ctx["accounts"] and all("plan" in a for a in ctx["accounts"])
    assert ctx["orders"] and "items" in ctx["orders"][0]
    assert any(c["id"] == e["call"]["conversation_id"] for c in ctx["open_conversations"])
    assert ctx["ivr"] == {"account": "AC-1", "language": "de"}
    assert "new_case" not in ctx
    # the supervisor sees it too; agent2 never does
    await recv_until(sup, is_event("call.ringing"))
    await post(hub, ev("answer", cid, **{"from": phone.lstrip("+")}, answeringNumber="101"))
    answered = await recv_until(a1, is_event("call.answered"))
    assert answered["event"]["call"]["state"] == "answered"
    assert answered["event"]["context"]["contact"]["id"] == contact["id"]
    await post(hub, ev("hangup", cid, **{"from": phone.lstrip("+")}, cause="normalClearing"))
    await recv_until(a1, lambda f: f.get("type") == "event"
                     and f["event"]["type"] == "call.updated"
                     and f["event"]["call"]["state"] == "completed")
    # agent2 got call.updated events of the voice inbox but no pop
    seen = []
    try:
        while True:
            seen.append(await recv_json(a2, timeout=0.5))
    except TimeoutError:
        pass
    kinds = {f["event"]["type"] for f in seen if f.get("type") == "event"}
    assert "call.updated" in kinds
    assert not kinds & {"call.ringing", "call.answered"}
    for ws in (a1, a2, sup):
        await ws.close()


async def test_unknown_caller_gets_a_prefilled_new_case(hub):
    a1 = await agent_ws(hub.ws_url, hub.base_url, await login(hub.base_url))
    await recv_json(a1)
    await post(hub, ev("newCall", new_id(), **{"from": "4989998877665"},
                       user=["agent1@demo.omnihub.test"]))
    e = (await recv_until(a1, is_event("call.ringing")))["event"]
    assert e["known_caller"] is False
    assert e["context"]["new_case"] == {"phone": "+4989998877665", "name": "", "email": "",
                                        "subject": "Call from +4989998877665"}
    await a1.close()


async def test_ringing_call_items_are_not_routed_until_answered_or_missed(hub, db):
    import json
    cid = new_id()
    await post(hub, ev("newCall", cid, queue="support", ivr={"menu": "2", "language": "de"}))
    row = await call_row(db, cid, "ringing")
    item = await eventually(lambda: db.fetchrow(
        "SELECT * FROM work_items WHERE conversation_id = $1 AND status = 'ringing'",
        row["conversation_id"]))
    attrs = json.loads(item["attributes"])
    assert attrs["kind"] == "call" and attrs["ivr"] == "2" and attrs["language"] == "de"
    assert attrs["ivr.menu"] == "2" and attrs["call_queue"] == "support"
    await post(hub, ev("answer", cid, answeringNumber="102"))
    await call_row(db, cid, "answered")
    item = await db.fetchrow("SELECT * FROM work_items WHERE id = $1", item["id"])
    assert (item["status"], item["agent_id"]) == (
        "assigned", hub.seed["agents"]["agent2@demo.omnihub.test"])
    # a forwarded call leaves nothing to do here
    fwd = new_id()
    await post(hub, ev("newCall", fwd, **{"from": "4940111222333"}))
    await post(hub, ev("hangup", fwd, **{"from": "4940111222333"}, cause="forwarded"))
    frow = await call_row(db, fwd, "forwarded")
    await eventually(lambda: db.fetchrow(
        "SELECT 1 FROM work_items WHERE conversation_id = $1 AND status = 'cancelled'",
        frow["conversation_id"]))


async def test_calls_appear_in_the_customers_cross_channel_timeline(hub, db):
    from tests.fixtures.helpers import agent_http, api_post

    contact = await db.fetchrow(
        "SELECT * FROM contacts WHERE phone LIKE '+49%' ORDER BY id LIMIT 1")
    # the same customer wrote through the API channel before calling
    resp = await api_post(hub.base_url, hub.seed["api_token"],
                          {"source_id": "shop-1", "phone": contact["phone"],
                           "text": "Where is my order?", "message_id": new_id()})
    assert resp.status_code == 202
    cid = new_id()
    await post(hub, ev("newCall", cid, **{"from": contact["phone"].lstrip("+")}))
    await post(hub, ev("hangup", cid, **{"from": contact["phone"].lstrip("+")}, cause="cancel"))
    await call_row(db, cid, "missed")

    async def timeline() -> Any:
        async with agent_http(hub.base_url, await login(hub.base_url)) as agent:
            r = await agent.get(f"/api/v1/contacts/{contact['id']}/timeline")
            assert r.status_code == 200, r.text
            items = r.json()["items"]
            return items if len(items) >= 3 else None
    items = await eventually(timeline)
    by_channel = [(i["message"]["channel"], i["message"]["text"]) for i in items]
    assert ("api", "Where is my order?") in by_channel
    assert ("voice", "Incoming call from " + contact["phone"]) in by_channel
    assert ("voice", "Missed call (cancel) — a callback is queued") in by_channel


async def test_caller_matched_by_crm_phone_like_every_channel(hub, db):
    """Voice resolves callers with the shared identity rules (docs/identity.md): a CRM
    contact whose phone column matches is the caller, even without a phone identity."""
    crm = await db.fetchval(
        "INSERT INTO contacts (name, phone) VALUES ('Crm Only', '+4930555000111') RETURNING id")
    cid = new_id()
    await post(hub, ev("newCall", cid, **{"from": "4930555000111"}))
    row = await call_row(db, cid, "ringing")
    assert row["contact_id"] == crm


async def test_outgoing_call_events_carry_the_dialing_agent(hub, db):
    """An outgoing call (a callback the PBX dials) is stored with the dialing agent, and
    its call.updated and call.ringing say so too (they used to carry agent_id None)."""
    agent1 = hub.seed["agents"]["agent1@demo.omnihub.test"]
    ws = await agent_ws(hub.ws_url, hub.base_url, await login(hub.base_url))
    try:
        assert (await recv_json(ws))["type"] == "hello"
        cid = new_id()
        await post(hub, {"event": "newCall", "callId": cid, "direction": "out",
                         "from": "493055571600", "to": "4930901820", "user": ["101"]})
        for kind in ("call.updated", "call.ringing"):
            frame = await recv_until(ws, is_event(kind, call__call_id=cid))
            assert frame["event"]["call"]["agent_id"] == agent1, kind
        assert (await call_row(db, cid))["agent_id"] == agent1
    finally:
        await ws.close()
