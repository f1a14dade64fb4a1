"""Which address reaches which email inbox, published for the mail adapters.

The adapters never read Postgres, so the web process publishes the email inboxes'
addresses (``inboxes.email_address``) as one Redis hash, address → inbox slug: at start,
and after an admin changes an email inbox. ``omnihub mail`` re-reads it every few seconds
and merges it under ``OMNIHUB_SMTP_RECIPIENTS`` (which wins), so an inbox created in
Settings receives mail without a restart."""

from __future__ import annotations

import asyncpg
import redis.asyncio as aioredis

from hub.config import Settings


def recipients_key(settings: Settings) -> str:
    return settings.key_prefix + "mail:recipients"


async def publish_mail_recipients(pool: asyncpg.Pool, redis: aioredis.Redis,
                                  settings: Settings) -> int:
    rows = await pool.fetch(
        "SELECT lower(email_address) AS address, slug FROM inboxes"
        " WHERE channel = 'email' AND coalesce(email_address, '') <> '' ORDER BY slug")
    mapping = {r["address"]: r["slug"] for r in rows}
    for r in rows:  # replies to our reply+<token>@<domain> addresses (the token threads them)
        domain = (settings.email_domain or r["address"].rpartition("@")[2]).lower()
        mapping.setdefault(f"reply@{domain}", r["slug"])
    key = recipients_key(settings)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(key)
        if mapping:
            pipe.hset(key, mapping=mapping)
        await pipe.execute()
    return len(mapping)
