"""Enqueue worker jobs after commit. Job ids make enqueueing idempotent."""

from __future__ import annotations

import redis.asyncio as aioredis
from arq.connections import ArqRedis

from hub.config import Settings
from hub.jobs import (
    DELIVER_MESSAGE,
    SEND_VERIFICATION_CODE,
    delivery_job_id,
    verification_job_id,
)
from hub.schema import Message


async def enqueue_delivery(redis: aioredis.Redis, settings: Settings, message: Message) -> None:
    """Queue provider delivery for replies that do not travel over our own sockets."""
    if message.status != "queued":
        return
    arq = ArqRedis(connection_pool=redis.connection_pool)
    await arq.enqueue_job(DELIVER_MESSAGE, message.id,
                          _job_id=delivery_job_id(settings, message.id),
                          _queue_name=settings.arq_queue)


async def enqueue_verification_code(redis: aioredis.Redis, settings: Settings,
                                    verification_id: int) -> None:
    """Queue the sending of a claim's one-time code (workers/verification.py)."""
    arq = ArqRedis(connection_pool=redis.connection_pool)
    await arq.enqueue_job(SEND_VERIFICATION_CODE, verification_id,
                          _job_id=verification_job_id(settings, verification_id),
                          _queue_name=settings.arq_queue)
