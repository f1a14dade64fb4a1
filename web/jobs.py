"""Enqueue worker jobs after commit. Job ids make enqueueing idempotent."""

from __future__ import annotations

import redis.asyncio as aioredis
from arq.connections import ArqRedis

from hub.config import Settings
from hub.jobs import DELIVER_MESSAGE, delivery_job_id
from hub.schema import Message


async def enqueue_delivery(redis: aioredis.Redis, settings: Settings, message: Message) -> None:
    """Queue provider delivery for replies that do not travel over our own sockets."""
    if message.status != "queued":
        return
    arq = ArqRedis(connection_pool=redis.connection_pool)
    await arq.enqueue_job(DELIVER_MESSAGE, message.id,
                          _job_id=delivery_job_id(settings, message.id),
                          _queue_name=settings.arq_queue)
