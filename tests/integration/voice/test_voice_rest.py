"""Voice REST: script upload (422 naming the step), walking a script on a call's
conversation with answers saved, wrap-up with a disposition freeing the work item."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.helpers import AGENT, agent_http, eventually, login, new_id
from tests.fixtures.voice_calls import call_row, ev, post

ADMIN = ("admin@demo.omnihub.test", "demo-admin")
AGENT2 = ("agent2@demo.omnihub.test", "demo-agent")

SCRIPT = """
name: Billing question
topic: billing
queue: support
start: ask
steps:
  ask:
    prompt: "Hi {contact.name}, is this about invoice {order.no}?"
    options: [{label: "Yes", value: "yes", next: amount}, {label: "No", value: "no", next: bye}]
  amount: {prompt: "What amount do you see?", input: number, next: bye}
  bye: {prompt: "Thanks!", end: true}
"""


async def upload(client: httpx.AsyncClient, text: str, ctype: str = "application/yaml"
                 ) -> httpx.Response:
    return await client.post("/api/v1/voice/scripts", content=text.encode(),
                             headers={"content-type": ctype})


async def test_script_upload_validates_and_needs_admin(hub):
    async with agent_http(hub.base_url, await login(hub.base_url, ADMIN)) as admin:
        ok = await upload(admin, SCRIPT)
        assert ok.status_code == 201, ok.text
        assert ok.json()["script"]["name"] == "Billing question"
        broken = SCRIPT.replace("next: bye}]", "next: gone}]")
        resp = await upload(admin, broken)
        assert resp.status_code == 422
        assert resp.json() == {"error": "invalid_script", "step": "ask",
                               "reason": "step 'ask': next step 'gone' does not exist"}
        resp = await upload(admin, SCRIPT.replace("{order.no}", "{order.colour}"))
        assert resp.status_code == 422 and resp.json()["step"] == "ask"
        resp = await upload(admin, '{"name": "j", "start": "a", "steps": {"a": {"prompt": "x",'
                                   ' "end": true}, "b": {"prompt": "y", "end": true}}}',
                            "application/json")
        assert resp.status_code == 422 and resp.json()["step"] == "b"
        assert "unreachable" in resp.json()["reason"]
        resp = await upload(admin, SCRIPT, "image/png")
        assert resp.status_code == 415
        listed = (await admin.get("/api/v1/voice/scripts")).json()["scripts"]
        assert {s["name"] for s in listed} >= {"Billing question", "Internet troubleshooting"}
    async with agent_http(hub.base_url, await login(hub.base_url, AGENT)) as agent:
        assert (await upload(agent, SCRIPT)).status_code == 403
    async with httpx.AsyncClient(base_url=hub.base_url) as anon:
        assert (await anon.post("/api/v1/voice/scripts", content=b"x")).status_code in (401, 403)


async def answered_call(hub: Any, db: Any, ext: str = "101") -> Any:
    cid = new_id()
    await post(hub, ev("newCall", cid, queue="support", user=["Maya Schneider"]))
    await post(hub, ev("answer", cid, answeringNumber=ext))
    return await call_row(db, cid, "answered")


async def test_agent_walks_the_queue_script_and_answers_are_saved(hub, db):
    row = await answered_call(hub, db)
    conv = row["conversation_id"]
    async with agent_http(hub.base_url, await login(hub.base_url)) as agent:
        got = (await agent.get(f"/api/v1/conversations/{conv}/script")).json()
        assert got["script"]["name"] == "Internet troubleshooting"
        view = got["view"]
        assert view["step"] == "greet" and "Maya Schneider" in view["prompt"]
        sid = got["script"]["id"]
        step = await agent.post(f"/api/v1/conversations/{conv}/script",
                                json={"script_id": sid, "step": "greet", "value": "green"})
        assert step.status_code == 200, step.text
        assert step.json()["view"]["step"] == "devices"
        bad = await agent.post(f"/api/v1/conversations/{conv}/script",
                               json={"script_id": sid, "step": "greet", "value": "green"})
        assert bad.status_code == 409
        bad = await agent.post(f"/api/v1/conversations/{conv}/script",
                               json={"script_id": sid, "step": "devices", "value": ""})
        assert bad.status_code == 400
        done = await agent.post(f"/api/v1/conversations/{conv}/script",
                                json={"script_id": sid, "step": "devices", "value": "none"})
        assert done.json()["view"]["done"] is True
        assert done.json()["view"]["step"] == "done"
    saved = await db.fetchval("SELECT state FROM script_runs WHERE conversation_id = $1", conv)
    import json
    assert json.loads(saved)["answers"] == {"greet": "green", "devices": "none"}
    # another agent outside... (all demo agents are in the phone inbox): a reload shows
    # the saved position
    async with agent_http(hub.base_url, await login(hub.base_url)) as agent:
        again = (await agent.get(f"/api/v1/conversations/{conv}/script")).json()
        assert again["view"]["done"] is True and again["view"]["path"][:2] == ["greet",
                                                                               "devices"]


async def test_wrapup_saves_disposition_and_completes_the_item(hub, db):
    row = await answered_call(hub, db)
    async with agent_http(hub.base_url, await login(hub.base_url)) as agent:
        early = await agent.post(f"/api/v1/calls/{row['id']}/wrapup",
                                 json={"disposition": "resolved"})
        assert early.status_code == 409  # still talking
    await post(hub, ev("hangup", row["call_id"], cause="normalClearing"))
    await call_row(db, row["call_id"], "completed")
    item = await db.fetchrow("SELECT * FROM work_items WHERE conversation_id = $1",
                             row["conversation_id"])
    assert item["status"] == "wrapup"
    async with agent_http(hub.base_url, await login(hub.base_url, AGENT2)) as other:
        resp = await other.post(f"/api/v1/calls/{row['id']}/wrapup",
                                json={"disposition": "resolved"})
        assert resp.status_code == 403
    async with agent_http(hub.base_url, await login(hub.base_url)) as agent:
        codes = (await agent.get("/api/v1/voice/dispositions")).json()["dispositions"]
        assert "resolved" in {d["code"] for d in codes}
        resp = await agent.post(f"/api/v1/calls/{row['id']}/wrapup",
                                json={"disposition": "nonsense"})
        assert resp.status_code == 400
        resp = await agent.post(f"/api/v1/calls/{row['id']}/wrapup",
                                json={"disposition": "follow_up", "notes": "Send a router"})
        assert resp.status_code == 200, resp.text
        call = resp.json()["call"]
        assert (call["disposition"], call["notes"]) == ("follow_up", "Send a router")
        calls = (await agent.get(f"/api/v1/calls?conversation_id={row['conversation_id']}")
                 ).json()["calls"]
        assert [c["call_id"] for c in calls] == [row["call_id"]]
    done = await db.fetchrow("SELECT * FROM calls WHERE id = $1", row["id"])
    assert done["wrapup_ended_at"] >= done["wrapup_started_at"]
    item = await eventually(lambda: db.fetchrow(
        "SELECT * FROM work_items WHERE conversation_id = $1 AND status = 'completed'",
        row["conversation_id"]))
    assert item["agent_id"] == row["agent_id"]


async def test_admin_replaces_dispositions(hub):
    async with agent_http(hub.base_url, await login(hub.base_url, ADMIN)) as admin:
        resp = await admin.put("/api/v1/voice/dispositions", json={"dispositions": [
            {"code": "solved", "label": "Solved"}, {"code": "callback", "label": "Call back"}]})
        assert resp.status_code == 200
        assert [d["code"] for d in resp.json()["dispositions"]] == ["solved", "callback"]
        bad = await admin.put("/api/v1/voice/dispositions", json={"dispositions": [
            {"code": "Bad Code", "label": "x"}]})
        assert bad.status_code == 400
    async with agent_http(hub.base_url, await login(hub.base_url)) as agent:
        resp = await agent.put("/api/v1/voice/dispositions", json={"dispositions": []})
        assert resp.status_code == 403


async def test_admin_manages_cti_endpoints_extensions_and_originators(hub, db):
    async with agent_http(hub.base_url, await login(hub.base_url, ADMIN)) as admin:
        made = await admin.post("/api/v1/voice/cti-endpoints", json={
            "inbox": "phone", "name": "Branch PBX", "blocked_callers": ["+49180*"],
            "caller_id_rules": [{"dest": "33*", "caller_id": "+33199000000"}]})
        assert made.status_code == 201, made.text
        token = made.json()["token"]
        ep = made.json()["cti_endpoint"]
        stored = await db.fetchval("SELECT token_hash FROM cti_endpoints WHERE id = $1",
                                   ep["id"])
        assert token not in stored  # only the hash is kept
        async with httpx.AsyncClient(base_url=hub.base_url) as pbx:
            reject = await pbx.post(f"/cti/{token}/events", json={
                "event": "newCall", "callId": new_id(), "direction": "in",
                "from": "4918012345", "to": "4930123"})
            assert reject.json() == {"action": "reject", "reason": "busy"}
            dial = await pbx.post(f"/cti/{token}/events", json={
                "event": "newCall", "callId": new_id(), "direction": "out",
                "from": "101", "to": "33612345678"})
            assert dial.json()["caller_id"] == "33199000000"
        for bad in ({"inbox": "web"}, {"inbox": "phone", "region": "germany"},
                    {"inbox": "phone", "blocked_callers": ["DROP TABLE"]},
                    {"inbox": "phone", "caller_id_rules": [{"dest": "1*", "caller_id": "1*"}]}):
            resp = await admin.post("/api/v1/voice/cti-endpoints", json=bad)
            assert resp.status_code == 400, bad
        upd = await admin.put(f"/api/v1/voice/cti-endpoints/{ep['id']}",
                              json={"inbox": "phone", "name": "Renamed"})
        assert upd.status_code == 200 and upd.json()["cti_endpoint"]["name"] == "Renamed"
        assert (await admin.put("/api/v1/voice/cti-endpoints/999999",
                                json={"inbox": "phone"})).status_code == 404

        agent1 = hub.seed["agents"]["agent1@demo.omnihub.test"]
        ext = await admin.put("/api/v1/voice/extensions", json={"extensions": [
            {"extension": "201", "agent_id": agent1}]})
        assert ext.status_code == 200
        assert (await admin.put("/api/v1/voice/extensions", json={"extensions": [
            {"extension": "1", "agent_id": 999999}]})).status_code == 400
        assert await db.fetchval("SELECT agent_id FROM agent_extensions WHERE extension ="
                                 " '201'") == agent1

        orig = await admin.put("/api/v1/voice/originators/phone", json={
            "kind": "twilio", "config": {"account_sid": "AC1", "auth_token": "tok",
                                         "caller_id": "+12025550100"}})
        assert orig.status_code == 200
        assert orig.json()["originator"]["config"]["auth_token"] == "********"
        again = await admin.put("/api/v1/voice/originators/phone", json={
            "kind": "twilio", "config": {"account_sid": "AC2", "auth_token": "********",
                                         "caller_id": "+12025550100"}})
        assert again.status_code == 200
        import json as _json
        cfg = _json.loads(await db.fetchval(
            "SELECT config FROM voice_originators WHERE inbox = 'phone'"))
        assert (cfg["account_sid"], cfg["auth_token"]) == ("AC2", "tok")  # secret kept
        assert (await admin.put("/api/v1/voice/originators/phone", json={
            "kind": "ami", "config": {"host": "pbx"}})).status_code == 400
        shown = (await admin.get("/api/v1/voice/config")).json()
        assert {e["name"] for e in shown["cti_endpoints"]} >= {"Renamed", "Demo PBX"}
        assert shown["originators"][0]["config"]["auth_token"] == "********"
    async with agent_http(hub.base_url, await login(hub.base_url)) as agent:
        assert (await agent.get("/api/v1/voice/config")).status_code == 403
        assert (await agent.put("/api/v1/voice/extensions",
                                json={"extensions": []})).status_code == 403
