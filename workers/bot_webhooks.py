"""Bot webhooks, the worker side (docs/bots.md "Webhooks").

1. ``watch_bot_events`` (a consumer group on the committed events stream, owned by the
   worker's startup) records one ``bot_deliveries`` row per (bot, event) for the events
   a webhook bot's socket would get, then enqueues its job and XACKs. The row is unique
   on (bot, stream id), so a redelivered entry records nothing twice.
2. ``deliver_bot_webhook`` claims a pending row with a conditional UPDATE (only when no
   earlier delivery of the same bot and conversation is still open, so a conversation's
   events arrive in order), POSTs the signed body, and records the outcome: delivered;
   pending again with exponential backoff + jitter (connection errors, timeouts, 429,
   5xx; Retry-After honoured); failed (any other 4xx, or attempts exhausted). A finished
   delivery enqueues the next one of its conversation.
3. ``requeue_bot_deliveries`` (cron) re-enqueues due rows whose job was lost and puts
   rows left 'sending' by a dead worker back to pending: delivery is at least once, and
   the bot drops repeats by ``X-Omnihub-Delivery``.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import msgspec
from arq.connections import ArqRedis

from hub.bots import rules as wh
from hub.bots import store as bot_store
from hub.config import Settings
from hub.conversations.pipeline import default_consumer_name
from hub.jobs import DELIVER_BOT_WEBHOOK
from hub.schema import (
    AnyEvent,
    ConversationStatusChanged,
    MessageCreated,
    WorkItemCreated,
    WorkItemUpdated,
    decode_event,
)
from workers.event_group import Entries, consume_events

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger("omnihub.botwebhooks")

GROUP = "bot-webhooks"
STUCK_SENDING_S = 120  # longer than one POST can take (the worker's httpx timeout)


# ---- 1. events → delivery rows ----------------------------------------------------


async def targets(conn: asyncpg.Connection | asyncpg.Pool, event: AnyEvent
                  ) -> list[tuple[int, int, bool]]:
    """(bot id, conversation id, held after this event) for each webhook bot that must
    hear of this event: the same set its socket gets, minus the bot's own messages."""
    if isinstance(event, WorkItemCreated | WorkItemUpdated):
        item = event.work_item
        if item.bot_id is None:
            return []
        hook = await bot_store.bot_has_webhook(conn, item.bot_id)
        if not hook:
            return []
        if item.status == "bot":
            return [(item.bot_id, item.conversation_id, True)]
        # Left the bot (handed off, taken by an agent, closed): tell it once, if it was
        # told it held the conversation.
        was_held = await bot_store.last_delivery_held(conn, item.bot_id, item.conversation_id)
        return [(item.bot_id, item.conversation_id, False)] if was_held else []
    if isinstance(event, MessageCreated):
        msg = event.message
        if msg.private or msg.author.kind == "bot":
            return []
        conv = msg.conversation_id
    elif isinstance(event, ConversationStatusChanged):
        conv = event.conversation_id
    else:
        return []
    bot_id = await bot_store.webhook_bot_holding(conn, conv)
    return [] if bot_id is None else [(bot_id, conv, True)]


def delivery_body(delivery_id: str, stream_id: str, bot_id: int, conversation_id: int,
                  event_type: str, payload: bytes) -> str:
    """The JSON a bot receives: the event exactly as the socket sends it, wrapped."""
    head = msgspec.json.encode({
        "id": delivery_id, "type": event_type, "bot_id": bot_id,
        "conversation_id": conversation_id, "stream_id": stream_id,
        "sent_at": datetime.now(UTC).isoformat(timespec="seconds"),
    })
    return head[:-1].decode() + ',"event":' + payload.decode() + "}"


async def record_deliveries(pool: asyncpg.Pool, stream_id: str, payload: bytes
                            ) -> list[int]:
    """Rows for this event (none if not for a webhook bot); returns the new row ids."""
    try:
        event = decode_event(payload)
    except msgspec.MsgspecError:
        return []
    found = await targets(pool, event)
    created = []
    for bot_id, conv, held in found:
        delivery_id = str(uuid.uuid4())
        event_type = type(event).__struct_config__.tag
        pk = await bot_store.insert_delivery(
            pool, uuid.UUID(delivery_id), bot_id, conv, stream_id, wh.stream_pos(stream_id),
            str(event_type), held,
            delivery_body(delivery_id, stream_id, bot_id, conv, str(event_type), payload))
        if pk is not None:
            created.append(pk)
    return created


class _HookBots:
    """Whether any active bot has a webhook (cached 2 s): without one, events are
    acknowledged without a database query each."""

    def __init__(self) -> None:
        self._at = -1e9
        self._any = True

    async def any(self, pool: asyncpg.Pool) -> bool:
        if time.monotonic() - self._at > 2.0:
            self._any = await bot_store.any_webhook_bot(pool)
            self._at = time.monotonic()
        return self._any


async def watch_bot_events(ctx: dict[str, Any], *, block_ms: int = 2000) -> None:
    """The events consumer (see the module doc). XACK after the rows are committed and
    their jobs enqueued; a crash before that redelivers the entry (rows are unique)."""
    settings: Settings = ctx["settings"]
    redis = ctx["redis_plain"]
    pool: asyncpg.Pool = ctx["pool"]
    hooks = _HookBots()

    async def handle(entries: Entries) -> None:
        if not await hooks.any(pool):
            return
        for sid, fields in entries:
            if fields:
                sid_text = sid.decode() if isinstance(sid, bytes) else str(sid)
                for pk in await record_deliveries(pool, sid_text, fields.get(b"e", b"")):
                    await enqueue_delivery_job(ctx["redis"], settings, pk)

    await consume_events(redis, settings.events_stream, GROUP,
                         f"botwh-{default_consumer_name()}", handle, label="bot webhooks",
                         block_ms=block_ms)


async def enqueue_delivery_job(redis: Any, settings: Settings, pk: int,
                               defer_s: float = 0.0) -> None:
    # A fresh job id each time: the claim makes duplicate jobs harmless, and arq keeps a
    # finished job's id for an hour (a reused id would not be enqueued again).
    arq = redis if isinstance(redis, ArqRedis) else ArqRedis(
        connection_pool=redis.connection_pool)
    await arq.enqueue_job(DELIVER_BOT_WEBHOOK, pk, _queue_name=settings.arq_queue,
                          _defer_by=defer_s if defer_s > 0 else None)


# ---- 2. the delivery job ------------------------------------------------------------

async def _finish(pool: asyncpg.Pool, pk: int, status: str, *, http_status: int | None,
                  error: str, next_at_s: float = 0.0) -> None:
    await bot_store.finish_delivery(pool, pk, status, http_status, error[:500], next_at_s)


async def _enqueue_next(ctx: dict[str, Any], bot_id: int, conversation_id: int) -> None:
    pk = await bot_store.next_pending_delivery(ctx["pool"], bot_id, conversation_id)
    if pk is not None:
        await enqueue_delivery_job(ctx["redis"], ctx["settings"], pk)


async def post_signed(http: httpx.AsyncClient, url: str, body: bytes, secrets: list[str],
                      delivery_id: str, event_type: str) -> httpx.Response:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "omnihub-bot-webhook/1",
        wh.SIGNATURE_HEADER: wh.signature_header(secrets, int(time.time()), body),
        wh.DELIVERY_HEADER: delivery_id,
        wh.EVENT_HEADER: event_type,
    }
    return await http.post(url, content=body, headers=headers)


async def deliver_bot_webhook(ctx: dict[str, Any], pk: int) -> str:
    pool: asyncpg.Pool = ctx["pool"]
    settings: Settings = ctx["settings"]
    row = await bot_store.claim_delivery(pool, pk)
    if row is None:
        return "not due (done, waiting behind an earlier delivery, or claimed elsewhere)"
    if not row["active"] or not row["webhook_url"]:
        await _finish(pool, pk, "cancelled", http_status=None,
                      error="bot disabled" if not row["active"] else "webhook removed")
        await _enqueue_next(ctx, row["bot_id"], row["conversation_id"])
        return "cancelled"
    secrets = [s for s in (row["webhook_secret"], row["prev_secret"]) if s]
    status: int | None = None
    retry_after: float | None = None
    try:
        resp = await post_signed(ctx["http"], row["webhook_url"], row["body"].encode(),
                                 secrets, str(row["delivery_id"]), row["event_type"])
        status = resp.status_code
        if 200 <= status < 300:
            await _finish(pool, pk, "delivered", http_status=status, error="")
            await _enqueue_next(ctx, row["bot_id"], row["conversation_id"])
            return "delivered"
        error = f"HTTP {status}"
        retryable = wh.retryable_status(status)
        retry_after = wh.parse_retry_after(resp.headers.get("retry-after"))
    except httpx.HTTPError as exc:
        error, retryable = f"{type(exc).__name__}: {exc}"[:500], True
    attempts = row["attempts"]
    if retryable and attempts < settings.bot_webhook_max_attempts:
        delay = wh.retry_delay_s(attempts, settings.bot_webhook_retry_base_s, retry_after)
        await _finish(pool, pk, "pending", http_status=status,
                      error=f"{error} (attempt {attempts}; retrying in {delay:.1f} s)",
                      next_at_s=delay)
        await enqueue_delivery_job(ctx["redis"], settings, pk, delay)
        return "retrying"
    final = error if not retryable else f"{error} (gave up after {attempts} attempts)"
    await _finish(pool, pk, "failed", http_status=status, error=final)
    log.warning("bot %d webhook delivery %s failed: %s", row["bot_id"], row["delivery_id"],
                final)
    await _enqueue_next(ctx, row["bot_id"], row["conversation_id"])
    return "failed"


# ---- 3. the sweep -------------------------------------------------------------------


async def requeue_bot_deliveries(ctx: dict[str, Any]) -> int:
    pool: asyncpg.Pool = ctx["pool"]
    await bot_store.reset_stuck_sending(pool, STUCK_SENDING_S)
    due = await bot_store.due_line_heads(pool)
    for pk in due:
        await enqueue_delivery_job(ctx["redis"], ctx["settings"], pk)
    return len(due)
