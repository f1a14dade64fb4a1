"""SLA policies through REST against the live hub (docs/sla.md "Policies (stored)"):
admins add, edit and delete policies, each change a new version with an audit row;
supervisors read; a bad policy is a 4xx naming the field and stores nothing; the clock
code's ``current_policies`` compiles what is stored."""

from __future__ import annotations

import json
from typing import Any

from hub.routing.configstore import latest_config
from hub.sla.rules.load import choose_policy
from hub.sla.store.policies import current_policies
from tests.fixtures.helpers import AGENT, SUPERVISOR, agent_http, login
from tests.fixtures.realtime import ADMIN

URL = "/api/v1/sla/policies"


def _vip(**over: Any) -> dict[str, Any]:
    return {"id": "vip", "name": "VIP customers", "when": 'customer.tier == "vip"',
            "calendar": "support",
            "targets": {"first_response": {"seconds": 300},
                        "resolution": {"seconds": 14400, "actions": [
                            {"type": "escalate", "queue": "sales", "reason": "VIP unresolved"}]}},
            **over}


async def _versions(db) -> int:
    return int(await db.fetchval("SELECT count(*) FROM sla_policy_versions"))


async def test_admin_adds_edits_deletes_and_each_change_is_an_audited_version(hub, db):
    admin_id = hub.seed["agents"]["admin@demo.omnihub.test"]
    async with agent_http(hub.base_url, await login(hub.base_url, ADMIN)) as admin:
        r = await admin.get(URL)
        assert r.status_code == 200 and r.json() == {"version": 0, "policies": [],
                                                     "problem": None}
        r = await admin.post(URL, json=_vip())
        assert r.status_code == 201, r.text
        assert r.json()["version"] == 1
        r = await admin.post(URL, json={"id": "standard", "targets": {
            "first_response": {"seconds": 3600}}})
        assert r.status_code == 201 and r.json()["version"] == 2
        listed = (await admin.get(URL)).json()
        assert [p["id"] for p in listed["policies"]] == ["vip", "standard"]
        assert listed["version"] == 2 and listed["problem"] is None

        # PUT keeps the place in the order; the id may be left out of the body.
        edited = _vip(warning_percent=75)
        del edited["id"]
        r = await admin.put(f"{URL}/vip", json=edited)
        assert r.status_code == 200, r.text
        assert r.json()["version"] == 3
        one = (await admin.get(f"{URL}/vip")).json()
        assert one["policy"]["warning_percent"] == 75 and one["version"] == 3
        assert [p["id"] for p in (await admin.get(URL)).json()["policies"]] == ["vip",
                                                                               "standard"]
        r = await admin.delete(f"{URL}/vip")
        assert r.status_code == 200 and r.json() == {"version": 4, "deleted": "vip"}
        assert (await admin.get(f"{URL}/vip")).status_code == 404
        versions = (await admin.get(f"{URL}/versions")).json()["versions"]
    assert [(v["version"], v["policy_ids"], v["created_by"]) for v in versions] == [
        (4, ["standard"], admin_id), (3, ["vip", "standard"], admin_id),
        (2, ["vip", "standard"], admin_id), (1, ["vip"], admin_id)]
    audit = await db.fetch(
        "SELECT actor_id, action, subject, details FROM audit_log"
        " WHERE action LIKE 'sla.policy.%' ORDER BY id")
    assert [(a["actor_id"], a["action"], a["subject"]) for a in audit] == [
        (admin_id, "sla.policy.add", "sla_policy:vip"),
        (admin_id, "sla.policy.add", "sla_policy:standard"),
        (admin_id, "sla.policy.update", "sla_policy:vip"),
        (admin_id, "sla.policy.delete", "sla_policy:vip")]
    update = json.loads(audit[2]["details"])
    assert update["version"] == 3
    assert "warning_percent" not in update["before"]
    assert update["after"]["warning_percent"] == 75
    deleted = json.loads(audit[3]["details"])
    assert deleted["before"]["id"] == "vip" and deleted["after"] is None


async def test_bad_policies_are_refused_with_the_field_and_store_nothing(hub, db):
    async with agent_http(hub.base_url, await login(hub.base_url, ADMIN)) as admin:
        assert (await admin.post(URL, json=_vip())).status_code == 201
        before = await _versions(db)
        refusals: list[tuple[str, str, Any, int, str]] = [
            ("POST", URL, _vip(id="x", targets={"resolution": {"seconds": 0}}), 422,
             "targets.resolution.seconds"),
            ("POST", URL, _vip(id="x", colour="red"), 422, "colour"),
            ("POST", URL, _vip(id="x", when='customer.tier == '), 422, "when"),
            ("POST", URL, _vip(id="x", calendar="nope"), 422, "calendar"),
            ("POST", URL, _vip(id="x", targets={"resolution": {"seconds": 60, "actions": [
                {"type": "reroute", "queue": "nope"}]}}), 422,
             "targets.resolution.actions[0].queue"),
            ("POST", URL, _vip(id="x", targets={}), 422, "targets"),
            ("POST", URL, _vip(id="Bad Id"), 422, "id"),
            ("POST", URL, _vip(id="versions"), 422, "id"),
            ("POST", URL, [_vip(id="x")], 422, ""),
            ("POST", URL, _vip(), 409, ""),  # the id exists
            ("PUT", f"{URL}/vip", _vip(id="other"), 422, "id"),
            ("PUT", f"{URL}/vip", _vip(warning_percent=100), 422, "warning_percent"),
            ("PUT", f"{URL}/nope", _vip(id="nope"), 404, ""),
            ("DELETE", f"{URL}/nope", None, 404, ""),
            ("GET", f"{URL}/NOT%20AN%20ID", None, 404, ""),
        ]
        for method, url, body, status, path in refusals:
            r = await admin.request(method, url, json=body)
            assert r.status_code == status, (method, url, body, r.text)
            payload = r.json()
            assert payload["reason"], payload
            if status == 422:
                assert payload["error"] == "invalid_config" and payload["path"] == path, payload
                assert payload["reason"].startswith(f"{path}: " if path else ""), payload
        # If-Match: the version the client edited; another change in between is a 409.
        r = await admin.put(f"{URL}/vip", json=_vip(name="stale"),
                            headers={"If-Match": str(before - 1)})
        assert r.status_code == 409 and "reload" in r.json()["reason"], r.text
        r = await admin.delete(f"{URL}/vip", headers={"If-Match": "v1"})
        assert r.status_code == 400 and "If-Match" in r.json()["reason"], r.text
        r = await admin.post(URL, content=b"{not json", headers={"Content-Type":
                                                                  "application/json"})
        assert r.status_code == 400 and r.json()["error"] == "bad_json"
        r = await admin.post(URL, content=b"id: x", headers={"Content-Type": "text/yaml"})
        assert r.status_code == 415 and r.json()["reason"]
        assert await _versions(db) == before
        assert (await admin.get(URL)).json()["policies"] == [_vip()]
        r = await admin.put(f"{URL}/vip", json=_vip(name="fresh"),
                            headers={"If-Match": str(before)})
        assert r.status_code == 200 and r.json()["version"] == before + 1, r.text


async def test_supervisors_read_and_only_admins_change(hub, db):
    async with agent_http(hub.base_url, await login(hub.base_url, ADMIN)) as admin:
        assert (await admin.post(URL, json=_vip())).status_code == 201
    async with agent_http(hub.base_url, await login(hub.base_url, SUPERVISOR)) as sup:
        assert [p["id"] for p in (await sup.get(URL)).json()["policies"]] == ["vip"]
        assert (await sup.get(f"{URL}/vip")).status_code == 200
        assert (await sup.get(f"{URL}/versions")).status_code == 200
        for method, url in [("POST", URL), ("PUT", f"{URL}/vip"), ("DELETE", f"{URL}/vip")]:
            r = await sup.request(method, url, json=_vip(id="x") if method == "POST" else _vip())
            assert r.status_code == 403 and r.json()["reason"], (method, r.text)
    async with agent_http(hub.base_url, await login(hub.base_url, AGENT)) as agent:
        r = await agent.get(URL)
        assert r.status_code == 403 and r.json()["reason"]
    assert await _versions(db) == 1


async def test_current_policies_compiles_the_stored_document(hub, db):
    routing = await latest_config(db)
    assert routing is not None
    empty = await current_policies(db, routing[0])
    assert empty.policies == ()
    async with agent_http(hub.base_url, await login(hub.base_url, ADMIN)) as admin:
        assert (await admin.post(URL, json=_vip())).status_code == 201
        assert (await admin.post(URL, json={"id": "standard", "targets": {
            "resolution": {"seconds": 86400}}})).status_code == 201
    compiled = await current_policies(db, routing[0])
    assert compiled.version == 2 and [p.id for p in compiled.policies] == ["vip", "standard"]
    vip = choose_policy(compiled, {"customer.tier": "vip"})
    other = choose_policy(compiled, {"customer.tier": "basic"})
    assert vip is not None and vip.id == "vip"
    assert other is not None and other.id == "standard"


async def test_admin_reorders_the_policies(hub, db):
    async with agent_http(hub.base_url, await login(hub.base_url, ADMIN)) as admin:
        assert (await admin.post(URL, json=_vip())).status_code == 201
        assert (await admin.post(URL, json={"id": "standard", "targets": {
            "first_response": {"seconds": 3600}}})).status_code == 201
        for body in [{"ids": ["vip"]}, {"ids": ["vip", "vip"]}, {"ids": ["vip", "nope"]},
                     {"ids": "vip,standard"}, {"ids": ["vip", "standard"], "more": 1}, []]:
            r = await admin.put(f"{URL}/order", json=body)
            assert r.status_code == 422 and r.json()["path"] == "ids", (body, r.text)
        assert await _versions(db) == 2
        r = await admin.put(f"{URL}/order", json={"ids": ["standard", "vip"]},
                            headers={"If-Match": "2"})
        assert r.status_code == 200 and r.json()["version"] == 3, r.text
        assert [p["id"] for p in (await admin.get(URL)).json()["policies"]] == [
            "standard", "vip"]
    row = await db.fetchrow("SELECT subject, details FROM audit_log"
                            " WHERE action = 'sla.policy.reorder'")
    assert row["subject"] == "sla_policies"
    assert json.loads(row["details"]) == {"version": 3, "before": ["vip", "standard"],
                                          "after": ["standard", "vip"]}
