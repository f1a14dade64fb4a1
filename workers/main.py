"""arq worker: outbound delivery for channels that are not live sockets (the API
channel's webhook here; email, SMS and messengers plug in the same way), plus a sweep
that re-enqueues deliveries whose enqueue was lost. Jobs may run twice, so each claims
its message with a conditional UPDATE first: two jobs never send the same message. A
retry after an ambiguous failure (timeout after the request left) may repeat a send; it
carries the same Idempotency-Key so the receiver can drop the repeat."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis
from arq import Retry, cron
from arq.connections import RedisSettings

from hub.config import Settings
from hub.jobs import DELIVER_MESSAGE, delivery_job_id
from hub.outbox import Publisher, publish_committed, write_outbox
from hub.schema import MessageStatusChanged

log = logging.getLogger("omnihub.worker")

MAX_TRIES = 6


async def _set_status(ctx: dict[str, Any], message_id: int, status: str, error: str = "") -> None:
    pool: asyncpg.Pool = ctx["pool"]
    async with pool.acquire() as conn:
        async with conn.transaction():
            r = await conn.fetchrow(
                "UPDATE messages m SET status = $2, status_error = $3, status_at = now()"
                " FROM conversations c WHERE m.id = $1 AND c.id = m.conversation_id"
                " AND m.status NOT IN ('sent', 'delivered', 'read')"
                " RETURNING m.conversation_id, c.inbox",
                message_id, status, error[:500],
            )
            if r is None:
                return
            rows = await write_outbox(conn, [MessageStatusChanged(
                inbox=r["inbox"], conversation_id=r["conversation_id"], message_id=message_id,
                status=status, error=error[:500],  # type: ignore[arg-type]
            )])
        await publish_committed(pool, ctx["publisher"], rows)


async def deliver_message(ctx: dict[str, Any], message_id: int) -> str:
    pool: asyncpg.Pool = ctx["pool"]
    claimed = await pool.fetchrow(
        "UPDATE messages m SET status = 'sending', status_at = now()"
        " FROM conversations c, inboxes i"
        " WHERE m.id = $1 AND m.status = 'queued' AND c.id = m.conversation_id"
        " AND i.slug = c.inbox"
        " RETURNING m.id, m.text, m.provider_id, m.author_name, m.created_at, c.id AS cid,"
        " c.contact_identity, i.webhook_url, i.channel",
        message_id,
    )
    if claimed is None:
        return "not queued (already handled)"
    if claimed["channel"] != "api" or not claimed["webhook_url"]:
        await _set_status(ctx, message_id, "failed", "no delivery route for this inbox")
        return "no route"
    payload = {
        "event": "message.outgoing", "message_id": claimed["id"],
        "conversation_id": claimed["cid"], "recipient": claimed["contact_identity"],
        "text": claimed["text"], "author": claimed["author_name"],
        "created_at": claimed["created_at"].isoformat(),
    }
    try:
        resp = await ctx["http"].post(claimed["webhook_url"], json=payload,
                                      headers={"Idempotency-Key": claimed["provider_id"]})
        ok = resp.status_code < 300
        error = "" if ok else f"HTTP {resp.status_code}"
        retryable = resp.status_code >= 500 or resp.status_code == 429
    except httpx.HTTPError as exc:
        ok, error, retryable = False, f"{type(exc).__name__}: {exc}", True
    if ok:
        await _set_status(ctx, message_id, "sent")
        return "sent"
    tries = ctx.get("job_try", 1)
    if retryable and tries < MAX_TRIES:
        await pool.execute("UPDATE messages SET status = 'queued' WHERE id = $1", message_id)
        raise Retry(defer=timedelta(seconds=min(300, 2 ** tries)))
    await _set_status(ctx, message_id, "failed", error)
    return "failed"


async def requeue_lost_deliveries(ctx: dict[str, Any]) -> int:
    """Queued messages whose job never made it to Redis (crash after commit)."""
    pool: asyncpg.Pool = ctx["pool"]
    ids = await pool.fetch(
        "SELECT id FROM messages WHERE status = 'queued' AND direction = 'out'"
        " AND created_at < now() - interval '30 seconds' LIMIT 500"
    )
    for r in ids:
        await ctx["redis"].enqueue_job(DELIVER_MESSAGE, r["id"],
                                       _job_id=delivery_job_id(ctx["settings"], r["id"]),
                                       _queue_name=ctx["settings"].arq_queue)
    stuck = await pool.fetch(
        "SELECT id FROM messages WHERE status = 'sending'"
        " AND status_at < now() - interval '10 minutes' LIMIT 500"
    )
    for r in stuck:
        # The worker died mid-send: we cannot know if it arrived; never send twice.
        await _set_status(ctx, r["id"], "failed", "delivery outcome unknown (worker stopped)")
    return len(ids)


def make_worker_settings(settings: Settings) -> type:
    async def startup(ctx: dict[str, Any]) -> None:
        ctx["settings"] = settings
        ctx["pool"] = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=4)
        ctx["redis_plain"] = aioredis.from_url(settings.redis_url)
        ctx["publisher"] = Publisher(ctx["redis_plain"], settings)
        ctx["http"] = httpx.AsyncClient(timeout=httpx.Timeout(10.0))

    async def shutdown(ctx: dict[str, Any]) -> None:
        await ctx["http"].aclose()
        await ctx["redis_plain"].aclose()
        await ctx["pool"].close()

    class WorkerSettings:
        functions = [deliver_message]
        cron_jobs = [cron(requeue_lost_deliveries, second={0, 30}, run_at_startup=False)]
        on_startup = startup
        on_shutdown = shutdown
        redis_settings = RedisSettings.from_dsn(settings.redis_url)
        queue_name = settings.arq_queue
        max_tries = MAX_TRIES
        handle_signals = True

    return WorkerSettings
