"""Delivery status of outbound messages, from provider reports (Twilio status callbacks,
WhatsApp ``statuses[]``, Messenger ``delivery``/``read``) and from our own send worker.

Reports arrive late, twice and out of order. The rule (pure, ``may_move``): a status only
moves forward along queued < sending < sent < delivered < read; ``failed`` is terminal and
can only replace a status that does not prove delivery (queued, sending, sent). Every
report is stored once (key: provider, provider ref, status); a report for a message whose
provider ref is not recorded yet waits in ``message_status_reports`` and is applied when
the send worker records the ref. Changes emit ``message.status`` through the outbox.
The SQL is in hub/messaging/store/delivery.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from hub.messaging.delivery_rules import MAX_ERROR, StatusReport, Watermark, best_status
from hub.messaging.store import delivery as store
from hub.outbox import Publisher
from hub.schema import AnyEvent, MessageStatusChanged
from hub.storable import storable_text
from hub.unit_of_work import unit_of_work

if TYPE_CHECKING:
    import asyncpg


async def _apply_to_message(conn: asyncpg.Connection, message_id: int,
                            reports: Sequence[tuple[str, str]]) -> AnyEvent | None:
    r = await store.lock_message_status(conn, message_id)
    if r is None:
        return None
    moved = best_status(r["status"], reports)
    if moved is None:
        return None
    status, error = moved[0], moved[1][:MAX_ERROR]
    await store.set_message_status(conn, message_id, status, error)
    return MessageStatusChanged(inbox=r["inbox"], conversation_id=r["conversation_id"],
                                message_id=message_id, status=status,  # type: ignore[arg-type]
                                error=error)


async def apply_status_reports(conn: asyncpg.Connection,
                               reports: Sequence[StatusReport]) -> list[AnyEvent]:
    """Store the reports (once each) and move the messages they name; inside the caller's
    transaction. Returns the events to write to the outbox."""
    if not reports:
        return []
    fresh = await store.insert_new_reports(conn, reports)
    if not fresh:
        return []
    by_ref = await store.messages_by_provider_ref(
        conn, [(r["provider"], r["provider_ref"]) for r in fresh])
    grouped: dict[int, list[tuple[str, str]]] = {}
    for r in fresh:
        mid = by_ref.get((r["provider"], r["provider_ref"]))
        if mid is not None:
            grouped.setdefault(mid, []).append((r["status"], r["error"]))
    events = []
    for mid in sorted(grouped):  # one lock order for concurrent callbacks
        event = await _apply_to_message(conn, mid, grouped[mid])
        if event is not None:
            events.append(event)
    return events


async def apply_watermarks(conn: asyncpg.Connection,
                           marks: Sequence[Watermark]) -> list[AnyEvent]:
    events: list[AnyEvent] = []
    for mark in marks:
        for message_id in await store.sent_messages_up_to(
                conn, mark.inbox, mark.contact_identity, mark.at):
            event = await _apply_to_message(conn, message_id, [(mark.status, "")])
            if event is not None:
                events.append(event)
    return events


async def record_provider_status(pool: asyncpg.Pool, publisher: Publisher,
                                 reports: Sequence[StatusReport],
                                 marks: Sequence[Watermark] = ()) -> int:
    """One transaction for a webhook's reports; events published after commit. Returns
    the number of messages whose status changed."""
    if not reports and not marks:
        return 0
    # Committed before the provider gets its 2xx: a NUL in its text must not fail it.
    reports = [replace(r, provider_ref=storable_text(r.provider_ref),
                       error=storable_text(r.error)) for r in reports]
    async with unit_of_work(pool, publisher) as uow:
        async with uow.transaction() as conn:
            events = await apply_status_reports(conn, reports)
            events.extend(await apply_watermarks(conn, marks))
            await uow.emit(events)
    return len(events)


async def record_sent(pool: asyncpg.Pool, publisher: Publisher, message_id: int,
                      provider: str, provider_ref: str) -> None:
    """The send worker got the provider's id: remember it, mark the message sent, and
    apply any report that arrived before we knew the id."""
    async with unit_of_work(pool, publisher) as uow:
        async with uow.transaction() as conn:
            await store.record_provider_ref(conn, provider, provider_ref, message_id)
            early = await store.early_reports(conn, provider, provider_ref)
            reports = [("sent", ""), *early]
            event = await _apply_to_message(conn, message_id, reports)
            await uow.emit([event] if event else [])
