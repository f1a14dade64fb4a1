"""The demo routing config `make dev` (and the test fixtures) start with: it matches the
seeded queues and agents (ids looked up by email, so it is right on any database)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

from hub.admin.store import demo_seed as store
from hub.routing.configstore import sync_queues
from hub.routing.loader import load_config

if TYPE_CHECKING:
    import asyncpg

DEMO_DOMAIN = "demo.omnihub.test"


def demo_routing_doc(ids: dict[str, int]) -> dict[str, object]:
    """``ids``: email local part -> agent id."""
    def agent(local: str, **profile: object) -> dict[str, object]:
        return {"id": ids[local], **profile}

    return {
        "version": 1,
        "capacity": {"units": 60, "weights": {"voice": 60, "chat": 20, "email": 12},
                     "max_per_channel": {"voice": 1}},
        "offers": {"timeout_s": 30, "mode": "single", "reoffer_cooldown_s": 20},
        "ageing": {"every_s": 60, "step": 1, "max_boost": 10},
        "presence": {"heartbeat_timeout_s": 60, "away_grace_s": 30, "offline_after_s": 900},
        "wrapup_s": {"voice": 30, "default": 0},
        "default_queue": "support",
        "queues": [
            {"id": "vip", "name": "VIP care", "filter": "vip == true", "priority": 5,
             "strategy": "sticky",
             "sticky": {"timeout_s": 45, "fallback": "least_busy", "wait_if_busy": False},
             "escalation": [{"queues": ["vip"], "timeout_s": 60},
                            {"queues": ["vip", "support"]}]},
            {"id": "sales", "name": "Sales", "filter": 'queue == "sales" or topic == "upgrade"',
             "strategy": "longest_idle"},
            {"id": "support", "name": "Support", "filter": 'queue == "support"',
             "strategy": "round_robin",
             "escalation": [{"queues": ["support"], "timeout_s": 120},
                            {"queues": ["support", "sales"], "priority_boost": 2}]},
        ],
        "agents": [
            agent("agent1", queues=["support", "sales", "vip"], skills={"billing": 3},
                  languages=["en", "de"]),
            agent("agent2", queues=["support", "vip"], skills={"tv": 4}, languages=["en", "fr"]),
            agent("agent3", queues=["support", "sales"], languages=["en", "es"]),
            agent("supervisor", queues=["vip"], capacity=40),
        ],
    }


async def seed_routing_config(conn: asyncpg.Connection) -> bool:
    """Store the demo config as version 1 unless a config exists. Returns whether it did."""
    if await store.any_routing_config(conn):
        return False
    rows = await store.agents_in_domain(conn, DEMO_DOMAIN)
    ids = {r["email"].split("@")[0]: r["id"] for r in rows}
    if not {"agent1", "agent2", "agent3", "supervisor"} <= ids.keys():
        return False
    text = yaml.safe_dump(demo_routing_doc(ids), sort_keys=False)
    cfg = load_config(text)
    await store.insert_routing_config(conn, cfg.version, text, cfg.content_hash)
    await sync_queues(conn, cfg)
    return True
