"""The delivery job for replies that do not travel over our own sockets, and the sweep
that re-enqueues lost jobs and ends stuck ones.

At most once: a job claims its message with a conditional UPDATE (queued → sending)
before anything leaves, so two jobs never send the same message. A known-failed attempt
(the provider refused, or nothing was sent) goes back to 'queued' and is retried with
the channel's backoff; a message left 'sending' by a worker that died mid-send is marked
failed "outcome unknown" by the sweep, never sent again."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from arq import Retry

from hub.conversations.store import outbound
from hub.jobs import DELIVER_MESSAGE, delivery_job_id
from hub.schema import MessageStatusChanged
from hub.unit_of_work import unit_of_work
from workers.registry import SENDERS
from workers.senders import OutboundMessage, Undeliverable

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger("omnihub.worker")

# arq's own bound for deliver_message; each channel gives up earlier (retry_delay).
DELIVER_MAX_TRIES = 25
OUTCOME_UNKNOWN = "delivery outcome unknown (worker stopped mid-send); not retried"


async def set_message_status(ctx: dict[str, Any], message_id: int, status: str,
                             error: str = "", *, only_from: str | None = None) -> None:
    """Change the status (never back from sent/delivered/read; with ``only_from``, only
    from that status) and tell the inbox."""
    pool: asyncpg.Pool = ctx["pool"]
    async with unit_of_work(pool, ctx["publisher"]) as uow:
        async with uow.transaction() as conn:
            r = await outbound.update_message_status(conn, message_id, status,
                                                     error[:500], only_from)
            if r is None:
                return
            await uow.emit([MessageStatusChanged(
                inbox=r["inbox"], conversation_id=r["conversation_id"], message_id=message_id,
                status=status, error=error[:500],  # type: ignore[arg-type]
            )])


async def deliver_message(ctx: dict[str, Any], message_id: int) -> str:
    pool: asyncpg.Pool = ctx["pool"]
    settings = ctx["settings"]
    refused = ""
    async with pool.acquire() as conn:
        async with conn.transaction():
            claimed = await outbound.claim_queued_message(conn, message_id)
            if claimed is None:
                return "not queued (already handled)"
            msg = OutboundMessage(**dict(claimed))
            sender = SENDERS.get(msg.channel)
            prepared: Any = None
            if sender is None:
                refused = f"no delivery route for the {msg.channel} channel"
            else:
                try:
                    async with conn.transaction():  # a savepoint: the claim stays
                        prepared = await sender.prepare(conn, msg, settings)
                except Undeliverable as exc:
                    refused = str(exc)
    if sender is None or refused:
        await set_message_status(ctx, message_id, "failed", refused)
        return "no route"
    attempt = await sender.send(ctx, msg, prepared)
    if attempt.ok:
        # only_from: a sender that recorded its own status (and maybe an early provider
        # report, e.g. delivered or failed) is not moved back to sent.
        await set_message_status(ctx, message_id, "sent", attempt.error, only_from="sending")
        return "sent"
    tries = ctx.get("job_try", 1)
    delay = sender.retry_delay(settings, tries) if attempt.retryable else None
    if delay is not None and attempt.retry_after_s:
        delay = max(delay, attempt.retry_after_s)
    if delay is not None:
        # Nothing left (or the relay refused it for now): safe to try again, same id.
        await set_message_status(ctx, message_id, "queued",
                                 f"{attempt.error} (try {tries}; retrying in {delay:.0f} s)")
        raise Retry(defer=timedelta(seconds=delay))
    await set_message_status(ctx, message_id, "failed", attempt.error)
    return "failed"


async def requeue_lost_deliveries(ctx: dict[str, Any]) -> int:
    """Queued messages whose job never made it to Redis (crash after commit), and
    messages stuck 'sending' past ``delivery_stuck_after_s`` (their worker died)."""
    pool: asyncpg.Pool = ctx["pool"]
    settings = ctx["settings"]
    ids = await outbound.queued_without_job(pool)
    for message_id in ids:
        await ctx["redis"].enqueue_job(DELIVER_MESSAGE, message_id,
                                       _job_id=delivery_job_id(settings, message_id),
                                       _queue_name=settings.arq_queue)
    stuck = await outbound.stuck_sending(pool, float(settings.delivery_stuck_after_s))
    for stuck_id in stuck:
        # We cannot know whether it arrived; never send twice.
        log.warning("message %s stuck sending; marked failed (outcome unknown)", stuck_id)
        await set_message_status(ctx, stuck_id, "failed", OUTCOME_UNKNOWN, only_from="sending")
    return len(ids)
