"""The mail service (`omnihub mail`): the SMTP/LMTP receiver and one IMAP fetcher per
account, writing into the ingest stream through ``RedisMailSink``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import redis.asyncio as aioredis

from channels.email.imap_fetcher import Checkpoints, ImapAccount, ImapFetcher
from channels.email.ingest_sink import FileBlobStore, MailConfig, RedisMailSink
from channels.email.smtp_receiver import IngestHandler, RecipientMap, SmtpReceiver
from hub.config import Settings

log = logging.getLogger("omnihub.mail")


async def refresh_recipients(redis: aioredis.Redis, key: str, recipients: Any) -> None:
    """Load the inboxes' addresses the hub published (a Redis hash) into ``recipients``."""
    raw = await redis.hgetall(key)  # type: ignore[misc]
    recipients.replace_published({k.decode(): v.decode() for k, v in raw.items()})


async def keep_recipients_fresh(redis: aioredis.Redis, key: str, recipients: Any,
                                stop: asyncio.Event, every_s: float = 5.0) -> None:
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
        if stop.is_set():
            return
        try:
            await refresh_recipients(redis, key, recipients)
        except (OSError, aioredis.RedisError) as exc:
            log.warning("could not refresh the published mail recipients: %s", exc)


async def run_mail(settings: Settings, config: MailConfig, stop: asyncio.Event,
                   *, started: asyncio.Event | None = None) -> None:
    """Run the SMTP/LMTP receiver and one IMAP fetcher per account until ``stop``."""
    redis = aioredis.from_url(settings.redis_url, decode_responses=False)  # type: ignore[no-untyped-call]
    sink = RedisMailSink(redis, settings.ingest_stream, FileBlobStore(config.blob_dir),
                         max_attachment_bytes=config.max_attachment_bytes,
                         wait_aof=config.wait_aof, our_domains=config.our_domains)
    receiver = None
    try:
        accounts = [ImapAccount(**a) for a in config.imap_accounts]
        fetchers = [ImapFetcher(a, sink, Checkpoints(redis, settings.key_prefix),
                                idle_interval_s=config.imap_idle_interval_s,
                                poll_interval_s=config.imap_poll_interval_s,
                                max_message_bytes=config.max_message_bytes)
                    for a in accounts]
        tasks = []
        if config.smtp_listen:
            host, _, port = config.smtp_listen.rpartition(":")
            recipients = RecipientMap.parse(config.smtp_recipients)
            key = settings.key_prefix + "mail:recipients"  # hub/store/mail_recipients.py
            await refresh_recipients(redis, key, recipients)
            tasks.append(asyncio.create_task(
                keep_recipients_fresh(redis, key, recipients, stop), name="mail:recipients"))
            handler = IngestHandler(sink, recipients, lmtp=config.smtp_lmtp)
            receiver = SmtpReceiver(handler, host or "127.0.0.1", int(port),
                                    max_message_bytes=config.max_message_bytes)
            await receiver.start()
        tasks += [asyncio.create_task(f.run(stop), name=f"imap:{f.account.checkpoint_name}")
                  for f in fetchers]
        if started is not None:
            started.set()
        await stop.wait()
        await asyncio.gather(*tasks)
    finally:
        if receiver is not None:
            await receiver.stop()
        await redis.aclose()
