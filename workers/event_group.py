"""A worker's consumer group on the events stream: read its own pending entries first
(a crash before XACK redelivers them), then new ones; ``handle`` each batch; XACK the
batch after ``handle`` returns. A group created for the first time starts at the tail
('$'): history is never replayed. Errors (Redis gone, the group deleted, ``handle``
failing) are logged and the loop resumes from the pending entries, so at least once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from hub.conversations.pipeline import ensure_group

log = logging.getLogger("omnihub.worker")

Entries = list[tuple[Any, dict[bytes, bytes]]]


async def consume_events(redis: Any, stream: str, group: str, consumer: str,
                         handle: Callable[[Entries], Awaitable[None]], *, label: str,
                         block_ms: int = 2000) -> None:
    await ensure_group(redis, stream, group, start="$")
    backlog = True
    while True:
        try:
            resp = await redis.xreadgroup(group, consumer, {stream: "0" if backlog else ">"},
                                          count=200, block=None if backlog else block_ms)
            entries: Entries = resp[0][1] if resp else []
            if backlog and not entries:
                backlog = False
                continue
            if entries:
                await handle(entries)
                await redis.xack(stream, group, *(sid for sid, _ in entries))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if "NOGROUP" in str(exc):
                await ensure_group(redis, stream, group, start="$")
            else:
                log.warning("%s: events read failed, retrying: %r", label, exc)
            backlog = True  # resume from our own pending entries
            await asyncio.sleep(0.5)
