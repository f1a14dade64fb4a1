"""Enqueue worker jobs after commit. Job ids make enqueueing idempotent."""

from __future__ import annotations

import redis.asyncio as aioredis
from arq.connections import ArqRedis

from hub.config import Settings
from hub.schema import Message


def delivery_job_id(message_id: int) -> str:
    return f"deliver:{message_id}"


async def enqueue_delivery(redis: aioredis.Redis, settings: Settings, message: Message) -> None:
    """Queue provider delivery for replies that do not travel over our own sockets."""
    if message.status != "queued":
        return
    arq = ArqRedis(connection_pool=redis.connection_pool)
    await arq.enqueue_job("deliver_message", message.id,
                          _job_id=delivery_job_id(message.id), _queue_name=settings.arq_queue)
