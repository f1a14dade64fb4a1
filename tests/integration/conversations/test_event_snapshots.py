"""Every event type, Zulip's ``test_events`` check: a stale REST snapshot plus the socket
events that follow it equals a fresh REST snapshot (docs/realtime.md, docs/running.md).

For each event type in ``hub.schema.EVENT_TYPES``: an agent's client loads its REST
snapshot (conversation lists, the open conversation with its messages, its offers and
presence), the event is caused through the real action (REST, the API inbound edge, the
router), every event the client's socket received is applied to the stale snapshot with
the client's own reducer (web/static/inbox-store.js under node; the event branches of
inbox-offers.js and inbox-voice.js ported in tests/fixtures/client_state.py), and the
result must equal what
the same reducer makes of a fresh snapshot. Real hub, router, Postgres, Valkey, HTTP and
websockets.

Every event type is listed: in ``CASES`` (checked), ``EPHEMERAL`` (changes no state a
client keeps, with the reason), ``RELOADS`` (the client answers it by reloading REST, so
there is nothing to reduce), ``ELSEWHERE`` (checked the same way in a module with other
fixtures) or ``NOT_YET`` (named gaps, reported as skips);
``test_every_event_type_is_listed`` fails when the schema grows a type nobody listed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hub.schema import EVENT_TYPES
from tests.fixtures.client_state import InboxClient, check, node_path
from tests.fixtures.helpers import SUPERVISOR, api_post, new_id
from tests.fixtures.routing_live import PASSWORDS, configure, doc, ids, running_router
from tests.fixtures.system_deps import require
from tests.fixtures.voice_calls import ask_callback, ev, post, stored_callback

AGENT1 = ("agent1@demo.omnihub.test", PASSWORDS["agent1"])
AGENT3 = ("agent3@demo.omnihub.test", PASSWORDS["agent3"])
# Everything lands in support; nothing arrives in sales by itself (transfers only).
QUEUES = [{"id": "support", "strategy": "round_robin"},
          {"id": "sales", "filter": 'queue == "sales"'}]


def _tag(cls: type) -> str:
    return str(cls.__struct_config__.tag)


ALL_TYPES = sorted(_tag(t) for t in EVENT_TYPES)

# Types whose state no client rebuilds from REST plus events (the reason says why).
EPHEMERAL = {
    "typing": "a 7 s indicator; no REST route has it and the inbox drops it on expiry",
    "queue.stats": "the supervisors' board numbers, coalesced and time-dependent "
                   "(oldest_wait_s); the board reloads /api/v1/routing/queues when opened",
    "bot.changed": "no agent client keeps bot state: the hub's bot sockets consume it to "
                   "re-check their token; the bots admin page reads REST",
}

# Types the client answers by reloading its REST state: stale + event is the fresh
# snapshot by construction.
RELOADS = {
    "verification.updated": "the contact panel toasts and reloads the contact's context",
}

# Not checked yet, named so the gap is visible (each case below shows how to add one).
NOT_YET: dict[str, str] = {}

# Checked in another module that needs other fixtures (same check, tests/fixtures).
ELSEWHERE = {
    "message.status": "tests/integration/messaging/test_message_status_snapshot.py",
}


# Checked, and today they disagree: strict xfails, so fixing the cause turns them red
# until the entry is removed. Found by this test (the client's reducer is the reference).
KNOWN_DIVERGENCES: dict[str, str] = {}


@dataclass
class World:
    hub: Any
    db: Any
    redis: Any

    async def customer_writes(self, text: str, source: str | None = None) -> None:
        body = {"source_id": source or f"crm-{new_id()}", "text": text,
                "message_id": new_id(), "name": "Dana"}
        r = await api_post(self.hub.base_url, self.hub.seed["api_token"], body)
        assert r.status_code == 202, r.text

    async def conversation(self, client: InboxClient, text: str) -> int:
        """A new conversation from a customer, seen by ``client``; returns its id."""
        since = len(client.events)
        await self.customer_writes(text)
        created = await client.wait_for("conversation.created", since)
        return int(created["conversation"]["id"])



async def _created(world: World, sup: InboxClient, agent: InboxClient) -> None:
    await check(sup, None, lambda: world.customer_writes("My router blinks"),
                "conversation.created")


async def _workitem_created(world: World, sup: InboxClient, agent: InboxClient) -> None:
    await check(sup, None, lambda: world.customer_writes("No dial tone"), "workitem.created")


async def _message_created(world: World, sup: InboxClient, agent: InboxClient,
                           private: bool = False) -> None:
    cid = await world.conversation(sup, "Where is my parcel?")

    async def reply() -> None:
        async with sup.http() as http:
            r = await http.post(f"/api/v1/conversations/{cid}/messages",
                                json={"text": "On its way", "client_id": new_id(),
                                      "private": private})
            assert r.status_code == 201, r.text

    await check(sup, cid, reply, "message.created")


async def _assigned(world: World, sup: InboxClient, agent: InboxClient) -> None:
    cid = await world.conversation(sup, "Please call me")

    async def assign() -> None:
        async with sup.http() as http:
            r = await http.post(f"/api/v1/conversations/{cid}/assign",
                                json={"agent_id": ids(world.hub)["agent2"]})
            assert r.status_code == 200, r.text

    await check(sup, cid, assign, "conversation.assigned")


async def _resolve(world: World, sup: InboxClient, kind: str) -> None:
    cid = await world.conversation(sup, "Thanks, all good")

    async def resolve() -> None:
        async with sup.http() as http:
            r = await http.post(f"/api/v1/conversations/{cid}/status",
                                json={"status": "resolved"})
            assert r.status_code == 200, r.text

    await check(sup, cid, resolve, kind)


async def _status(world: World, sup: InboxClient, agent: InboxClient) -> None:
    await _resolve(world, sup, "conversation.status")


async def _workitem_updated(world: World, sup: InboxClient, agent: InboxClient) -> None:
    await _resolve(world, sup, "workitem.updated")


async def _offered(world: World, sup: InboxClient, agent: InboxClient) -> None:
    await check(agent, None, lambda: world.customer_writes("Offer me"), "workitem.offered")


async def _accept(world: World, agent: InboxClient, kind: str) -> None:
    since = len(agent.events)
    await world.customer_writes("Take me")
    offer = await agent.wait_for("workitem.offered", since)

    async def accept() -> None:
        async with agent.http() as http:
            r = await http.post(f"/api/v1/work-items/{offer['work_item_id']}/accept")
            assert r.status_code == 200, r.text

    await check(agent, int(offer["conversation_id"]), accept, kind)


async def _held_item(world: World, agent: InboxClient) -> dict[str, Any]:
    """A new conversation offered to and accepted by ``agent``; returns the offer."""
    since = len(agent.events)
    await world.customer_writes("Hold me")
    offer = await agent.wait_for("workitem.offered", since)
    async with agent.http() as http:
        r = await http.post(f"/api/v1/work-items/{offer['work_item_id']}/accept")
        assert r.status_code == 200, r.text
    return offer


async def _reassigned(world: World, sup: InboxClient, agent: InboxClient) -> None:
    offer = await _held_item(world, agent)
    other = await InboxClient(world.hub, AGENT3).connect()  # online: may be given work
    try:
        async def reassign() -> None:
            async with sup.http() as http:
                r = await http.post(f"/api/v1/work-items/{offer['work_item_id']}/reassign",
                                    json={"agent_id": other.me["id"]})
                assert r.status_code == 200, r.text

        await check(sup, int(offer["conversation_id"]), reassign, "workitem.reassigned")
    finally:
        await other.close()


async def _transferred(world: World, sup: InboxClient, agent: InboxClient) -> None:
    offer = await _held_item(world, agent)

    async def transfer() -> None:
        async with sup.http() as http:
            r = await http.post(f"/api/v1/work-items/{offer['work_item_id']}/transfer",
                                json={"queue": "sales"})
            assert r.status_code == 200, r.text

    await check(sup, int(offer["conversation_id"]), transfer, "workitem.transferred")


async def _merged(world: World, sup: InboxClient, agent: InboxClient) -> None:
    keep = await world.conversation(sup, "I am Dana")
    gone = await world.conversation(sup, "Dana again, other account")
    survivor = await world.db.fetchval("SELECT contact_id FROM conversations WHERE id = $1",
                                       keep)
    other = await world.db.fetchval("SELECT contact_id FROM conversations WHERE id = $1",
                                    gone)

    async def merge() -> None:
        async with sup.http() as http:
            r = await http.post(f"/api/v1/contacts/{survivor}/merge",
                                json={"other_id": other})
            assert r.status_code == 200, r.text

    await check(sup, gone, merge, "contact.merged")


async def _cti(world: World, body: dict[str, Any]) -> None:
    r = await post(world.hub, body)
    assert r.status_code == 200, r.text


def _new_call(call_id: str) -> dict[str, Any]:
    return ev("newCall", call_id, user=["Maya Schneider"], queue="support")


async def _ringing(world: World, sup: InboxClient, agent: InboxClient) -> None:
    await check(sup, None, lambda: _cti(world, _new_call(new_id())), "call.ringing")


async def _answered(world: World, sup: InboxClient, agent: InboxClient) -> None:
    call_id, since = new_id(), len(sup.events)
    await _cti(world, _new_call(call_id))
    await sup.wait_for("call.ringing", since)
    await check(sup, None, lambda: _cti(world, ev("answer", call_id, answeringNumber="101")),
                "call.answered")


async def _call_updated(world: World, sup: InboxClient, agent: InboxClient) -> None:
    call_id, since = new_id(), len(sup.events)
    await _cti(world, _new_call(call_id))
    await _cti(world, ev("answer", call_id, answeringNumber="101"))
    await sup.wait_for("call.answered", since)
    hangup = ev("hangup", call_id, cause="normalClearing", answeringNumber="101")
    await check(sup, None, lambda: _cti(world, hangup), "call.updated")


async def _callback_updated(world: World, sup: InboxClient, agent: InboxClient) -> None:
    request_id = new_id()
    assert (await ask_callback(world.hub, request_id=request_id)).status_code == 202
    cb = await stored_callback(world.db, request_id)
    # The PBX dials the callback the hub asked for and says so (CTI ``callbackId``).
    dialing = {"event": "newCall", "callId": new_id(), "direction": "out",
               "from": "493055571600", "to": "4930901820", "user": ["101"],
               "callbackId": str(cb["id"])}
    await check(sup, int(cb["conversation_id"]), lambda: _cti(world, dialing),
                "callback.updated")


def _escalating_config(hub: Any) -> dict[str, Any]:
    """Support escalates to the sales pool after 1 s; nobody of support is configured."""
    return doc(hub, queues=[
        {"id": "support", "escalation": [{"queues": ["support"], "timeout_s": 1},
                                         {"queues": ["support", "sales"]}]},
        {"id": "sales", "filter": 'queue == "sales"'},
    ], agents={"agent2": ["sales"]})


async def _escalated(world: World, sup: InboxClient, agent: InboxClient) -> None:
    await check(sup, None, lambda: world.customer_writes("Nobody answers"),
                "workitem.escalated")


async def _split(world: World, sup: InboxClient, agent: InboxClient) -> None:
    keep = await world.conversation(sup, "Dana here")
    moved = await world.conversation(sup, "Not Dana, shared login")
    survivor, other = [await world.db.fetchval(
        "SELECT contact_id FROM conversations WHERE id = $1", c) for c in (keep, moved)]
    identity = await world.db.fetchrow(
        "SELECT kind, value FROM identities WHERE contact_id = $1", other)
    async with sup.http() as http:  # one contact with both identities first
        r = await http.post(f"/api/v1/contacts/{survivor}/merge", json={"other_id": other})
        assert r.status_code == 200, r.text

    async def split() -> None:
        async with sup.http() as http:
            r = await http.post(f"/api/v1/contacts/{survivor}/split",
                                json={"identities": [f"{identity['kind']}:{identity['value']}"],
                                      "name": "Not Dana"})
            assert r.status_code == 201, r.text

    await check(sup, moved, split, "contact.split")


async def _offer_ended(world: World, sup: InboxClient, agent: InboxClient) -> None:
    await _accept(world, agent, "workitem.offer_ended")


async def _accepted(world: World, sup: InboxClient, agent: InboxClient) -> None:
    await _accept(world, agent, "workitem.accepted")


async def _presence(world: World, sup: InboxClient, agent: InboxClient) -> None:
    async def away() -> None:
        async with agent.http() as http:
            r = await http.put("/api/v1/routing/presence", json={"status": "away"})
            assert r.status_code == 200, r.text

    await check(agent, None, away, "agent.presence")


Case = Callable[[World, InboxClient, InboxClient], Awaitable[None]]
CASES: dict[str, Case] = {
    "conversation.created": _created,
    "workitem.created": _workitem_created,
    "message.created": _message_created,
    "conversation.assigned": _assigned,
    "conversation.status": _status,
    "workitem.updated": _workitem_updated,
    "workitem.offered": _offered,
    "workitem.offer_ended": _offer_ended,
    "workitem.accepted": _accepted,
    "agent.presence": _presence,
    "workitem.reassigned": _reassigned,
    "workitem.transferred": _transferred,
    "contact.merged": _merged,
    "call.ringing": _ringing,
    "call.answered": _answered,
    "call.updated": _call_updated,
    "callback.updated": _callback_updated,
    "workitem.escalated": _escalated,
    "contact.split": _split,
}
# Cases that need another routing config than the default one (set before the router runs).
CONFIGS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "workitem.escalated": _escalating_config,
}


def test_every_event_type_is_listed() -> None:
    listed = [*CASES, *EPHEMERAL, *RELOADS, *NOT_YET, *ELSEWHERE]
    assert len(listed) == len(set(listed)), "a type is listed twice"
    assert sorted(listed) == ALL_TYPES, (
        "every event type in hub/schema.py needs a case in CASES (or a reason in "
        "EPHEMERAL or RELOADS); unlisted: " + ", ".join(sorted(set(ALL_TYPES) - set(listed))))
    root = Path(__file__).resolve().parents[3]
    for kind, path in ELSEWHERE.items():
        assert (root / path).is_file(), f"{kind}: {path} is gone"


@pytest.mark.parametrize(
    "kind", sorted(set(ALL_TYPES) - set(EPHEMERAL) - set(RELOADS) - set(ELSEWHERE)))
async def test_stale_snapshot_plus_events_equals_fresh_snapshot(kind, hub, db, redis,
                                                                request):
    if kind in NOT_YET:
        pytest.skip(f"not checked yet: {NOT_YET[kind]}")
    if kind in KNOWN_DIVERGENCES:
        request.applymarker(pytest.mark.xfail(strict=True, raises=AssertionError,
                                                reason=KNOWN_DIVERGENCES[kind]))
    await run_case(CASES[kind], hub, db, redis, CONFIGS.get(kind))


async def test_private_note_snapshot(hub, db, redis):
    """A private note is not the list's last message and leaves ``last_message_at``
    alone, in REST and in the store alike (docs/frontend.md "The conversation list")."""
    async def private_note(world: World, sup: InboxClient, agent: InboxClient) -> None:
        await _message_created(world, sup, agent, private=True)

    await run_case(private_note, hub, db, redis)


async def run_case(case: Case, hub: Any, db: Any, redis: Any,
                   config: Callable[[Any], dict[str, Any]] | None = None) -> None:
    require(node_path() is not None, "needs node to run web/static/inbox-store.js")
    world = World(hub, db, redis)
    routing = config(hub) if config else doc(
        hub, queues=QUEUES, agents={"agent1": ["support"], "agent3": ["support"]})
    await configure(hub, db, redis, routing)
    sup = await InboxClient(hub, SUPERVISOR).connect()
    agent = await InboxClient(hub, AGENT1).connect()
    try:
        async with running_router(hub, db, redis):
            await case(world, sup, agent)
    finally:
        await asyncio.gather(sup.close(), agent.close())
