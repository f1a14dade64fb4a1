"""Open agent sockets lose access the moment REST does (docs/realtime.md, "Access on
open agent sockets"): inbox removal, role demotion, logout, deactivation and a session
ended without notice, live over real websockets; and the change reaches a socket on
another web process."""

from __future__ import annotations

import json

from hub.schema import QueueStats
from tests.fixtures.helpers import (
    AGENT,
    SUPERVISOR,
    agent_http,
    agent_ws,
    api_post,
    is_event,
    login,
    new_id,
    recv_json,
    recv_until,
)
from tests.fixtures.realtime import (
    ADMIN,
    close_code,
    frames_before_pong,
    frames_until,
    make_agent,
    patch_agent,
    second_web_process,
)
from web.realtime.fanout import Fanout, Subscriber

RELOAD = {"type": "reload", "reason": "access_changed"}


def _is_access_reload(frame: dict) -> bool:
    return frame == RELOAD


async def _post_api(hub, text: str) -> None:
    r = await api_post(hub.base_url, hub.seed["api_token"],
                       {"source_id": "access-" + text.replace(" ", "-"), "text": text, "message_id": new_id()})
    assert r.status_code == 202


def _api_events(frames: list[dict]) -> list[dict]:
    return [f for f in frames if f.get("type") == "event" and f["event"].get("inbox") == "api"]


async def test_removed_inbox_stops_events_and_refuses_actions(hub):
    temp_id, cookie = await make_agent(hub, "removed@demo.omnihub.test",
                                       inboxes=["api", "web"])
    temp = await agent_ws(hub.ws_url, hub.base_url, cookie)
    bystander = await agent_ws(hub.ws_url, hub.base_url, await login(hub.base_url, AGENT))
    try:
        assert (await recv_json(temp))["type"] == "hello"
        assert (await recv_json(bystander))["type"] == "hello"
        await _post_api(hub, "before removal")
        created = await recv_until(temp, is_event("message.created",
                                                  message__text="before removal"))
        conv = created["event"]["message"]["conversation_id"]

        await patch_agent(hub, temp_id, {"inboxes": ["web"]})
        # Applied to the open socket without any frame from it.
        await frames_until(temp, _is_access_reload, timeout=5)

        async with agent_http(hub.base_url, cookie) as rest:
            assert (await rest.get(f"/api/v1/conversations/{conv}")).status_code == 403
        await temp.send(json.dumps({"type": "reply", "conversation_id": conv,
                                    "client_id": "after-removal", "text": "still here?"}))
        error = await recv_until(temp, lambda f: f.get("type") in ("ack", "error"))
        assert error["type"] == "error" and error["code"] == "forbidden", error
        assert error["client_id"] == "after-removal"
        await temp.send(json.dumps({"type": "typing", "conversation_id": conv, "on": True}))
        error = await recv_until(temp, lambda f: f.get("type") == "error")
        assert error["code"] == "forbidden"

        await _post_api(hub, "after removal")
        # The bystander (still a member) gets it, so it was fanned out to every socket.
        await recv_until(bystander, is_event("message.created", message__text="after removal"))
        assert _api_events(await frames_before_pong(temp)) == []
    finally:
        await temp.close()
        await bystander.close()


async def test_demoted_supervisor_loses_supervisor_only_events(hub):
    sup_id, cookie = await make_agent(hub, "demoted@demo.omnihub.test", role="supervisor")
    demoted = await agent_ws(hub.ws_url, hub.base_url, cookie)
    board = await agent_ws(hub.ws_url, hub.base_url, await login(hub.base_url, SUPERVISOR))
    publisher = hub.app.state.hub.publisher
    try:
        assert (await recv_json(demoted))["type"] == "hello"
        assert (await recv_json(board))["type"] == "hello"
        await publisher.publish_ephemeral(QueueStats(queue="q-before", inbox="api", depth=1,
                                                     oldest_wait_s=1.0))
        await recv_until(demoted, is_event("queue.stats", queue="q-before"))

        await patch_agent(hub, sup_id, {"role": "agent"})
        await frames_until(demoted, _is_access_reload, timeout=5)
        async with agent_http(hub.base_url, cookie) as rest:
            r = await rest.post("/api/v1/work-items/1/reassign", json={"agent_id": 1})
            assert r.status_code == 403
        await publisher.publish_ephemeral(QueueStats(queue="q-after", inbox="api", depth=2,
                                                     oldest_wait_s=2.0))
        await recv_until(board, is_event("queue.stats", queue="q-after"))
        stats = [f for f in await frames_before_pong(demoted)
                 if f.get("type") == "event" and f["event"]["type"] == "queue.stats"]
        assert stats == []
    finally:
        await demoted.close()
        await board.close()


async def test_logout_and_deactivation_close_open_sockets(hub, db):
    agent_id, cookie = await make_agent(hub, "leaver@demo.omnihub.test", inboxes=["api"])
    other_session = await login(hub.base_url, ("leaver@demo.omnihub.test", "long enough pw"))
    leaving = await agent_ws(hub.ws_url, hub.base_url, cookie)
    staying = await agent_ws(hub.ws_url, hub.base_url, other_session)
    try:
        assert (await recv_json(leaving))["type"] == "hello"
        assert (await recv_json(staying))["type"] == "hello"
        async with agent_http(hub.base_url, cookie) as rest:
            assert (await rest.post("/logout")).status_code == 303
        # Closed by the logout's announcement, long before the 30 s sweep.
        assert await close_code(leaving, timeout=5) == 1008
        # The agent's other session is untouched...
        assert await frames_before_pong(staying) is not None
        # ...until the agent is deactivated.
        await patch_agent(hub, agent_id, {"active": False})
        assert await close_code(staying, timeout=5) == 1008
        assert await db.fetchval("SELECT count(*) FROM sessions WHERE agent_id = $1",
                                 agent_id) == 0
    finally:
        await leaving.close()
        await staying.close()


async def test_session_ended_without_notice_refuses_the_next_action(hub, db):
    """No announcement at all (a session row removed behind the hub's back): the next
    socket action re-reads the session, is refused and the socket closes."""
    _agent_id, cookie = await make_agent(hub, "silent@demo.omnihub.test", inboxes=["api"])
    ws = await agent_ws(hub.ws_url, hub.base_url, cookie)
    try:
        assert (await recv_json(ws))["type"] == "hello"
        await _post_api(hub, "silent")
        created = await recv_until(ws, is_event("message.created", message__text="silent"))
        conv = created["event"]["message"]["conversation_id"]
        await db.execute("DELETE FROM sessions WHERE agent_id = $1", _agent_id)
        await ws.send(json.dumps({"type": "reply", "conversation_id": conv,
                                  "client_id": "ghost", "text": "should not be stored"}))
        assert await close_code(ws, timeout=5) == 1008
        assert await db.fetchval(
            "SELECT count(*) FROM messages WHERE provider_id LIKE $1", "%:ghost") == 0
    finally:
        await ws.close()


async def test_socket_closes_when_its_session_expires(hub, db):
    """Nobody announces an expiry: the socket re-reads its session when it expires."""
    _agent_id, cookie = await make_agent(hub, "expiring@demo.omnihub.test", inboxes=["api"])
    await db.execute("UPDATE sessions SET expires_at = now() + interval '3 seconds'"
                     " WHERE agent_id = $1", _agent_id)
    ws = await agent_ws(hub.ws_url, hub.base_url, cookie)
    try:
        assert (await recv_json(ws))["type"] == "hello"
        assert await close_code(ws, timeout=10) == 1008
    finally:
        await ws.close()


async def test_access_changes_reach_sockets_on_another_web_process(hub, settings):
    """The admin's change is made on one process; the socket lives on another."""
    temp_id, cookie = await make_agent(hub, "elsewhere@demo.omnihub.test",
                                       inboxes=["api", "web"])
    async with second_web_process(settings) as other_ws_url:
        ws = await agent_ws(other_ws_url, hub.base_url, cookie)
        try:
            assert (await recv_json(ws))["type"] == "hello"
            await patch_agent(hub, temp_id, {"inboxes": ["web"]})
            await frames_until(ws, _is_access_reload, timeout=5)
            await patch_agent(hub, temp_id, {"active": False})
            assert await close_code(ws, timeout=5) == 1008
        finally:
            await ws.close()


def test_resubscribe_moves_an_agent_socket_and_never_revives_a_closed_one():
    """Pure fan-out: after a narrowing, new events and already-queued ones of the lost
    inbox are not written; a socket removed while closing is not put back."""
    fanout = Fanout(None, "events")  # type: ignore[arg-type]  # dispatch needs no Redis
    sub = Subscriber(queue_size=8, inboxes=frozenset({"api", "web"}), agent_id=7)
    fanout.add(sub)

    def event(inbox: str, n: int) -> None:
        fanout.dispatch(f"1-{n}".encode(), {b"e": b"{}", b"i": inbox.encode(), b"c": b"1",
                                            b"w": b""})

    event("api", 1)
    fanout.resubscribe(sub, frozenset({"web"}))
    event("api", 2)
    event("web", 3)
    queued = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
    assert [q[0] for q in queued] == [(1, 1), (1, 3)]
    assert [sub.still_wants(q[2]) for q in queued] == [False, True]

    fanout.resubscribe(sub, None)  # promoted: every event
    event("api", 4)
    assert sub.queue.qsize() == 1
    fanout.remove(sub)
    fanout.resubscribe(sub, frozenset({"api"}))
    assert fanout.socket_count == 0
    event("api", 5)
    assert sub.queue.qsize() == 1


async def test_removal_through_the_inbox_members_route_applies_to_open_sockets(hub, db):
    """Settings' members editor (PUT /api/v1/admin/inboxes/{slug}/members) is the other
    side of an agent's inbox list: its open sockets follow it the same way."""
    temp_id, cookie = await make_agent(hub, "unlisted@demo.omnihub.test",
                                       inboxes=["api", "web"])
    temp = await agent_ws(hub.ws_url, hub.base_url, cookie)
    try:
        assert (await recv_json(temp))["type"] == "hello"
        await _post_api(hub, "before unlisting")
        created = await recv_until(temp, is_event("message.created",
                                                  message__text="before unlisting"))
        conv = created["event"]["message"]["conversation_id"]
        others = [r[0] for r in await db.fetch(
            "SELECT agent_id FROM agent_inboxes WHERE inbox = 'api' AND agent_id <> $1",
            temp_id)]
        async with agent_http(hub.base_url, await login(hub.base_url, ADMIN)) as admin:
            r = await admin.put("/api/v1/admin/inboxes/api/members", json={"agents": others})
            assert r.status_code == 200, r.text
        await frames_until(temp, _is_access_reload, timeout=5)
        await temp.send(json.dumps({"type": "reply", "conversation_id": conv,
                                    "client_id": "unlisted", "text": "still here?"}))
        error = await recv_until(temp, lambda f: f.get("type") in ("ack", "error"))
        assert error["type"] == "error" and error["code"] == "forbidden", error
    finally:
        await temp.close()
