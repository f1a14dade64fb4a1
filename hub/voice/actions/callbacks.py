"""Callbacks: claim one for dialing when an agent accepts it (or presses "Call now"),
record what the telephony provider said, and the status a customer may see.

Status moves only forward (hub/voice/rules/callbacks.py); a failed attempt with attempts left
goes back to ``requested`` with its reason, and the work item stays with the agent who
dialled (they see why and may press "Call now" again; nothing undoes their "Assign to
me"). ``callbacks.reason`` holds a stable code (``DIAL_FAILURES``); events and answers
carry it as ``reason_code`` plus the short message as ``reason``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from hub import access
from hub.agents.store import active_agent_sees_inbox, agent_name
from hub.errors import Conflict, NotFound
from hub.outbox import Publisher
from hub.schema import (
    Agent,
    AnyEvent,
    ConversationAssigned,
    WorkItem,
    WorkItemUpdated,
)
from hub.unit_of_work import unit_of_work
from hub.voice.rules.callbacks import TERMINAL, failure_code, failure_message, next_status
from hub.voice.store import callbacks as store

if TYPE_CHECKING:
    import asyncpg

MAX_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class DialPlan:
    callback_id: int
    attempt: int
    inbox: str
    phone: str
    agent_id: int
    extension: str
    kind: str                 # 'twilio' | 'ami'
    config: dict[str, Any]


async def _item_update(conn: asyncpg.Connection, item_id: int | None, inbox: str,
                       status: str, agent_id: int | None) -> list[AnyEvent]:
    if item_id is None:
        return []
    r = await store.update_live_item(conn, item_id, status, agent_id)
    return [] if r is None else [WorkItemUpdated(inbox=inbox, work_item=WorkItem(**dict(r)))]


async def callback_for_agent(pool: asyncpg.Pool, agent: Agent, callback_id: int
                             ) -> dict[str, Any]:
    """"Call now" check: the agent may dial this callback. Returns the row."""
    r = await store.callback_with_assignee(pool, callback_id)
    if r is None:
        raise NotFound("no such callback")
    access.require(agent, "callback.call", inbox=r["inbox"], owner=r["assignee"])
    if r["status"] not in ("requested", "offered"):
        raise Conflict(f"the callback is {r['status']}")
    return dict(r)


async def claim_for_dialing(pool: asyncpg.Pool, publisher: Publisher, work_item_id: int,
                            agent_id: int, callback_id: int | None = None) -> DialPlan | None:
    """Take the callback of this work item for ``agent_id`` (status → dialing, item
    assigned, conversation assigned if free). None if it is not waiting any more (a
    second job for the same acceptance does nothing)."""
    events: list[AnyEvent] = []
    async with unit_of_work(pool, publisher) as uow:
        async with uow.transaction() as conn:
            r = await store.lock_waiting_callback(conn, work_item_id, callback_id)
            if r is None:
                return None
            agent_ok = await active_agent_sees_inbox(conn, agent_id, r["inbox"])
            extension = await store.first_extension(conn, agent_id)
            # Any: read below only when "problem" is empty, i.e. it was found.
            originator: Any = await store.originator_of(conn, r["inbox"])
            problem = ("agent_not_in_inbox" if not agent_ok else
                       "no_extension" if extension is None else
                       "no_provider" if originator is None else "")
            if problem:
                # A configuration problem: retrying cannot help; say so to everyone. The
                # work item stays where it is (the agent sees why).
                done = await store.fail_callback(conn, r["id"], problem)
                events.append(store.callback_event(done))
                await uow.emit(events)
                claimed = None
            else:
                done = await store.start_dialing(conn, r["id"], agent_id)
                events.append(store.callback_event(done))
                events.extend(await _item_update(conn, r["work_item_id"], r["inbox"],
                                                 "assigned", agent_id))
                if await store.assign_conversation_if_free(conn, r["conversation_id"],
                                                           agent_id):
                    events.append(ConversationAssigned(
                        inbox=r["inbox"], conversation_id=r["conversation_id"],
                        agent_id=agent_id, by_agent_id=agent_id,
                        agent_name=await agent_name(conn, agent_id)))
                await uow.emit(events)
                claimed = DialPlan(
                    callback_id=r["id"], attempt=done["attempts"], inbox=r["inbox"],
                    phone=r["phone"], agent_id=agent_id, extension=str(extension),
                    kind=originator["kind"], config=msgspec.json.decode(originator["config"]))
    return claimed


async def record_originate(pool: asyncpg.Pool, publisher: Publisher, callback_id: int, *,
                           status: str, reason: str = "", provider_call_id: str = "",
                           retryable: bool = False) -> str:
    """Store the provider's answer (``reason``: a ``DIAL_FAILURES`` code). A retryable
    failure with attempts left makes the callback ``requested`` again, still with the
    dialling agent's work item. Returns the stored status."""
    events: list[AnyEvent] = []
    async with unit_of_work(pool, publisher) as uow:
        async with uow.transaction() as conn:
            r = await store.lock_callback(conn, callback_id)
            if r is None:
                raise NotFound("no such callback")
            wanted = status
            back_to_queue = status == "failed" and retryable and r["attempts"] < MAX_ATTEMPTS
            if back_to_queue and r["status"] == "dialing":
                wanted = "requested"
            elif next_status(r["status"], wanted) is None:
                if provider_call_id and not r["provider_call_id"]:
                    await store.set_provider_call_id(conn, callback_id, provider_call_id)
                return str(r["status"])
            done = await store.record_dial_outcome(conn, callback_id, wanted, reason[:300],
                                                   provider_call_id)
            events.append(store.callback_event(done))
            await uow.emit(events)
    return str(wanted)


async def public_status(pool: asyncpg.Pool, request_id: str) -> dict[str, Any]:
    """What the customer's widget may know: status and a short reason, nothing else."""
    r = await store.status_by_source_key(pool, f"widget:{request_id}")
    if r is None:
        return {"status": "received", "final": False}
    reason = r["reason"] if r["status"] == "failed" else ""
    return {"status": r["status"], "final": r["status"] in TERMINAL,
            "reason": "We could not reach you." if reason else "",
            "updated_at": r["updated_at"].isoformat()}


async def callbacks_of(pool: asyncpg.Pool, agent: Agent, conversation_id: int
                       ) -> list[dict[str, Any]]:
    # The conversation's inbox decides, as for the conversation itself (not an empty list).
    inbox = await store.conversation_inbox(pool, conversation_id)
    if inbox is None:
        raise NotFound("no such conversation")
    access.require(agent, "callback.view", inbox=inbox)
    rows = await store.callbacks_of_conversation(pool, conversation_id)
    return [_public_row(r) for r in rows if agent.may_see_inbox(r["inbox"])]


def _public_row(r: asyncpg.Record) -> dict[str, Any]:
    """An agent's view of a callback: the stored code as ``reason_code`` and its
    message as ``reason`` (never provider text)."""
    out = dict(r)
    out["reason_code"] = failure_code(r["reason"])
    out["reason"] = failure_message(r["reason"])
    return out
