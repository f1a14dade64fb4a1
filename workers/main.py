"""arq worker: outbound delivery for channels that are not live sockets (one sender per
channel in workers/registry.py: the API channel's webhook, email; SMS and messengers
plug in the same way), email acknowledgements, and the sweeps that re-enqueue jobs whose
enqueue was lost and end sends whose worker died. Jobs may run twice, so each claims its
row with a conditional UPDATE first: two jobs never send the same message."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis
from arq import cron, func
from arq.connections import RedisSettings

from hub.config import Settings
from hub.outbox import Publisher
from workers.bot_fallback import sweep_stuck_bots
from workers.bot_webhooks import deliver_bot_webhook, requeue_bot_deliveries, watch_bot_events
from workers.delivery import (
    DELIVER_MAX_TRIES,
    deliver_message,
    requeue_lost_deliveries,
    set_message_status,
)
from workers.email_ack import send_email_ack, sweep_email_acks
from workers.verification import MAX_SEND_TRIES, send_verification_code
from workers.voice import dial_accepted_callbacks, originate_callback, watch_acceptances
from workers.webhook_send import MAX_TRIES

log = logging.getLogger("omnihub.worker")

__all__ = ["MAX_TRIES", "deliver_message", "make_worker_settings", "requeue_lost_deliveries",
           "set_message_status"]


def make_worker_settings(settings: Settings) -> type:
    async def startup(ctx: dict[str, Any]) -> None:
        ctx["settings"] = settings
        ctx["pool"] = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=4)
        ctx["redis_plain"] = aioredis.from_url(settings.redis_url)  # type: ignore[no-untyped-call]
        ctx["publisher"] = Publisher(ctx["redis_plain"], settings)
        ctx["http"] = httpx.AsyncClient(timeout=httpx.Timeout(10.0))
        # Voice: originate callbacks accepted through the router (workers/voice.py).
        ctx["voice_hook"] = asyncio.create_task(watch_acceptances(ctx), name="voice-hook")
        # Bots: committed events for webhook bots become delivery rows and jobs.
        ctx["bot_hook"] = asyncio.create_task(watch_bot_events(ctx), name="bot-webhooks")

    async def shutdown(ctx: dict[str, Any]) -> None:
        for name in ("voice_hook", "bot_hook"):
            ctx[name].cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ctx[name]
        await ctx["http"].aclose()
        await ctx["redis_plain"].aclose()
        await ctx["pool"].close()

    class WorkerSettings:
        functions = [
            func(deliver_message, max_tries=DELIVER_MAX_TRIES),
            func(send_email_ack, max_tries=DELIVER_MAX_TRIES),
            # Never retried by arq: a repeat could ring the customer twice. A
            # failed attempt goes back to the queue instead (workers/voice.py).
            func(originate_callback, max_tries=1),
            # Retries are new jobs with the row's own backoff (workers/bot_webhooks.py).
            func(deliver_bot_webhook, max_tries=1),
            # Claim codes (workers/verification.py): a few quick tries, codes expire.
            func(send_verification_code, max_tries=MAX_SEND_TRIES),
        ]
        cron_jobs = [
            cron(requeue_lost_deliveries, second={0, 30}, run_at_startup=False),
            cron(sweep_email_acks, second={15, 45}, run_at_startup=False),
            cron(dial_accepted_callbacks, second=set(range(5, 60, 15)), run_at_startup=False),
            cron(requeue_bot_deliveries, second=set(range(7, 60, 10)), run_at_startup=False),
            # Stuck bots: idempotent, so every worker may run it (docs/bots.md).
            cron(sweep_stuck_bots, second=set(range(2, 60, 5)), run_at_startup=False),
        ]
        on_startup = startup
        on_shutdown = shutdown
        redis_settings = RedisSettings.from_dsn(settings.redis_url)
        queue_name = settings.arq_queue
        max_tries = MAX_TRIES
        # arq starts at most max_jobs per poll: at its default 0.5 s a worker delivered
        # ~20 replies/s whatever the work took (bench/email_outbound.py).
        poll_delay = 0.05
        max_jobs = 20
        handle_signals = True

    return WorkerSettings
