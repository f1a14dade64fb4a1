"""Agent actions on calls: wrap-up (disposition + notes), scripts (upload, walk, save
answers). Each runs one transaction and publishes its events after commit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from hub import access
from hub.conversations.store.queries import get_conversation
from hub.errors import BadInput, Conflict, Forbidden, NotFound
from hub.outbox import Publisher
from hub.schema import Agent, AnyEvent, CallInfo, CallUpdated, WorkItem, WorkItemUpdated
from hub.unit_of_work import unit_of_work
from hub.voice.rules import scripts as sc
from hub.voice.store import call_records, scripts
from hub.voice.store import context as voice_context
from hub.voice.store.calls import call_info

if TYPE_CHECKING:
    import asyncpg

MAX_NOTES = 5000


async def get_call(conn: asyncpg.Connection | asyncpg.Pool, agent: Agent,
                   call_row_id: int) -> CallInfo:
    r = await call_records.call_row(conn, call_row_id)
    if r is None or r["state"] == "":
        raise NotFound("no such call")
    if not agent.may_see_inbox(r["inbox"]):
        raise Forbidden("not a member of this inbox")
    return call_info(r)


async def list_calls(conn: asyncpg.Pool, agent: Agent, *, conversation_id: int | None = None,
                     contact_id: int | None = None, limit: int = 50) -> list[CallInfo]:
    rows = await call_records.recent_calls(conn, conversation_id=conversation_id,
                                           contact_id=contact_id, limit=limit)
    return [call_info(r) for r in rows if agent.may_see_inbox(r["inbox"])]


async def dispositions(conn: asyncpg.Connection | asyncpg.Pool) -> list[dict[str, Any]]:
    return await call_records.active_dispositions(conn)


async def replace_dispositions(pool: asyncpg.Pool, items: list[tuple[str, str]]) -> None:
    """Admin: the configurable list. Removed codes are deactivated (old calls keep them)."""
    async with pool.acquire() as conn, conn.transaction():
        await call_records.replace_dispositions(conn, items)


async def save_wrapup(pool: asyncpg.Pool, publisher: Publisher, agent: Agent,
                      call_row_id: int, disposition: str, notes: str) -> CallInfo:
    """The agent's disposition and notes end the wrap-up: the call's work item is
    completed, which frees the agent's voice capacity."""
    notes = notes.strip()
    if len(notes) > MAX_NOTES:
        raise BadInput(f"notes: at most {MAX_NOTES} characters")
    events: list[AnyEvent] = []
    async with unit_of_work(pool, publisher) as uow:
        async with uow.transaction() as conn:
            r = await call_records.lock_call_for_wrapup(conn, call_row_id)
            if r is None or r["state"] == "":
                raise NotFound("no such call")
            access.require(agent, "call.wrapup", inbox=r["inbox"], owner=r["agent_id"])
            if r["state"] in ("ringing", "answered"):
                raise Conflict("the call is still going on")
            if not await call_records.disposition_is_active(conn, disposition):
                raise BadInput("disposition: not one of the configured codes")
            now = datetime.now(UTC)
            updated = await call_records.save_call_wrapup(conn, call_row_id, disposition,
                                                          notes, now, agent.id)
            info = call_info(updated)
            events.append(CallUpdated(inbox=info.inbox, call=info))
            if r["wrapup_ended_at"] is None and info.conversation_id is not None:
                item = await call_records.complete_wrapup_item(conn, info.conversation_id)
                if item is not None:
                    events.append(WorkItemUpdated(inbox=info.inbox,
                                                  work_item=WorkItem(**dict(item))))
            await call_records.audit_wrapup(conn, agent.id, call_row_id, disposition)
            await uow.emit(events)
    return info


# ---- scripts --------------------------------------------------------------------------


async def store_script(pool: asyncpg.Pool, agent: Agent, script: sc.Script,
                       source: str) -> dict[str, Any]:
    """Insert, or replace the script of the same name (a new version of it)."""
    doc = script.doc
    graph = msgspec.json.encode(sc.graph_of(script)).decode()
    r = await scripts.upsert_script(pool, name=doc.name, queue=doc.queue, topic=doc.topic,
                                    graph=graph, source=source[:200_000], created_by=agent.id)
    return {**dict(r), "steps": len(doc.steps)}


async def list_scripts(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    return await scripts.active_scripts(pool)


async def _script_context(conn: asyncpg.Connection, agent: Agent, conversation_id: int
                          ) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """(script row for the conversation, variables)."""
    conv = await get_conversation(conn, agent, conversation_id)
    call = await call_records.latest_call_of_conversation(conn, conversation_id)
    callback = await scripts.latest_callback_topic(conn, conversation_id)
    queue = await scripts.latest_item_queue(conn, conversation_id) or ""
    info = call_info(call) if call is not None else None
    topic = (callback["topic"] if callback else "") or (info.ivr.get("topic", "") if info
                                                       else "")
    chosen = await voice_context.script_for(conn, (info.queue if info else "") or queue, topic)
    if chosen is None and info is not None and info.queue:
        chosen = await voice_context.script_for(conn, queue, topic)
    context, _ = await voice_context.caller_context(conn, conv.contact_id, agent, "")
    context["ivr"] = info.ivr if info else {}
    values = sc.variables_from_context(
        context, agent_name=agent.name, topic=topic,
        call=msgspec.to_builtins(info) if info else None)
    return chosen, values


async def _load_script(conn: asyncpg.Connection, script_id: int) -> sc.Script:
    graph = await scripts.script_graph(conn, script_id)
    if graph is None:
        raise NotFound("no such script")
    return sc.script_from_graph(msgspec.json.decode(graph))


async def conversation_script(pool: asyncpg.Pool, agent: Agent, conversation_id: int,
                              script_id: int | None = None) -> dict[str, Any]:
    """The script for this conversation (or ``script_id``), where the agent is in it."""
    async with pool.acquire() as conn:
        chosen, values = await _script_context(conn, agent, conversation_id)
        if script_id is not None:
            name = await scripts.script_name(conn, script_id)
            if name is None:
                raise NotFound("no such script")
            chosen = {"id": script_id, "name": name}
        if chosen is None:
            return {"script": None}
        script = await _load_script(conn, chosen["id"])
        saved = await scripts.run_state(conn, conversation_id, chosen["id"])
        state = (msgspec.json.decode(saved, type=sc.RunState) if saved is not None
                 else sc.start_run(script))
        return {"script": chosen, "view": sc.render(script, state, values)}


async def walk_script(pool: asyncpg.Pool, agent: Agent, conversation_id: int, script_id: int,
                      step: str, value: str | None) -> dict[str, Any]:
    """Answer the current step (``value``) or go back one (``value`` None); the run
    (path + answers) is saved on the conversation."""
    async with pool.acquire() as conn, conn.transaction():
        _, values = await _script_context(conn, agent, conversation_id)
        script = await _load_script(conn, script_id)
        await scripts.start_run_once(conn, conversation_id, script_id, agent.id,
                                     msgspec.json.encode(sc.start_run(script)).decode())
        saved = await scripts.lock_run_state(conn, conversation_id, script_id)
        state = msgspec.json.decode(saved, type=sc.RunState)
        if value is None:
            state = sc.back_step(script, state)
        else:
            state = sc.answer_step(script, state, step, value)
        await scripts.save_run_state(conn, conversation_id, script_id,
                                     msgspec.json.encode(state).decode(), agent.id)
        name = await scripts.script_name(conn, script_id)
        return {"script": {"id": script_id, "name": name},
                "view": sc.render(script, state, values)}
