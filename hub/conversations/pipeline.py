"""The pipeline: reads the ``ingest`` stream through a consumer group, persists each
batch in one Postgres transaction, publishes the resulting events after commit, and
only then XACKs. Entries of dead consumers are reclaimed with XAUTOCLAIM; the stream
is trimmed only behind the slowest group.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING

import msgspec
import redis.asyncio as aioredis
from arq.connections import ArqRedis
from redis.exceptions import RedisError, ResponseError

from hub.config import Settings
from hub.conversations.dead_letters import add_dead_letter
from hub.conversations.steps import IngestSteps
from hub.conversations.store.failures import (
    CONFLICTS,
    DATABASE_ERRORS,
    open_pipeline_pool,
    refused_content,
    sql_bug,
)
from hub.conversations.store.ingest_rows import InboxCache
from hub.conversations.store.persist import persist_inbound_batch
from hub.ingest_steps import ingest_steps_for
from hub.jobs import PendingJob, job_id
from hub.outbox import OutboxSweeper, Publisher, delete_published, write_outbox
from hub.schema import AnyEvent, Envelope, decode_envelope

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger("omnihub.pipeline")

GROUP = "pipeline"


def is_poison(exc: BaseException) -> bool:
    """Postgres refused an entry's content: retrying it can never succeed, so it is
    dead-lettered (with an alarm; hub/conversations/dead_letters.py). Edges make every
    envelope storable before they acknowledge it (hub.schema.encode_envelope), so this is
    the last resort for what no edge could have caught. A Python error (ValueError,
    KeyError, TypeError...) is a bug in our code, never the entry's fault: the batch stays
    pending and is retried with backoff until the bug is fixed."""
    return refused_content(exc)


# Infrastructure failures: the entries stay pending and are retried, quietly.
TRANSIENT: tuple[type[Exception], ...] = (OSError, ConnectionError, TimeoutError,
                                          *DATABASE_ERRORS, RedisError)


def _is_transient(exc: BaseException) -> bool:
    # SQL that does not compile against the schema (class 42) is a bug in our code.
    return isinstance(exc, TRANSIENT) and not is_poison(exc) and not sql_bug(exc)


async def ensure_group(redis: aioredis.Redis, stream: str, group: str,
                       start: str = "0") -> None:
    """Create the consumer group (reading from ``start``) unless it exists."""
    try:
        await redis.xgroup_create(stream, group, id=start, mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Pipeline:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis,
                 steps: IngestSteps | None = None) -> None:
        self.settings = settings
        self.pool = pool
        self.redis = redis
        self.publisher = Publisher(redis, settings)
        self.consumer = settings.consumer_name or default_consumer_name()
        self.stream = settings.ingest_stream
        self.inbox_cache = InboxCache()
        # The channels' persistence steps (hub/ingest_steps.py), configured from settings.
        self.steps = steps or ingest_steps_for(settings)
        # Outbox rows already published; deleted inside the next transaction (or when
        # idle) so the DELETE costs no round trip of its own.
        self._published: list[int] = []
        self.batches_done = 0  # batches handled by the consumer loop (resets its backoff)

    async def handle_entries(self, entries: Sequence[tuple[bytes, dict[bytes, bytes]]]) -> int:
        """Persist, publish, then ack one batch. Returns the number of new messages."""
        if not entries:
            return 0
        good: list[tuple[str, Envelope]] = []
        dead: list[tuple[str, str, bytes]] = []
        for raw_id, fields in entries:
            entry_id = raw_id.decode()
            data = fields.get(b"env", b"")
            try:
                good.append((entry_id, decode_envelope(data)))
            except msgspec.ValidationError as exc:
                dead.append((entry_id, f"invalid envelope: {exc}", data))
            except msgspec.DecodeError as exc:
                dead.append((entry_id, f"undecodable: {exc}", data))

        stored = 0
        rows: list[tuple[int, bytes, AnyEvent]] = []
        for attempt in range(8):
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    done, self._published = self._published, []
                    try:
                        result = await persist_inbound_batch(conn, good, self.inbox_cache,
                                                            steps=self.steps)
                        rows = await write_outbox(conn, result.events, forget=done)
                    except BaseException:
                        self._published.extend(done)
                        raise
                break
            except CONFLICTS:
                if attempt == 7:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        stored = result.stored
        for index, reason in result.rejected:
            entry_id, env = good[index]
            dead.append((entry_id, reason, msgspec.json.encode(env)))

        ids = [raw_id for raw_id, _ in entries]
        async with self.redis.pipeline(transaction=False) as pipe:
            if rows:
                self.publisher.publish_in(pipe, rows)
            for entry_id, reason, data in dead:
                add_dead_letter(pipe, self.settings, entry_id, reason, data)
            pipe.xack(self.stream, GROUP, *ids)
            results = await pipe.execute(raise_on_error=False)
        if rows and isinstance(results[0], Exception):
            # Script cache flushed (server restart): publish the plain way.
            await self.publisher.publish(rows)
        self._published.extend(seq for seq, _, _ in rows)
        if result.jobs:
            await self.enqueue_jobs(result.jobs)
        return stored

    async def enqueue_jobs(self, jobs: Sequence[PendingJob]) -> None:
        """After commit: the jobs the steps asked for (an email case's acknowledgement).
        Job ids make a repeat a no-op. A lost enqueue is not fatal: the rows stay pending
        and the job's sweeper enqueues them again."""
        arq = ArqRedis(connection_pool=self.redis.connection_pool)
        for job in jobs:
            try:
                await arq.enqueue_job(job.function, *job.args,
                                      _job_id=job_id(self.settings, job.key),
                                      _queue_name=self.settings.arq_queue)
            except (RedisError, OSError) as exc:
                log.warning("enqueueing job %s failed (its sweeper will retry): %r",
                            job.key, exc)

    async def flush_published(self) -> None:
        """Delete published outbox rows now (when the stream is idle)."""
        if self._published:
            done, self._published = self._published, []
            try:
                await delete_published(self.pool, done)
            except BaseException:
                self._published.extend(done)
                raise

    async def consume_forever(self, stop: asyncio.Event) -> None:
        """Consume until stopped; failures back off and retry from the pending entries,
        never exit. A bug (any non-infrastructure error) is logged at ERROR each time."""
        delay = 0.1
        while not stop.is_set():
            done = self.batches_done
            try:
                await self._consume(stop)
            except Exception as exc:
                if _is_transient(exc):
                    log.warning("pipeline consumer failed, retrying in %.1fs: %r", delay, exc)
                else:
                    log.exception("pipeline batch failed on an unexpected error (a bug?); its"
                                  " entries stay pending, retrying in %.1fs", delay)
            else:
                continue
            if self.batches_done != done:  # it worked for a while: start over
                delay = 0.1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _consume(self, stop: asyncio.Event) -> None:
        # Our own pending entries first (a restart, or a failure mid-batch), paging
        # through them by id so an entry left pending (a bug) cannot be read forever.
        start = "0"
        while not stop.is_set():
            history = start != ">"
            try:
                resp = await self.redis.xreadgroup(
                    GROUP, self.consumer, {self.stream: start},
                    count=self.settings.pipeline_batch,
                    block=None if history else self.settings.pipeline_block_ms,
                )
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    await ensure_group(self.redis, self.stream, GROUP)
                    continue
                raise
            entries = resp[0][1] if resp else []
            if not entries:
                start = ">"
                await self.flush_published()
                continue
            if history:
                last = entries[-1][0]
                start = last.decode() if isinstance(last, bytes) else str(last)
                entries = [e for e in entries if e[1]]  # deleted from the stream
            # New entries that all hit a bug raise, so the consumer backs off; pending
            # ones already known to be stuck are passed over (the reclaim retries them).
            await self.handle_safely(entries, raise_if_all_stuck=not history)
            self.batches_done += 1

    async def handle_safely(self, entries: Sequence[tuple[bytes, dict[bytes, bytes]]], *,
                            raise_if_all_stuck: bool = False) -> None:
        """Persist a batch; when it fails on something other than infrastructure, retry
        it entry by entry so one entry cannot block the rest:

        - an entry Postgres refuses again for its data (``is_poison``) is dead-lettered;
        - an entry that hits a bug in our code stays pending (never acknowledged, never
          dead-lettered) and is retried by the reclaim loop every ``claim_idle_ms``, and
          on every restart, until the bug is fixed. With ``raise_if_all_stuck``, a batch
          whose every entry hits it raises, and the consumer backs off.

        Infrastructure errors (``TRANSIENT``: database restarting, network, timeouts)
        propagate at once: the entries stay pending and are retried with backoff. A
        valid message is never dead-lettered."""
        if not entries:
            return
        try:
            await self.handle_entries(entries)
            return
        except Exception as exc:
            if _is_transient(exc):
                raise
            if is_poison(exc):
                log.warning("batch of %d refused (%r); retrying one by one", len(entries), exc)
            else:
                log.error("batch of %d failed on an unexpected error (%r); retrying one by"
                          " one", len(entries), exc)
        stuck: list[tuple[bytes, Exception]] = []
        for entry in entries:
            try:
                await self.handle_entries([entry])
            except Exception as exc:
                if _is_transient(exc):
                    raise
                if not is_poison(exc):
                    stuck.append((entry[0], exc))
                    continue
                async with self.redis.pipeline(transaction=False) as pipe:
                    add_dead_letter(pipe, self.settings, entry[0],
                                    f"{type(exc).__name__}: {exc}", entry[1].get(b"env", b""))
                    pipe.xack(self.stream, GROUP, entry[0])
                    await pipe.execute()
        if not stuck:
            return
        first = stuck[0][1]
        if raise_if_all_stuck and len(stuck) == len(entries):
            raise first
        log.error("%d of %d ingest entries hit a bug (first %s); they stay pending and are"
                  " retried every %d ms", len(stuck), len(entries), stuck[0][0],
                  self.settings.claim_idle_ms, exc_info=first)

    async def reclaim_once(self) -> int:
        """Take over entries a dead consumer left pending, and process them."""
        total = 0
        cursor = "0-0"
        while True:
            resp = await self.redis.xautoclaim(
                self.stream, GROUP, self.consumer, self.settings.claim_idle_ms,
                start_id=cursor, count=self.settings.pipeline_batch,
            )
            cursor = resp[0].decode() if isinstance(resp[0], bytes) else resp[0]
            entries = [e for e in resp[1] if e[1] is not None]
            if entries:
                total += len(entries)
                await self.handle_safely(entries)
            if cursor in ("0-0", "0"):
                return total

    async def trim_ingest(self) -> None:
        """XTRIM MINID to the oldest entry any group still needs."""
        groups = await self.redis.xinfo_groups(self.stream)
        floor: tuple[int, int] | None = None
        for g in groups:
            name = g["name"]
            pending = await self.redis.xpending(self.stream, name)
            candidate = pending["min"] if pending["pending"] else g["last-delivered-id"]
            if isinstance(candidate, bytes):
                candidate = candidate.decode()
            ms, _, seq = str(candidate).partition("-")
            sid = (int(ms), int(seq or 0))
            floor = sid if floor is None or sid < floor else floor
        if floor is not None and floor > (0, 0):
            await self.redis.xtrim(self.stream, minid=f"{floor[0]}-{floor[1]}", approximate=False)

    async def maintain_forever(self, stop: asyncio.Event) -> None:
        sweeper = OutboxSweeper(self.pool, self.redis, self.publisher, self.settings)
        interval = max(0.2, self.settings.claim_idle_ms / 3000)
        tick = 0
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
                return
            except TimeoutError:
                pass
            tick += 1
            try:
                await self.reclaim_once()
                if tick % 5 == 0:
                    await sweeper.sweep_once()
                    await self.trim_ingest()
            except Exception as exc:
                if _is_transient(exc):
                    log.warning("pipeline maintenance failed, will retry: %r", exc)
                else:
                    log.exception("pipeline maintenance failed on an unexpected error (a"
                                  " bug?); reclaimed entries stay pending, retrying next tick")


async def run_pipeline(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run one pipeline consumer until ``stop`` is set."""
    stop = stop or asyncio.Event()
    pool = await open_pipeline_pool(settings.database_url)
    redis = aioredis.from_url(settings.redis_url, decode_responses=False)  # type: ignore[no-untyped-call]
    try:
        await ensure_group(redis, settings.ingest_stream, GROUP)
        pipeline = Pipeline(settings, pool, redis)
        log.info("pipeline consumer %s started", pipeline.consumer)
        async with asyncio.TaskGroup() as tg:
            consume = tg.create_task(pipeline.consume_forever(stop))
            tg.create_task(pipeline.maintain_forever(stop))
            await stop.wait()
            consume.cancel()
    finally:
        await redis.aclose()
        await pool.close()
