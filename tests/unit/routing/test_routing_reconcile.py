"""Pure tests of reconcile's plan: the decision that brings Redis in step with a
Postgres row (routing attributes, the bot contract, manual changes, rebuilds)."""

from __future__ import annotations

import json

from hub.routing.decisions import AssignItem, CancelItem, CompleteItem, Enqueue, TransferItem
from hub.routing.loader import load_config
from hub.routing.reconcile import plan, routing_attributes

CFG = load_config({
    "version": 1,
    "wrapup_s": {"voice": 30},
    "queues": [
        {"id": "billing", "filter": 'topic == "billing"'},
        {"id": "german", "filter": 'language == "de"'},
        {"id": "support", "filter": 'queue == "support"'},
        {"id": "sales"},
    ],
    "agents": [{"id": 7, "queues": ["support"]}, {"id": 8, "queues": ["support"]}],
})


def row(**over):
    base = {"id": 42, "status": "queued", "agent_id": None, "queue": "support",
            "channel": "chat", "priority": 0, "created": 1000.0, "enqueued": None, "step": 0,
            "routed_at": None, "attrs": "{}", "msg_attrs": "{}", "inbox": "web",
            "tier": "standard", "locale": "en-GB", "last_agent": None}
    base.update(over)
    return base


def test_attributes_contact_then_message_then_item():
    attrs = routing_attributes(row(locale="de-DE", tier="vip",
                                   msg_attrs=json.dumps({"topic": "tv", "lang": "x"}),
                                   attrs=json.dumps({"topic": "billing", "queue": "evil",
                                                     "bad": {"nested": "x"}})))
    assert attrs["language"] == "de" and attrs["vip"] is True and attrs["tier"] == "vip"
    assert attrs["topic"] == "billing"  # the item's own attributes win
    assert attrs["lang"] == "x"
    assert attrs["queue"] == "support"  # the row's queue, not an attribute
    assert "bad" not in attrs


def test_a_queued_row_not_in_redis_is_enqueued_by_filter():
    d = plan(CFG, row(msg_attrs=json.dumps({"topic": "billing"})), None, 2000.0)
    assert isinstance(d, Enqueue) and d.item.queue == "billing" and d.item.weight == 20
    d = plan(CFG, row(locale="de-AT"), None, 2000.0)
    assert isinstance(d, Enqueue) and d.item.queue == "german"
    d = plan(CFG, row(), None, 2000.0)
    assert isinstance(d, Enqueue) and d.item.queue == "support"
    # An item routed before (Redis lost) keeps its queue.
    d = plan(CFG, row(routed_at="x", queue="sales", msg_attrs='{"topic": "billing"}'), None, 1.0)
    assert isinstance(d, Enqueue) and d.item.queue == "sales"


def test_bot_ringing_and_done_items_are_not_routed():
    for status in ("bot", "ringing", "completed", "cancelled"):
        assert plan(CFG, row(status=status), None, 5.0) is None
    waiting = {"ag": "", "wu": "", "q": "support"}
    d = plan(CFG, row(status="bot"), waiting, 5.0)
    assert isinstance(d, CancelItem) and d.reason == "bot"
    held = {"ag": "7", "wu": "", "q": "support"}
    d = plan(CFG, row(status="completed", channel="voice"), held, 5.0)
    assert isinstance(d, CompleteItem) and d.agent_id == 7 and d.wrapup_until == 35.0
    assert plan(CFG, row(status="completed"), {"ag": "7", "wu": "9.0", "q": "x"}, 5.0) is None


def test_manual_call_wrapup_counts_towards_the_routers_wrapup():
    held = {"ag": "7", "wu": "", "q": "support"}
    # Hung up at 100, disposition saved at 110: 20 s of the 30 s remain.
    d = plan(CFG, row(status="completed", channel="voice", after_call_since=100.0), held, 110.0)
    assert isinstance(d, CompleteItem) and d.wrapup_until == 130.0
    # Saved after more than 30 s: the capacity is free at once.
    d = plan(CFG, row(status="completed", channel="voice", after_call_since=100.0), held, 145.0)
    assert isinstance(d, CompleteItem) and d.wrapup_until is None
    # A clock ahead of ours (hangup "after" now) never extends the wrap-up.
    d = plan(CFG, row(status="completed", channel="voice", after_call_since=200.0), held, 110.0)
    assert isinstance(d, CompleteItem) and d.wrapup_until == 140.0


def test_manual_changes_in_postgres_reach_redis():
    held = {"ag": "7", "wu": "", "q": "support"}
    d = plan(CFG, row(status="assigned", agent_id=8), held, 5.0)
    assert isinstance(d, AssignItem) and (d.agent_id, d.from_agent, d.force) == (8, 7, True)
    assert plan(CFG, row(status="assigned", agent_id=7), held, 5.0) is None
    d = plan(CFG, row(status="queued"), held, 5.0)
    assert isinstance(d, TransferItem) and (d.to_queue, d.from_agent) == ("support", 7)
    d = plan(CFG, row(status="assigned", agent_id=8), None, 5.0)
    assert isinstance(d, Enqueue) and d.item.agent_id == 8  # rebuilt with its holder
