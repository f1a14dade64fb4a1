"""SLA policies in the routing YAML (docs/sla.md "In the routing YAML"): a ``sla:``
section sent with the routing config replaces the stored policies, checked against the
routing config of the same document first; a bad or stale section is a 422 naming
``sla.<path>`` and stores neither the routing config nor the policies; a routing config
that drops a queue a stored policy names is refused."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from hub.errors import ConfigError
from hub.sla.rules.load import SlaPolicyError
from hub.sla.store.policies import current_document
from tests.fixtures.helpers import agent_http, login
from tests.fixtures.realtime import ADMIN
from web.cli import _store_file_policies
from web.sla_routing_section import store_file_section

POLICIES = "/api/v1/sla/policies"
CONFIG = "/api/v1/routing/config"


def _section(version: int, calendar: str = "tier2") -> dict[str, Any]:
    return {"version": version, "policies": [
        {"id": "vip", "when": 'customer.tier == "vip"', "calendar": calendar,
         "targets": {"first_response": {"seconds": 300}}},
        {"id": "standard", "targets": {"resolution": {"seconds": 86400}}}]}


async def _put(admin, doc: dict[str, Any]):
    return await admin.put(CONFIG, content=yaml.safe_dump(doc).encode(),
                           headers={"Content-Type": "application/yaml"})


async def test_the_routing_yaml_carries_the_sla_policies(hub, db):
    async with agent_http(hub.base_url, await login(hub.base_url, ADMIN)) as admin:
        current = (await admin.get(CONFIG)).json()
        base = current["config"]
        # A queue of its own for the policies' calendar: dropped again at the end.
        with_tier2 = {**base, "queues": [*base["queues"], {"id": "tier2"}]}
        doc = {**with_tier2, "version": current["version"] + 1, "sla": _section(5)}
        r = await _put(admin, doc)
        assert r.status_code == 201, r.text
        assert r.json()["sla_version"] == 5
        listed = (await admin.get(POLICIES)).json()
        assert listed["version"] == 5
        assert [p["id"] for p in listed["policies"]] == ["vip", "standard"]
        versions = (await admin.get(f"{POLICIES}/versions")).json()["versions"]
        assert [(v["version"], v["source"]) for v in versions] == [(5, "routing")]
        # The running routing config is the one sent, and routing ignores the section.
        assert (await admin.get(CONFIG)).json()["version"] == doc["version"]

        # A routing YAML without the section leaves the policies alone.
        plain = {**with_tier2, "version": doc["version"] + 1}
        assert (await _put(admin, plain)).status_code == 201
        assert (await admin.get(POLICIES)).json()["version"] == 5

        # Bad or stale sections: 422 on sla.<path>, neither part stored.
        routing_version = plain["version"]
        for section, path in [
            (_section(6, calendar="nope"), "sla.policies[0].calendar"),
            (_section(5), "sla.version"),  # not newer than the stored policies
            ({**_section(6), "colour": "red"}, "sla.colour"),
            ("not a mapping", "sla"),
        ]:
            bad = {**with_tier2, "version": routing_version + 1, "sla": section}
            r = await _put(admin, bad)
            assert r.status_code == 422, r.text
            assert r.json()["path"] == path and r.json()["reason"].startswith(path), r.json()
            assert (await admin.get(CONFIG)).json()["version"] == routing_version
            assert (await admin.get(POLICIES)).json()["version"] == 5

        # A routing config that drops a queue a stored policy counts on is refused.
        dropped = {**base, "version": routing_version + 1}
        r = await _put(admin, dropped)
        assert r.status_code == 422, r.text
        assert r.json()["path"] == "sla.policies[0].calendar", r.json()
        assert "change it first" in r.json()["reason"]
        assert (await admin.get(CONFIG)).json()["version"] == routing_version
        # Dropping it together with a section that no longer names it is fine.
        r = await _put(admin, {**dropped, "sla": {"version": 6, "policies": [
            {"id": "standard", "targets": {"resolution": {"seconds": 86400}}}]}})
        assert r.status_code == 201, r.text
        assert [p["id"] for p in (await admin.get(POLICIES)).json()["policies"]] == [
            "standard"]
    audit = await db.fetch("SELECT action, details FROM audit_log"
                           " WHERE action LIKE 'sla.%' ORDER BY id")
    assert [a["action"] for a in audit] == ["sla.policies.replace", "sla.policies.replace"]


async def test_the_routing_yaml_file_carries_the_sla_policies(db, seeded, settings):
    """What ``omnihub router`` does with OMNIHUB_ROUTING_CONFIG before it starts."""
    routing = {"version": 1, "queues": [{"id": "support"}, {"id": "tier2"}]}
    assert await store_file_section(db, yaml.safe_dump(routing)) is None
    assert await store_file_section(db, yaml.safe_dump({**routing, "sla": _section(3)})) == 3
    assert [p["id"] for p in (await current_document(db))[1]] == ["vip", "standard"]
    # The same file at the next start, or an older one: the stored policies stay.
    assert await store_file_section(db, yaml.safe_dump({**routing, "sla": _section(3)})) is None
    assert await store_file_section(db, yaml.safe_dump({**routing, "sla": _section(2)})) is None
    with pytest.raises(SlaPolicyError) as caught:
        await store_file_section(db, yaml.safe_dump({**routing,
                                                     "sla": _section(4, calendar="nope")}))
    assert caught.value.path == "sla.policies[0].calendar"
    # The command's wrapper: a bad section stops the start with the path named.
    with pytest.raises(ConfigError, match=r"^OMNIHUB_ROUTING_CONFIG: sla\.policies\[0\]"):
        await _store_file_policies(settings, yaml.safe_dump(
            {**routing, "sla": _section(4, calendar="nope")}))
    rows = await db.fetch("SELECT version, source, created_by FROM sla_policy_versions")
    assert [tuple(r) for r in rows] == [(3, "file", None)]
