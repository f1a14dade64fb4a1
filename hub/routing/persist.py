"""The routing journal -> Postgres + events, exactly once and in order.

The Lua script appends every decision it applies to the ``{rt}:journal`` stream in the
same atomic step (:mod:`hub.routing.atomic_lua`). :func:`persist_journal` takes the
entries after ``routing_journal_mark.last_id`` under that row's lock, writes their
effects (work item status, holder, queue, step; offer rows; conversation assignee)
and their events to the outbox in ONE transaction with the new mark, then publishes
after commit. A crash anywhere repeats nothing and loses nothing: the next call
resumes after the committed mark. Several processes may call it; the row lock
serialises them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from hub.agents.store import agent_name
from hub.channels_table import is_live
from hub.config import Settings
from hub.conversations.store.queries import message_from
from hub.outbox import Publisher
from hub.routing.atomic import JournalRecord, journal_decoder
from hub.routing.decisions import (
    AcceptOffer,
    AssignItem,
    AutoReply,
    CancelItem,
    CompleteItem,
    DeclineOffer,
    EndWrapup,
    Enqueue,
    Escalate,
    ExpireOffer,
    OfferItem,
    PresenceChange,
    RescindOffer,
    TransferItem,
)
from hub.routing.store import router_keys
from hub.schema import (
    AgentPresenceChanged,
    AnyEvent,
    ConversationAssigned,
    Message,
    MessageCreated,
    WorkItem,
    WorkItemAccepted,
    WorkItemEscalated,
    WorkItemOffered,
    WorkItemOfferEnded,
    WorkItemReassigned,
    WorkItemTransferred,
    WorkItemUpdated,
)
from hub.unit_of_work import unit_of_work

log = logging.getLogger("omnihub.router.persist")

JOURNAL_KEEP_MS = 60_000
_ITEM_COLS = "id, conversation_id, queue, channel, status, priority, agent_id, created_at"
_LIVE = "('queued', 'offered', 'assigned', 'wrapup')"
_MSG_COLS = ("id, conversation_id, direction, author_kind, author_name, agent_id, text, html,"
             " private, channel, provider_id, status, attachments, created_at")


@dataclass(slots=True)
class _Ctx:
    conversation_id: int
    inbox: str
    queue: str
    channel: str
    contact_name: str
    subject: str


@dataclass(slots=True)
class PersistResult:
    entries: int = 0
    events: list[AnyEvent] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)  # auto-replies to deliver


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _text(x: Any) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


def parse_entry(fields: dict[Any, Any]) -> tuple[JournalRecord, float, int | None,
                                                  list[tuple[int, str]]]:
    """(record, now, released holder, ended offers) of one journal entry."""
    data = {_text(k): _text(v) for k, v in fields.items()}
    record = journal_decoder.decode(data["d"])
    parts = data.get("r", "").split(",")
    released = int(parts[0]) if parts and parts[0] else None
    ended = [(int(parts[i]), parts[i + 1]) for i in range(1, len(parts) - 1, 2)]
    return record, float(data["n"]), released, ended


def _item_id(record: JournalRecord) -> int | None:
    d = record.d
    if isinstance(d, Enqueue):
        return d.item.id
    return getattr(d, "item_id", None)


class _Writer:
    """Applies one batch of journal entries inside the caller's transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.result = PersistResult()
        self.ctx: dict[int, _Ctx] = {}

    async def load_ctx(self, item_ids: set[int]) -> None:
        rows = await self.conn.fetch(
            "SELECT wi.id, wi.conversation_id, c.inbox, wi.queue, wi.channel, ct.name,"
            " c.subject FROM work_items wi JOIN conversations c ON c.id = wi.conversation_id"
            " JOIN contacts ct ON ct.id = c.contact_id WHERE wi.id = ANY($1::bigint[])",
            list(item_ids))
        for r in rows:
            self.ctx[r[0]] = _Ctx(r[1], r[2], r[3], r[4], r[5], r[6])

    def emit(self, event: AnyEvent) -> None:
        self.result.events.append(event)

    async def item_updated(self, item_id: int, sql: str, *args: Any) -> None:
        """Run an UPDATE of the work item (``$1`` is its id) and emit workitem.updated."""
        row = await self.conn.fetchrow(
            f"UPDATE work_items SET {sql}, updated_at = now() WHERE id = $1"
            f" RETURNING {_ITEM_COLS}", item_id, *args)
        if row is not None and row["status"] in ("queued", "offered", "assigned", "wrapup",
                                                  "completed", "cancelled"):
            self.emit(WorkItemUpdated(inbox=self.ctx[item_id].inbox,
                                      work_item=WorkItem(**dict(row))))

    async def end_offers(self, item_id: int, ended: list[tuple[int, str]], at: datetime) -> None:
        c = self.ctx[item_id]
        for agent, status in ended:
            await self.conn.execute(
                "UPDATE work_item_offers SET status = $3, ended_at = $4"
                " WHERE work_item_id = $1 AND agent_id = $2 AND status = 'pending'",
                item_id, agent, status, at)
            self.emit(WorkItemOfferEnded(inbox=c.inbox, conversation_id=c.conversation_id,
                                         work_item_id=item_id, agent_id=agent,
                                         outcome=status))  # type: ignore[arg-type]

    async def assignee(self, item_id: int, agent: int | None, by: int | None,
                       announce: bool) -> None:
        c = self.ctx[item_id]
        changed = await self.conn.fetchval(
            "UPDATE conversations SET assignee_id = $2 WHERE id = $1"
            " AND assignee_id IS DISTINCT FROM $2 RETURNING id", c.conversation_id, agent)
        if changed and announce:
            self.emit(ConversationAssigned(inbox=c.inbox, conversation_id=c.conversation_id,
                                           agent_id=agent, by_agent_id=by,
                                           agent_name=await agent_name(self.conn, agent)))

    async def apply(self, record: JournalRecord, now: float, released: int | None,
                    ended: list[tuple[int, str]]) -> None:
        d = record.d
        at = _dt(now)
        sync = record.origin == "sync"
        if isinstance(d, PresenceChange):
            # Kept for the wallboard (time in state, occupancy today; docs/board.md).
            await self.conn.execute(
                "INSERT INTO agent_presence_log (agent_id, presence, at)"
                " SELECT id, $2, $3 FROM agents WHERE id = $1", d.agent_id, d.presence, at)
            self.emit(AgentPresenceChanged(agent_id=d.agent_id, presence=d.presence))
            return
        item_id = _item_id(record)
        if item_id is None or item_id not in self.ctx:
            return  # not a database work item (tests, benchmarks)
        c = self.ctx[item_id]
        if isinstance(d, Enqueue):
            it = d.item
            await self.conn.execute(
                "UPDATE work_items SET queue = $2, weight = $3, enqueued_at = $4, step = $5,"
                " last_agent_id = $6, routed_at = coalesce(routed_at, $7), updated_at = now()"
                " WHERE id = $1",
                it.id, it.queue, it.weight, _dt(it.enqueued_at), it.step, it.last_agent_id, at)
            if it.queue != c.queue:
                c.queue = it.queue
                await self.item_updated(it.id, "queue = queue")
        elif isinstance(d, OfferItem):
            agents = [t.agent_id for t in d.targets]
            preview = await self.conn.fetchval(
                "SELECT left(text, 200) FROM messages WHERE conversation_id = $1"
                " AND direction = 'in' ORDER BY id DESC LIMIT 1", c.conversation_id) or ""
            for t in d.targets:
                await self.conn.execute(
                    "INSERT INTO work_item_offers (work_item_id, agent_id, seq, queue,"
                    " offered_at, expires_at) SELECT $1, $2, coalesce(max(seq), 0) + 1, $3,"
                    " $4, $5 FROM work_item_offers WHERE work_item_id = $1 AND agent_id = $2",
                    item_id, t.agent_id, t.queue, _dt(d.offered_at), _dt(d.expires_at))
                self.emit(WorkItemOffered(
                    inbox=c.inbox, conversation_id=c.conversation_id, work_item_id=item_id,
                    agent_id=t.agent_id, queue=c.queue, channel=c.channel,  # type: ignore[arg-type]
                    offered_at=_dt(d.offered_at), expires_at=_dt(d.expires_at),
                    contact_name=c.contact_name, subject=c.subject, preview=preview))
            await self.item_updated(
                item_id, f"status = CASE WHEN status IN {_LIVE} THEN 'offered' ELSE status END,"
                " offered_to = $2, offer_expires_at = $3", agents, _dt(d.expires_at))
        elif isinstance(d, AcceptOffer):
            await self.end_offers(item_id, ended, at)
            await self.item_updated(
                item_id, "status = 'assigned', agent_id = $2, assigned_at = $3,"
                " offered_to = '{}', offer_expires_at = NULL", d.agent_id, at)
            await self.assignee(item_id, d.agent_id, d.agent_id, True)
            self.emit(WorkItemAccepted(inbox=c.inbox, conversation_id=c.conversation_id,
                                       work_item_id=item_id, agent_id=d.agent_id,
                                       queue=c.queue, channel=c.channel))  # type: ignore[arg-type]
        elif isinstance(d, DeclineOffer | ExpireOffer | RescindOffer):
            await self.end_offers(item_id, ended, at)
            await self.item_updated(
                item_id, "offered_to = array_remove(offered_to, $2),"
                " status = CASE WHEN status = 'offered' AND agent_id IS NULL AND"
                "   cardinality(array_remove(offered_to, $2)) = 0 THEN 'queued' ELSE status END",
                d.agent_id)
        elif isinstance(d, Escalate):
            await self.conn.execute("UPDATE work_items SET step = $2 WHERE id = $1",
                                    item_id, d.to_step)
            self.emit(WorkItemEscalated(inbox=c.inbox, conversation_id=c.conversation_id,
                                        work_item_id=item_id, queue=c.queue, step=d.to_step,
                                        queues=list(d.queues)))
        elif isinstance(d, AutoReply):
            await self.auto_reply(item_id, d.message)
        elif isinstance(d, TransferItem):
            await self.end_offers(item_id, ended, at)
            from_queue, c.queue = c.queue, d.to_queue
            await self.item_updated(
                item_id, f"queue = $2, status = CASE WHEN status IN {_LIVE} THEN 'queued'"
                " ELSE status END, agent_id = NULL, step = 0, enqueued_at = $3,"
                " offered_to = '{}', offer_expires_at = NULL, assigned_at = NULL",
                d.to_queue, at)
            if d.from_agent is not None:
                await self.assignee(item_id, None, record.by, not sync)
            self.emit(WorkItemTransferred(
                inbox=c.inbox, conversation_id=c.conversation_id, work_item_id=item_id,
                from_queue=from_queue, to_queue=d.to_queue, from_agent_id=d.from_agent,
                reason=d.reason, by_agent_id=record.by))
        elif isinstance(d, AssignItem):
            await self.end_offers(item_id, ended, at)
            await self.item_updated(
                item_id, f"status = CASE WHEN status IN {_LIVE} THEN 'assigned' ELSE status"
                " END, agent_id = $2, assigned_at = $3, offered_to = '{}',"
                " offer_expires_at = NULL", d.agent_id, at)
            await self.assignee(item_id, d.agent_id, record.by, not sync)
            if not sync:
                self.emit(WorkItemReassigned(
                    inbox=c.inbox, conversation_id=c.conversation_id, work_item_id=item_id,
                    from_agent_id=d.from_agent, to_agent_id=d.agent_id, reason=d.reason,
                    by_agent_id=record.by, channel=c.channel))  # type: ignore[arg-type]
        elif isinstance(d, CompleteItem):
            if d.wrapup_until is not None and d.wrapup_until > now:
                await self.item_updated(
                    item_id, "wrapup_until = $2, status = CASE WHEN status IN"
                    " ('queued', 'offered', 'assigned') THEN 'wrapup' ELSE status END",
                    _dt(d.wrapup_until))
            else:
                await self.item_updated(
                    item_id, f"status = CASE WHEN status IN {_LIVE} THEN 'completed'"
                    " ELSE status END")
        elif isinstance(d, EndWrapup):
            await self.item_updated(
                item_id, f"status = CASE WHEN status IN {_LIVE} THEN 'completed' ELSE status END")
        elif isinstance(d, CancelItem):
            await self.end_offers(item_id, ended, at)
            await self.item_updated(
                item_id, f"status = CASE WHEN status IN {_LIVE} THEN 'cancelled' ELSE status"
                " END, offered_to = '{}', offer_expires_at = NULL")

    async def auto_reply(self, item_id: int, text: str) -> None:
        """The after-hours auto-reply, as a system message in the conversation (chat
        sees it live; other channels get it through the delivery worker)."""
        c = self.ctx[item_id]
        if not text.strip():
            return
        live = is_live(c.channel)
        row = await self.conn.fetchrow(
            "INSERT INTO messages (conversation_id, channel, channel_account, provider_id,"
            " direction, author_kind, author_name, text, status)"
            " VALUES ($1, $2, $3, $4, 'out', 'system', 'Auto-reply', $5, $6)"
            f" ON CONFLICT ON CONSTRAINT messages_idempotency DO NOTHING RETURNING {_MSG_COLS}",
            c.conversation_id, c.channel, c.inbox, f"router:auto-reply:{item_id}", text,
            "sent" if live else "queued")
        if row is not None:
            message = message_from(row)
            self.emit(MessageCreated(inbox=c.inbox, message=message))
            self.result.messages.append(message)


async def persist_journal(pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings,
                          publisher: Publisher, *, limit: int = 500) -> PersistResult:
    """Persist the next journal entries after the committed mark; returns what it did."""
    journal = router_keys(settings).journal
    async with unit_of_work(pool, publisher) as uow:
        async with uow.transaction() as conn:
            mark = await conn.fetchval(
                "SELECT last_id FROM routing_journal_mark FOR UPDATE")
            entries = await redis.xrange(journal, min=f"({mark}", count=limit)
            if not entries:
                return PersistResult()
            parsed = [parse_entry(fields) for _, fields in entries]
            writer = _Writer(conn)
            ids = {i for rec, _, _, _ in parsed if (i := _item_id(rec)) is not None}
            await writer.load_ctx(ids)
            for record, now, released, ended in parsed:
                await writer.apply(record, now, released, ended)
            last = _text(entries[-1][0])
            await conn.execute("UPDATE routing_journal_mark SET last_id = $1", last)
            await uow.emit(writer.result.events)
    writer.result.entries = len(entries)
    # Entries up to the mark are in Postgres; keep the stream short, but keep a minute
    # of persisted entries: a reconcile that read an older mark still sees them.
    keep_from = max(0, int(last.split("-")[0]) - JOURNAL_KEEP_MS)
    await redis.xtrim(journal, minid=f"{keep_from}-0", approximate=True)
    return writer.result


async def persisted_mark(conn: asyncpg.Connection | asyncpg.Pool) -> str:
    return str(await conn.fetchval("SELECT last_id FROM routing_journal_mark"))


# ---- reads for reconcile and the router loop (hub/routing/reconcile.py, service.py) ----

# A work item with what reconcile's plan and the queue filters need.
_ROUTING_ROWS = (
    "SELECT wi.id, wi.status, wi.agent_id, wi.queue, wi.channel, wi.priority,"
    " extract(epoch FROM wi.created_at)::float8 AS created,"
    " extract(epoch FROM wi.enqueued_at)::float8 AS enqueued, wi.step, wi.routed_at,"
    " wi.attributes::text AS attrs, c.inbox, ct.tier, ct.locale,"
    # The attributes the channel put on the conversation's first message (topic, ...).
    " (SELECT m.attributes::text FROM messages m WHERE m.conversation_id = wi.conversation_id"
    "   AND m.direction = 'in' ORDER BY m.id LIMIT 1) AS msg_attrs,"
    " coalesce(wi.last_agent_id, (SELECT w2.agent_id FROM work_items w2"
    "   JOIN conversations c2 ON c2.id = w2.conversation_id"
    "   WHERE c2.contact_id = c.contact_id AND w2.id < wi.id AND w2.agent_id IS NOT NULL"
    "   ORDER BY w2.id DESC LIMIT 1)) AS last_agent,"
    # A finished call's wrap-up began at hangup: the router's wrap-up counts from there.
    " CASE WHEN wi.status = 'completed' AND wi.agent_id IS NOT NULL THEN"
    "  (SELECT extract(epoch FROM max(k.wrapup_started_at))::float8 FROM calls k"
    "   WHERE k.conversation_id = wi.conversation_id AND k.agent_id = wi.agent_id)"
    " END AS after_call_since"
    " FROM work_items wi JOIN conversations c ON c.id = wi.conversation_id"
    " JOIN contacts ct ON ct.id = c.contact_id"
)


async def routing_rows_by_status(conn: asyncpg.Connection | asyncpg.Pool,
                                 statuses: Sequence[str], also_ids: Sequence[int]
                                 ) -> list[asyncpg.Record]:
    """The routing rows of every item in one of ``statuses`` and of ``also_ids``."""
    rows: list[asyncpg.Record] = await conn.fetch(
        _ROUTING_ROWS + " WHERE wi.status = ANY($1::text[]) OR wi.id = ANY($2::bigint[])",
        list(statuses), list(also_ids))
    return rows


async def routing_rows_of(conn: asyncpg.Connection | asyncpg.Pool, ids: Sequence[int]
                          ) -> list[asyncpg.Record]:
    """The routing rows of these work items."""
    rows: list[asyncpg.Record] = await conn.fetch(
        _ROUTING_ROWS + " WHERE wi.id = ANY($1::bigint[])", list(ids))
    return rows


async def work_items_of_conversations(conn: asyncpg.Connection | asyncpg.Pool,
                                      conversation_ids: Sequence[int]) -> list[int]:
    """The ids of every work item of these conversations (any status)."""
    rows = await conn.fetch(
        "SELECT id FROM work_items WHERE conversation_id = ANY($1::bigint[])",
        list(conversation_ids))
    return [r["id"] for r in rows]


# What a router turn may meet from Postgres and retry after a pause (restart, network).
POSTGRES_ERRORS: tuple[type[Exception], ...] = (asyncpg.PostgresError,
                                                asyncpg.InterfaceError)


async def open_router_pool(settings: Settings) -> asyncpg.Pool:
    """The router process's own small pool."""
    pool: asyncpg.Pool = await asyncpg.create_pool(settings.database_url, min_size=1,
                                                   max_size=4)
    return pool


async def items_in_flight(redis: aioredis.Redis, settings: Settings, mark: str) -> set[int]:
    """Items named by journal entries not yet persisted (after ``mark``): Postgres may
    not show their latest state yet, so reconciliation leaves them alone."""
    out: set[int] = set()
    start = f"({mark}"
    journal = router_keys(settings).journal
    while True:
        chunk = await redis.xrange(journal, min=start, count=1000)
        if not chunk:
            return out
        for _, fields in chunk:
            record, _, _, _ = parse_entry(fields)
            if (i := _item_id(record)) is not None:
                out.add(i)
        start = "(" + _text(chunk[-1][0])


Deliver = Callable[[Message], Awaitable[None]]


async def deliver_all(deliver: Deliver | None, messages: Sequence[Message]) -> None:
    if deliver is None:
        return
    for m in messages:
        if m.status == "queued":
            try:
                await deliver(m)
            except Exception:  # the worker's sweep re-enqueues lost deliveries
                log.exception("could not enqueue delivery of auto-reply %s", m.id)
