"""Telephony settings writes are audited like every other admin write (issue 12: the
voice admin routes wrote without an audit row): one ``audit_log`` row per change, naming
the admin, with no token or provider secret in it."""

from __future__ import annotations

from tests.fixtures.helpers import agent_http, login
from tests.fixtures.realtime import ADMIN


async def test_every_voice_admin_write_leaves_an_audit_row_without_secrets(hub, db):
    admin_id = hub.seed["agents"]["admin@demo.omnihub.test"]
    agent1 = hub.seed["agents"]["agent1@demo.omnihub.test"]
    async with agent_http(hub.base_url, await login(hub.base_url, ADMIN)) as admin:
        made = await admin.post("/api/v1/voice/cti-endpoints",
                                json={"inbox": "phone", "name": "Audited PBX"})
        assert made.status_code == 201, made.text
        token, ep = made.json()["token"], made.json()["cti_endpoint"]["id"]
        upd = await admin.put(f"/api/v1/voice/cti-endpoints/{ep}",
                              json={"inbox": "phone", "name": "Audited PBX 2"})
        assert upd.status_code == 200, upd.text
        ext = await admin.put("/api/v1/voice/extensions", json={"extensions": [
            {"extension": "301", "agent_id": agent1}]})
        assert ext.status_code == 200, ext.text
        orig = await admin.put("/api/v1/voice/originators/phone", json={
            "kind": "twilio", "config": {"account_sid": "AC9", "auth_token": "sekrit-tok",
                                         "caller_id": "+12025550100"}})
        assert orig.status_code == 200, orig.text
        # A refused write changes nothing and is not audited.
        bad = await admin.put("/api/v1/voice/extensions", json={"extensions": [
            {"extension": "1", "agent_id": 999999}]})
        assert bad.status_code == 400
    rows = await db.fetch("SELECT actor_id, action, subject, details::text AS details"
                          " FROM audit_log WHERE action LIKE 'voice.%' ORDER BY id")
    assert [(r["action"], r["subject"]) for r in rows] == [
        ("voice.cti_endpoint.create", str(ep)),
        ("voice.cti_endpoint.update", str(ep)),
        ("voice.extensions.replace", "agent_extensions"),
        ("voice.originator.set", "phone"),
    ]
    assert {r["actor_id"] for r in rows} == {admin_id}
    text = " ".join(r["details"] for r in rows)
    assert token not in text and "sekrit-tok" not in text
    assert "Audited PBX 2" in text and "301" in text
