"""``message.status`` in the event/snapshot check (the rest of it, and why each event type
is there: tests/integration/conversations/test_event_snapshots.py). Kept here because it
needs the messaging fixtures, whose ``settings`` points the provider APIs at the local fake:
an SMS conversation, an agent reply sent by the real arq worker to the fake Twilio, then
Twilio's signed status callback; the open conversation's messages in the agent's client,
stale snapshot plus events, must equal a fresh snapshot."""

from __future__ import annotations

from typing import Any

from tests.fixtures.client_state import InboxClient, check
from tests.fixtures.fake_providers import FakeProviders, Webhooks
from tests.fixtures.helpers import SUPERVISOR, eventually, new_id
from tests.fixtures.messaging import fake, fake_port, settings, webhooks, worker

__all__ = ["fake", "fake_port", "settings", "webhooks", "worker"]  # fixtures

PHONE = "+447700900513"


async def test_message_status_snapshot(hub: Any, fake: FakeProviders, webhooks: Webhooks,
                                       worker: Any, db: Any) -> None:
    sup = await InboxClient(hub, SUPERVISOR).connect()
    try:
        since = len(sup.events)
        r = await webhooks.twilio("twilio-sms", webhooks.twilio_inbound(
            "twilio-sms", PHONE, "My router blinks red"))
        assert r.status_code == 200, r.text
        created = await sup.wait_for("conversation.created", since)
        cid = created["conversation"]["id"]
        async with sup.http() as http:
            r = await http.post(f"/api/v1/conversations/{cid}/messages",
                                json={"text": "Please restart it", "client_id": new_id()})
            assert r.status_code == 201, r.text
            out = r.json()["message"]
        await sup.wait_for("message.status", since)  # "sent": the worker delivered it
        sid = await eventually(lambda: db.fetchval(
            "SELECT provider_ref FROM outbound_provider_ids WHERE message_id = $1", out["id"]))

        async def delivered() -> None:
            r = await webhooks.twilio("twilio-sms", webhooks.twilio_status(
                "twilio-sms", sid, "delivered", PHONE))
            assert r.status_code == 200, r.text

        await check(sup, cid, delivered, "message.status")
    finally:
        await sup.close()
