"""The mail process: the SMTP/LMTP receiver and one IMAP fetcher per account, feeding
one ``RedisMailSink``. Separate from ``ingest_sink`` because the adapters import the
sink, and the runner imports the adapters."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from channels.email.imap_fetcher import Checkpoints, ImapAccount, ImapFetcher
from channels.email.ingest_sink import (
    FileBlobStore,
    MailConfig,
    RedisMailSink,
    keep_recipients_fresh,
    refresh_recipients,
)
from channels.email.smtp_receiver import IngestHandler, RecipientMap, SmtpReceiver
from hub.config import Settings


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
            key = settings.key_prefix + "mail:recipients"  # hub/email/store/recipients.py
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
