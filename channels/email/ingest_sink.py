"""Where inbound mail goes: raw bytes → parsed → envelopes → one MULTI/EXEC of XADDs on
the ingest stream. Shared by the SMTP/LMTP receiver and the IMAP fetcher.

The raw message and its attachments are written to a content-addressed ``FileBlobStore``
first (``raw_ref`` and ``AttachmentRef.ref`` are ``blob:sha256:<hex>``), so the stream
carries references only. Nothing here touches Postgres.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import redis.asyncio as aioredis

from channels.email.envelope import envelope_from_email
from channels.email.parse import parse_email, unparsed_email
from hub.errors import ConfigError
from hub.schema import Envelope, encode_envelope

log = logging.getLogger("omnihub.mail")

BLOB_PREFIX = "blob:sha256:"
DEFAULT_MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024


class MailSink(Protocol):
    """Accepts one raw message for some inboxes; returns only once it is durable."""

    async def deliver(self, raw: bytes, inboxes: Sequence[str], *,
                      envelope_from: str | None = None, envelope_to: Sequence[str] = (),
                      attributes: Mapping[str, str] | None = None) -> list[str]: ...


class FileBlobStore:
    """Content-addressed files ``<root>/<2 hex>/<sha256>``; writes are fsynced and atomic,
    and storing the same bytes twice is a no-op (retries are free)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, ref: str) -> Path:
        if not ref.startswith(BLOB_PREFIX):
            raise ValueError(f"not a blob ref: {ref!r}")
        digest = ref.removeprefix(BLOB_PREFIX)
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"not a blob ref: {ref!r}")
        return self.root / digest[:2] / digest

    def put(self, data: bytes, filename: str = "", content_type: str = "") -> str:
        """Store ``data``; returns its ref. (Signature fits parse_email's store_attachment.)"""
        ref = BLOB_PREFIX + hashlib.sha256(data).hexdigest()
        target = self.path(ref)
        if target.exists():
            return ref
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return ref

    def get(self, ref: str) -> bytes:
        return self.path(ref).read_bytes()


class RedisMailSink:
    """Parse (in a worker thread), store blobs, XADD one envelope per inbox atomically.

    ``wait_aof``: after the XADDs, ``WAITAOF 1 0`` so the entries are fsynced to the
    append-only file before ``deliver`` returns (needs ``appendonly yes``; costs up to
    one second with ``appendfsync everysec``).

    ``max_parallel_parses``: mails parsed at once (each is bounded, docs/email.md
    "Limits"; this bounds their sum). Others wait their turn inside ``deliver``."""

    def __init__(self, redis: aioredis.Redis, stream: str, blobs: FileBlobStore, *,
                 max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
                 wait_aof: bool = False, wait_aof_timeout_ms: int = 5000,
                 our_domains: Sequence[str] = (), max_parallel_parses: int = 2,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.redis = redis
        self._parse_slots = asyncio.Semaphore(max_parallel_parses)
        self.stream = stream
        self.blobs = blobs
        self.max_attachment_bytes = max_attachment_bytes
        self.wait_aof = wait_aof
        self.wait_aof_timeout_ms = wait_aof_timeout_ms
        self.clock = clock
        # Our own domains: mail from them is never acknowledged (loop protection).
        self.our_domains = tuple(our_domains)

    def build(self, raw: bytes, inboxes: Sequence[str], *, envelope_from: str | None = None,
              envelope_to: Sequence[str] = (),
              attributes: Mapping[str, str] | None = None) -> list[Envelope]:
        """Blocking: parse, write the raw message and attachments, build the envelopes."""
        raw_ref = self.blobs.put(raw, "message.eml", "message/rfc822")
        try:
            return self._envelopes(raw, raw_ref, inboxes, envelope_from, envelope_to,
                                   attributes, parse=True)
        except OSError:
            raise  # the blob store failing: the sender (or the IMAP loop) retries
        except Exception as exc:
            # A parser failure is the mail's fault and would fail again on every retry
            # (451 for ever, a blocked IMAP checkpoint): keep it, headers only, flagged.
            log.exception("mail %s could not be parsed; stored flagged, headers only",
                          raw_ref)
            return self._envelopes(raw, raw_ref, inboxes, envelope_from, envelope_to,
                                   attributes, parse=False,
                                   reason=f"ParseError: {type(exc).__name__}")

    def _envelopes(self, raw: bytes, raw_ref: str, inboxes: Sequence[str],
                   envelope_from: str | None, envelope_to: Sequence[str],
                   attributes: Mapping[str, str] | None, *, parse: bool,
                   reason: str = "") -> list[Envelope]:
        if parse:
            parsed = parse_email(raw, inbox=inboxes[0] if inboxes else "",
                                 max_attachment_bytes=self.max_attachment_bytes,
                                 store_attachment=self.blobs.put,
                                 envelope_from=envelope_from, envelope_to=tuple(envelope_to))
        else:
            parsed = unparsed_email(raw, reason, envelope_from=envelope_from,
                                    envelope_to=tuple(envelope_to))
        now = self.clock()
        envelopes = []
        for inbox in dict.fromkeys(inboxes):
            env = envelope_from_email(parsed, inbox, now, raw_ref=raw_ref,
                                      our_domains=self.our_domains)
            if attributes:
                env.attributes.update(attributes)
            envelopes.append(env)
        return envelopes

    async def append(self, envelopes: Sequence[Envelope]) -> list[str]:
        """All or nothing: one MULTI/EXEC with an XADD per envelope."""
        if not envelopes:
            return []
        async with self.redis.pipeline(transaction=True) as pipe:
            for env in envelopes:
                pipe.xadd(self.stream, {"env": encode_envelope(env)})
            ids = await pipe.execute()
        if self.wait_aof:
            local, _ = await self.redis.execute_command(  # type: ignore[no-untyped-call]
                "WAITAOF", 1, 0, self.wait_aof_timeout_ms)
            if int(local) < 1:
                raise TimeoutError("ingest entries not fsynced within the timeout")
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]

    async def deliver(self, raw: bytes, inboxes: Sequence[str], *,
                      envelope_from: str | None = None, envelope_to: Sequence[str] = (),
                      attributes: Mapping[str, str] | None = None) -> list[str]:
        async with self._parse_slots:
            envelopes = await asyncio.to_thread(
                self.build, raw, inboxes, envelope_from=envelope_from,
                envelope_to=envelope_to, attributes=attributes)
        return await self.append(envelopes)


# ---- running the email adapters (what `omnihub mail` would call) ------------------------


@dataclass(frozen=True, slots=True)
class MailConfig:
    """Which email adapters to run. Built at the edge (``mail_config_from_env``)."""

    blob_dir: str = ".omnihub/blobs"
    smtp_listen: str = ""  # "host:port"; empty = no SMTP/LMTP receiver
    smtp_lmtp: bool = False
    smtp_recipients: str = ""  # "support@example.com=mail,@example.org=sales-mail"
    max_message_bytes: int = 30 * 1024 * 1024
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES
    imap_accounts: tuple[Mapping[str, Any], ...] = ()  # ImapAccount fields
    imap_idle_interval_s: float = 25 * 60
    imap_poll_interval_s: float = 60.0
    wait_aof: bool = False
    # OMNIHUB_EMAIL_DOMAIN (the domain we send from) plus OMNIHUB_EMAIL_OWN_DOMAINS.
    our_domains: tuple[str, ...] = ()


def mail_config_from_env(env: Mapping[str, str]) -> MailConfig:
    """``OMNIHUB_MAIL_BLOB_DIR``, ``OMNIHUB_SMTP_LISTEN``, ``OMNIHUB_SMTP_LMTP``,
    ``OMNIHUB_SMTP_RECIPIENTS``, ``OMNIHUB_MAIL_MAX_BYTES``, ``OMNIHUB_MAIL_MAX_ATTACHMENT_BYTES``,
    ``OMNIHUB_IMAP_ACCOUNTS`` (a JSON list of ImapAccount fields),
    ``OMNIHUB_IMAP_IDLE_INTERVAL_S``, ``OMNIHUB_IMAP_POLL_INTERVAL_S``,
    ``OMNIHUB_MAIL_WAIT_AOF``, ``OMNIHUB_EMAIL_DOMAIN``, ``OMNIHUB_EMAIL_OWN_DOMAINS``."""
    def get(name: str, default: str) -> str:
        return env.get("OMNIHUB_" + name) or default

    base = MailConfig()
    try:
        accounts = json.loads(get("IMAP_ACCOUNTS", "[]"))
        if not isinstance(accounts, list) or not all(isinstance(a, dict) for a in accounts):
            raise ValueError("OMNIHUB_IMAP_ACCOUNTS must be a JSON list of objects")
        return MailConfig(
            blob_dir=get("MAIL_BLOB_DIR", base.blob_dir),
            smtp_listen=get("SMTP_LISTEN", ""),
            smtp_lmtp=get("SMTP_LMTP", "").lower() in ("1", "true", "yes", "on"),
            smtp_recipients=get("SMTP_RECIPIENTS", ""),
            max_message_bytes=int(get("MAIL_MAX_BYTES", str(base.max_message_bytes))),
            max_attachment_bytes=int(get("MAIL_MAX_ATTACHMENT_BYTES",
                                         str(base.max_attachment_bytes))),
            imap_accounts=tuple(accounts),
            imap_idle_interval_s=float(get("IMAP_IDLE_INTERVAL_S",
                                           str(base.imap_idle_interval_s))),
            imap_poll_interval_s=float(get("IMAP_POLL_INTERVAL_S",
                                           str(base.imap_poll_interval_s))),
            wait_aof=get("MAIL_WAIT_AOF", "").lower() in ("1", "true", "yes", "on"),
            our_domains=tuple(d.strip().lower() for d in
                              f'{get("EMAIL_DOMAIN", "")},{get("EMAIL_OWN_DOMAINS", "")}'
                              .split(",") if d.strip()),
        )
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise ConfigError(f"email settings: {exc}") from exc


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
