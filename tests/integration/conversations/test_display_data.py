"""What the front-ends display comes from the server: agents' names beside their ids (REST
snapshots, the board, conversation.assigned events) and the length limits in each
socket's hello. Real hub, router task, Postgres, Valkey, HTTP and websockets."""

from __future__ import annotations

from channels.chat import MAX_TEXT as WIDGET_MAX
from hub.conversations.actions import MAX_TEXT as AGENT_MAX
from tests.fixtures.helpers import SUPERVISOR, agent_http, agent_ws, login, recv_json, widget_ws
from tests.fixtures.routing_live import AgentClient, configure, doc, running_router, start_chat


async def test_hellos_carry_the_servers_length_limits(hub):
    widget = await widget_ws(hub.ws_url, "https://shop.example")
    try:
        hello = await recv_json(widget)
        assert hello["type"] == "hello"
        assert hello["limits"] == {"text": WIDGET_MAX}
    finally:
        await widget.close()
    cookie = await login(hub.base_url)
    agent = await agent_ws(hub.ws_url, hub.base_url, cookie)
    try:
        hello = await recv_json(agent)
        assert hello["limits"] == {"text": AGENT_MAX,
                                   "frame_bytes": hub.settings.ws_max_frame}
    finally:
        await agent.close()


async def test_assignments_and_the_board_carry_agent_names(hub, db, redis):
    await configure(hub, db, redis, doc(hub, queues=[
        {"id": "support", "filter": 'queue == "support"'}], agents={"agent1": ["support"]}))
    a1 = await AgentClient(hub, "agent1").connect()
    widget = None
    try:
        async with running_router(hub, db, redis):
            widget = await start_chat(hub, "My router blinks red")
            offer = await a1.wait_event("workitem.offered", agent_id=a1.id)
            item = offer["work_item_id"]
            resp = await a1.post(f"/api/v1/work-items/{item}/accept")
            assert resp.status_code == 200, resp.text
            assigned = await a1.wait_event("conversation.assigned", agent_id=a1.id)
            assert assigned["agent_name"] == "Maya Schneider"

            cookie = await login(hub.base_url, SUPERVISOR)
            async with agent_http(hub.base_url, cookie) as http:
                conv = (await http.get(f"/api/v1/conversations/{assigned['conversation_id']}"
                                       )).json()["conversation"]
                assert (conv["assignee_id"], conv["assignee_name"]) == (a1.id, "Maya Schneider")
                listed = (await http.get("/api/v1/conversations?assignee=all")).json()
                names = {c["conversation"]["id"]: c["conversation"]["assignee_name"]
                         for c in listed["conversations"]}
                assert names[assigned["conversation_id"]] == "Maya Schneider"
                board = (await http.get("/api/v1/routing/queues")).json()
                held = [i for i in board["active"] if i["work_item_id"] == item]
                assert [(i["agent_id"], i["agent_name"]) for i in held] == [
                    (a1.id, "Maya Schneider")]

                # Unassigning names nobody.
                resp = await http.post(
                    f"/api/v1/conversations/{assigned['conversation_id']}/assign",
                    json={"agent_id": None})
                assert resp.status_code == 200, resp.text
                assert resp.json()["conversation"]["assignee_name"] == ""
            released = await a1.wait_new("conversation.assigned", agent_id=None)
            assert released["agent_name"] == ""
    finally:
        if widget is not None:
            await widget.close()
        await a1.close()
