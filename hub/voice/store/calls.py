"""Voice envelopes in the pipeline transaction: call events through the state machine
(hub/voice/rules/callstate.py) into ``calls``, and callback requests into ``callbacks``.

Each call event is applied once (``call_events`` primary key), under a row lock on its
call, in stream order. A call becomes one conversation message (``call:<callId>``) in
the customer's voice conversation, so it shows in the cross-channel timeline; its state
lives on the ``calls`` row and travels as ``call.*`` events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
import msgspec

from hub.agents.store import agent_name
from hub.contacts.rules.identity import identity_key
from hub.contacts.store.linking import resolve_sender_contacts
from hub.conversations.store.ingest_rows import (
    BatchResult,
    InboxFacts,
    insert_messages,
    open_conversations,
)
from hub.schema import (
    AnyEvent,
    Author,
    CallAnswered,
    CallbackUpdated,
    CallInfo,
    CallRinging,
    CallUpdated,
    Conversation,
    ConversationAssigned,
    Envelope,
    MessageCreated,
    WorkItem,
    WorkItemCreated,
    WorkItemUpdated,
)
from hub.voice.rules.callbacks import CallbackRequest
from hub.voice.rules.callstate import CallRecord, CallSignal, Transition, apply_signal
from hub.voice.store import callbacks as callbacks_store
from hub.voice.store import context as voice_context

_CALL_COLS = ("id, inbox, call_id, direction, state, from_number, to_number, queue, users,"
              " answering, cause, ivr, agent_id, conversation_id, contact_id, message_id,"
              " started_at, answered_at, ended_at, duration_s, disposition, notes")
_ITEM_COLS = "id, conversation_id, queue, channel, status, priority, agent_id, created_at"


def call_info(r: asyncpg.Record | dict[str, Any]) -> CallInfo:
    ivr = r["ivr"]
    return CallInfo(
        id=r["id"], inbox=r["inbox"], call_id=r["call_id"], direction=r["direction"],
        state=r["state"], from_number=r["from_number"], to_number=r["to_number"],
        queue=r["queue"], cause=r["cause"], agent_id=r["agent_id"],
        conversation_id=r["conversation_id"], contact_id=r["contact_id"],
        ivr=msgspec.json.decode(ivr) if isinstance(ivr, str | bytes) else dict(ivr or {}),
        started_at=r["started_at"], answered_at=r["answered_at"], ended_at=r["ended_at"],
        duration_s=r["duration_s"], disposition=r["disposition"], notes=r["notes"],
    )


def _record(r: asyncpg.Record) -> CallRecord | None:
    if r["state"] == "":
        return None  # the placeholder row inserted to take the lock
    return CallRecord(
        call_id=r["call_id"], direction=r["direction"], state=r["state"],
        from_number=r["from_number"], to_number=r["to_number"], queue=r["queue"],
        users=tuple(r["users"]), answering=r["answering"], cause=r["cause"],
        ivr=msgspec.json.decode(r["ivr"]), started_at=r["started_at"],
        answered_at=r["answered_at"], ended_at=r["ended_at"],
    )


def _call_text(rec: CallRecord) -> str:
    if rec.direction == "in":
        return f"Incoming call from {rec.from_number or 'an unknown number'}"
    return f"Outgoing call to {rec.to_number or 'an unknown number'}"


class VoiceBatch:
    """Applies the voice items of one pipeline batch inside its transaction."""

    def __init__(self, conn: asyncpg.Connection, inboxes: Mapping[str, InboxFacts],
                 result: BatchResult) -> None:
        self.conn = conn
        self.inboxes = inboxes
        self.result = result
        self.events: list[AnyEvent] = result.events

    # ---- conversations -----------------------------------------------------------

    async def conversation_from_row(self, env: Envelope, subject: str) -> tuple[Conversation, int]:
        """(the customer's open voice conversation, contact id), created if needed."""
        key = identity_key(env.sender)
        # The identity rules every channel uses (CRM phone match, merged contacts'
        # tombstones followed under a key-share lock): docs/identity.md.
        contacts = await resolve_sender_contacts(self.conn, [env])
        contact_id, name = contacts[key]
        convs = await open_conversations(
            self.conn, {(contact_id, env.channel_account): (env.channel, key, subject, name)},
            self.inboxes, self.events)
        return convs[(contact_id, env.channel_account)], contact_id

    async def _message(self, env: Envelope, conv: Conversation, provider_id: str,
                       text: str, ingest_id: str) -> int | None:
        stub = msgspec.structs.replace(env, provider_id=provider_id, text=text)
        msgs = await insert_messages(self.conn, [(
            stub, conv.id, Author(kind="contact", name=env.sender_name or conv.contact_name),
            ingest_id)])
        for m in msgs:
            self.events.append(MessageCreated(inbox=conv.inbox, message=m))
        self.result.stored += len(msgs)
        return msgs[0].id if msgs else None

    async def _live_item(self, conv: Conversation, *, priority: int = 0) -> WorkItem:
        """The conversation's live work item; a queued one is created when there is none."""
        r = await self.conn.fetchrow(
            f"SELECT {_ITEM_COLS} FROM work_items WHERE conversation_id = $1"
            " AND status NOT IN ('completed', 'cancelled') FOR UPDATE", conv.id)
        if r is None:
            r = await self.conn.fetchrow(
                "INSERT INTO work_items (conversation_id, queue, channel, priority)"
                " VALUES ($1, $2, 'voice', $3)"
                f" RETURNING {_ITEM_COLS}",
                conv.id, self.inboxes[conv.inbox].default_queue, priority)
            item = WorkItem(**dict(r))
            self.events.append(WorkItemCreated(inbox=conv.inbox, work_item=item))
            return item
        return WorkItem(**dict(r))

    async def _set_item(self, conv_id: int, inbox: str, status: str,
                        agent_id: int | None) -> None:
        r = await self.conn.fetchrow(
            "UPDATE work_items SET status = $2, agent_id = $3, updated_at = now()"
            " WHERE conversation_id = $1 AND status NOT IN ('completed', 'cancelled')"
            " AND (status, agent_id) IS DISTINCT FROM ($2, $3)"
            f" RETURNING {_ITEM_COLS}", conv_id, status, agent_id)
        if r is not None:
            self.events.append(WorkItemUpdated(inbox=inbox, work_item=WorkItem(**dict(r))))

    async def _item_if(self, conv_id: int, inbox: str, from_status: tuple[str, ...],
                       status: str, agent_id: int | None) -> None:
        """Move the live item only from one of ``from_status``."""
        r = await self.conn.fetchrow(
            "UPDATE work_items SET status = $3, agent_id = $4, updated_at = now()"
            " WHERE conversation_id = $1 AND status = ANY($2::text[])"
            f" RETURNING {_ITEM_COLS}", conv_id, list(from_status), status, agent_id)
        if r is not None:
            self.events.append(WorkItemUpdated(inbox=inbox, work_item=WorkItem(**dict(r))))

    async def _attributes(self, conv_id: int, attrs: dict[str, str]) -> None:
        """Routing attributes of the live item (the router's queue filters see them)."""
        if attrs:
            await self.conn.execute(
                "UPDATE work_items SET attributes = attributes || $2::jsonb"
                " WHERE conversation_id = $1 AND status NOT IN ('completed', 'cancelled')",
                conv_id, msgspec.json.encode(attrs).decode())

    async def _assign(self, conv_id: int, inbox: str, agent_id: int) -> None:
        current = await self.conn.fetchval(
            "SELECT assignee_id FROM conversations WHERE id = $1 FOR UPDATE", conv_id)
        if current is None:
            await self.conn.execute(
                "UPDATE conversations SET assignee_id = $2 WHERE id = $1", conv_id, agent_id)
            self.events.append(ConversationAssigned(
                inbox=inbox, conversation_id=conv_id, agent_id=agent_id,
                agent_name=await agent_name(self.conn, agent_id)))

    # ---- callbacks ---------------------------------------------------------------

    async def _callback(self, *, source_key: str, source: str, conv: Conversation,
                        contact_id: int, phone: str, topic: str, language: str
                        ) -> int | None:
        """Create a callback with its queued work item; None if it already exists."""
        item = await self._live_item(conv, priority=1)
        cb = await self.conn.fetchrow(
            "INSERT INTO callbacks (source_key, source, inbox, conversation_id, work_item_id,"
            " contact_id, phone, topic, language) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            " ON CONFLICT (source_key) DO NOTHING RETURNING id",
            source_key, source, conv.inbox, conv.id, item.id, contact_id, phone, topic,
            language)
        if cb is None:
            return None
        if item.status != "queued":
            # A missed call's item was ringing at the agent's phone: back to the queue.
            await self._set_item(conv.id, conv.inbox, "queued", None)
        await self._attributes(conv.id, {
            "kind": "callback", "callback_source": source, "topic": topic,
            **({"language": language} if language else {})})
        self.events.append(CallbackUpdated(inbox=conv.inbox, callback_id=cb["id"],
                                           conversation_id=conv.id, work_item_id=item.id,
                                           status="requested"))
        return int(cb["id"])

    async def apply_callback_request(self, ingest_id: str, env: Envelope,
                                     req: CallbackRequest) -> None:
        subject = f"Callback: {req.topic}" if req.topic else "Callback request"
        conv, contact_id = await self.conversation_from_row(env, subject)
        created = await self._callback(
            source_key=f"widget:{req.request_id}", source=req.source, conv=conv,
            contact_id=contact_id, phone=req.phone, topic=req.topic, language=req.language)
        if created is None:
            self.result.duplicates += 1
            return
        text = f"Callback requested to {req.phone}" + (f" — topic: {req.topic}" if req.topic
                                                        else "")
        await self._message(env, conv, f"callback:{req.request_id}", text, ingest_id)

    # ---- calls -------------------------------------------------------------------

    async def apply_call_event(self, ingest_id: str, env: Envelope, sig: CallSignal) -> None:
        inbox = env.channel_account
        # Record the event (once) and, for a call we have not seen yet, insert a
        # placeholder row (state '') that takes the lock: one round trip.
        fresh = await self.conn.fetchval(
            "WITH ev AS (INSERT INTO call_events (inbox, call_id, event_key, signal,"
            "   received_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING 1),"
            " ph AS (INSERT INTO calls (inbox, call_id, direction, state, started_at)"
            "   SELECT $1, $2, $6, '', $7 WHERE EXISTS (SELECT 1 FROM ev)"
            "   ON CONFLICT (inbox, call_id) DO NOTHING)"
            " SELECT EXISTS (SELECT 1 FROM ev)",
            inbox, sig.call_id, env.provider_id, sig.kind, env.received_at, sig.direction,
            sig.at)
        if not fresh:
            self.result.duplicates += 1
            return
        row = await self.conn.fetchrow(
            f"SELECT {_CALL_COLS} FROM calls WHERE inbox = $1 AND call_id = $2 FOR UPDATE",
            inbox, sig.call_id)
        tr = apply_signal(_record(row), sig)
        if tr.effects == ("ignored",):
            await self.conn.execute(
                "UPDATE call_events SET effects = $4 WHERE inbox = $1 AND call_id = $2"
                " AND event_key = $3", inbox, sig.call_id, env.provider_id, ["ignored"])
            self.result.duplicates += 1
            return
        await self._store_transition(ingest_id, env, row, tr)

    async def _store_transition(self, ingest_id: str, env: Envelope, row: asyncpg.Record,
                                tr: Transition) -> None:
        rec, effects = tr.record, tr.effects
        inbox = env.channel_account
        conv_id: int | None = row["conversation_id"]
        contact_id: int | None = row["contact_id"]
        message_id: int | None = row["message_id"]
        conv: Conversation | None = None
        if conv_id is None and rec.state != "blocked":
            conv, contact_id = await self.conversation_from_row(env, _call_text(rec))
            conv_id = conv.id
            message_id = await self._message(env, conv, f"call:{rec.call_id}",
                                              _call_text(rec), ingest_id)
        agent_id: int | None = row["agent_id"]
        answering_agent = None
        if "answered" in effects:
            found = await voice_context.agents_named(
                self.conn, [rec.answering] if rec.answering else list(rec.users))
            answering_agent = found[0] if found else None
            if answering_agent is not None:
                agent_id = answering_agent.id
        caller = None
        if ("ringing" in effects and rec.direction != "in" and conv_id is not None
                and contact_id is not None):
            # An outgoing call (a callback the PBX dials) is the dialing agent's: found
            # before the row is written, so the stored call and its events agree.
            callers = await voice_context.agents_named(self.conn, list(rec.users))
            caller = callers[0] if callers else None
            if caller is not None:
                agent_id = caller.id
        updated = await self.conn.fetchrow(
            # The event's effects are recorded in the same statement (audit trail).
            "WITH e AS (UPDATE call_events SET effects = $19 WHERE inbox = $1"
            "   AND call_id = $2 AND event_key = $20)"
            " UPDATE calls SET state = $3, from_number = $4, to_number = $5, queue = $6,"
            " users = $7, answering = $8, cause = $9, ivr = $10::jsonb, agent_id = $11,"
            " conversation_id = $12, contact_id = $13, message_id = $14, started_at = $15,"
            " answered_at = $16, ended_at = $17, duration_s = $18, updated_at = now(),"
            " wrapup_started_at = CASE WHEN $3 = 'completed' AND $11::bigint IS NOT NULL"
            "   THEN coalesce(wrapup_started_at, $17) ELSE wrapup_started_at END"
            f" WHERE inbox = $1 AND call_id = $2 RETURNING {_CALL_COLS}",
            inbox, rec.call_id, rec.state, rec.from_number, rec.to_number, rec.queue,
            list(rec.users), rec.answering, rec.cause, msgspec.json.encode(rec.ivr).decode(),
            agent_id, conv_id, contact_id, message_id, rec.started_at, rec.answered_at,
            rec.ended_at, rec.duration_s, list(effects), env.provider_id)
        info = call_info(updated)
        self.events.append(CallUpdated(inbox=inbox, call=info))
        linked = env.attributes.get("callback_id", "")
        if linked.isdigit():
            await self._advance_callback(inbox, int(linked), rec, effects)
        if conv_id is None or contact_id is None:
            return  # blocked: a call record, nothing else
        if effects and set(effects) & {"created", "enriched"}:
            await self._attributes(conv_id, call_attributes(rec))
        if "ringing" in effects:
            if rec.direction == "in":
                # The PBX distributes it: the router must not offer it meanwhile.
                await self._item_if(conv_id, inbox, ("queued",), "ringing", None)
            elif caller is not None:
                await self._assign(conv_id, inbox, caller.id)
                await self._set_item(conv_id, inbox, "assigned", caller.id)
        if rec.state in ("forwarded", "not_answered") or (
                rec.state == "completed" and agent_id is None):
            # Nobody here owes work on it: the item (if it was only this call's) ends.
            await self._item_if(conv_id, inbox, ("ringing",), "cancelled"
                                if rec.state != "completed" else "completed", None)
        if "answered" in effects and agent_id is not None:
            await self._assign(conv_id, inbox, agent_id)
            await self._set_item(conv_id, inbox, "assigned", agent_id)
        if "unmissed" in effects:
            await self._withdraw_missed_callback(inbox, rec.call_id, conv_id)
        if rec.state == "completed" and agent_id is not None and "ended" in effects:
            # Wrap-up: the item keeps the agent's voice capacity until the disposition
            # is saved (or the router's wrap-up timer ends it; docs/voice.md).
            await self._set_item(conv_id, inbox, "wrapup", agent_id)
        if "missed" in effects:
            conv = conv or await self._conversation_by_id(conv_id)
            await self._callback(
                source_key=f"missed:{inbox}:{rec.call_id}", source="missed_call", conv=conv,
                contact_id=contact_id, phone=rec.customer_number, topic="missed call",
                language=rec.ivr.get("language", ""))
        if "ended" in effects:
            # The end of the call in the customer's timeline (one row per call).
            conv = conv or await self._conversation_by_id(conv_id)
            agent_name = await self.conn.fetchval(
                "SELECT name FROM agents WHERE id = $1", agent_id) if agent_id else None
            await self._message(env, conv, f"call:{rec.call_id}:end",
                                end_text(rec, agent_name or ""), ingest_id)
        if "ringing" in effects or "answered" in effects:
            await self._pop(env, rec, info, contact_id, effects, answering_agent)

    async def _advance_callback(self, inbox: str, callback_id: int, rec: CallRecord,
                                effects: Sequence[str]) -> None:
        """A provider's status for a click-to-call we originated (Twilio's status
        callback, or a PBX's CTI event with ``callbackId``). Only a callback of this
        inbox: a PBX of one inbox cannot touch another's."""
        linked = await self.conn.fetchval(
            "UPDATE calls SET callback_id = $3 WHERE inbox = $1 AND call_id = $2"
            " AND EXISTS (SELECT 1 FROM callbacks WHERE id = $3 AND inbox = $1)"
            " RETURNING callback_id", inbox, rec.call_id, callback_id)
        if linked is None:
            return
        if "answered" in effects:
            status, reason = "connected", ""
        elif rec.state == "completed":
            status, reason = "completed", ""
        elif rec.ended:
            status, reason = "failed", "call_ended"  # the cause is on the call record
        else:
            return
        self.events.extend(await callbacks_store.advance_from_call(
            self.conn, callback_id, status, reason, rec.call_id))

    async def _conversation_by_id(self, conv_id: int) -> Conversation:
        r = await self.conn.fetchrow(
            "SELECT c.id, c.inbox, c.channel, c.contact_id, c.contact_identity, c.status,"
            " c.assignee_id, c.subject, c.created_at, c.last_message_at, ct.name,"
            " (SELECT ag.name FROM agents ag WHERE ag.id = c.assignee_id) AS assignee_name"
            " FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE c.id = $1",
            conv_id)
        return Conversation(
            id=r["id"], inbox=r["inbox"], channel=r["channel"], contact_id=r["contact_id"],
            contact_name=r["name"], contact_identity=r["contact_identity"], status=r["status"],
            assignee_id=r["assignee_id"], assignee_name=r["assignee_name"] or "",
            subject=r["subject"], created_at=r["created_at"],
            last_message_at=r["last_message_at"])

    async def _withdraw_missed_callback(self, inbox: str, call_id: str, conv_id: int) -> None:
        r = await self.conn.fetchrow(
            "UPDATE callbacks SET status = 'cancelled', reason = 'the call was answered',"
            " updated_at = now() WHERE source_key = $1 AND status IN ('requested', 'offered')"
            " RETURNING id, work_item_id", f"missed:{inbox}:{call_id}")
        if r is not None:
            self.events.append(CallbackUpdated(
                inbox=inbox, callback_id=r["id"], conversation_id=conv_id,
                work_item_id=r["work_item_id"], status="cancelled",
                reason="the call was answered"))

    async def _pop(self, env: Envelope, rec: CallRecord, info: CallInfo, contact_id: int,
                   effects: Sequence[str], answering: Any) -> None:
        """Screen pop: ringing → the agents the PBX rang; answered → the answering agent.
        An agent outside the voice inbox never gets it; with nobody known, the inbox."""
        inbox = env.channel_account
        if "answered" in effects:
            targets = [answering] if answering is not None else []
        else:
            targets = await voice_context.agents_named(self.conn, list(rec.users))
        targets = [a for a in targets if a.may_see_inbox(inbox)]
        topic = env.attributes.get("topic", "") or rec.ivr.get("topic", "")
        script = await voice_context.script_for(
            self.conn, rec.queue or self.inboxes[inbox].default_queue, topic)
        kind = CallAnswered if "answered" in effects else CallRinging
        for agent in targets or [None]:
            context, known = await voice_context.caller_context(
                self.conn, contact_id, agent, rec.customer_number)
            context["ivr"] = dict(rec.ivr)
            self.events.append(kind(
                inbox=inbox, agent_id=agent.id if agent else None, call=info,
                context=context, known_caller=known, script=script))


def end_text(rec: CallRecord, agent_name: str) -> str:
    duration = rec.duration_s
    talk = f"{duration // 60}:{duration % 60:02d}" if duration is not None else ""
    if rec.state == "completed":
        return "Call ended" + (f" · {talk}" if talk else "") + (
            f" · {agent_name}" if agent_name else "")
    if rec.state == "missed":
        return f"Missed call ({rec.cause}) — a callback is queued"
    labels = {"forwarded": "Call forwarded", "not_answered": f"Not answered ({rec.cause})"}
    return labels.get(rec.state, f"Call {rec.state}")


def call_attributes(rec: CallRecord) -> dict[str, str]:
    attrs = {"kind": "call", "call_direction": rec.direction}
    attrs.update({f"ivr.{k}": v for k, v in rec.ivr.items()})
    if "menu" in rec.ivr:
        attrs["ivr"] = rec.ivr["menu"]
    if "language" in rec.ivr:
        attrs["language"] = rec.ivr["language"]
    if "topic" in rec.ivr:
        attrs["topic"] = rec.ivr["topic"]
    if rec.queue:
        attrs["call_queue"] = rec.queue
    return attrs


async def persist_voice_batch(
    conn: asyncpg.Connection, items: Sequence[tuple[int, str, Envelope]],
    inboxes: Mapping[str, InboxFacts], result: BatchResult,
) -> None:
    """Apply voice items (index, ingest id, envelope) in stream order."""
    batch = VoiceBatch(conn, inboxes, result)
    for _, ingest_id, env in items:
        if env.call is not None:
            await batch.apply_call_event(ingest_id, env, env.call)
        elif env.callback is not None:
            await batch.apply_callback_request(ingest_id, env, env.callback)


def is_voice_item(env: Envelope) -> bool:
    return env.call is not None or env.callback is not None
