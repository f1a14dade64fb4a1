"""IMAP fetcher (aioimaplib): one mailbox → the ingest stream, at least once, no duplicates.

Per cycle: SELECT (read UIDVALIDITY), ``UID SEARCH UID last+1:*`` (the reversed-range
quirk filtered out), then per message ``UID FETCH (UID RFC822.SIZE BODY.PEEK[])`` (PEEK:
``\\Seen`` is left alone), ``MailSink.deliver`` (awaited: durable XADD) and **only then**
the checkpoint ``(uidvalidity, last_uid)`` in the Redis hash
``<key_prefix>imap:checkpoint:<name>``. A crash between the two refetches that message;
the pipeline deduplicates it on the Message-ID (or sha256 of the raw bytes). A changed
UIDVALIDITY resyncs the whole mailbox the same way. Between cycles it IDLEs (re-issued
every ``idle_interval_s`` < 29 min) when the server offers IDLE, otherwise it polls.
Never touches Postgres.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from aioimaplib import aioimaplib

from channels.email.ingest_sink import MailSink

log = logging.getLogger("omnihub.email.imap")

MAX_IDLE_S = 29 * 60
_FETCH = re.compile(rb"^\d+ FETCH \(")
_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")


class ImapError(Exception):
    """The server refused a command (login, select, search, fetch)."""


@dataclass(frozen=True, slots=True)
class ImapAccount:
    host: str
    port: int
    user: str
    password: str
    inbox: str  # the hub inbox slug (an inboxes row with channel 'email')
    mailbox: str = "INBOX"
    ssl: bool = False
    name: str = ""  # checkpoint name; default "<user>@<host>:<port>/<mailbox>"

    @property
    def checkpoint_name(self) -> str:
        return self.name or f"{self.user}@{self.host}:{self.port}/{self.mailbox}"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    uidvalidity: int
    last_uid: int


class Checkpoints:
    """``HSET <prefix>imap:checkpoint:<name> uidvalidity … last_uid …`` (one command:
    both fields change together)."""

    def __init__(self, redis: aioredis.Redis, key_prefix: str) -> None:
        self.redis = redis
        self.key_prefix = key_prefix

    def key(self, name: str) -> str:
        return f"{self.key_prefix}imap:checkpoint:{name}"

    async def load(self, name: str) -> Checkpoint | None:
        raw = await self.redis.hgetall(self.key(name))  # type: ignore[misc]
        fields = {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}
        if "uidvalidity" not in fields or "last_uid" not in fields:
            return None
        return Checkpoint(fields["uidvalidity"], fields["last_uid"])

    async def store(self, name: str, cp: Checkpoint) -> None:
        await self.redis.hset(self.key(name), mapping={  # type: ignore[misc]
            "uidvalidity": cp.uidvalidity, "last_uid": cp.last_uid})


def parse_fetch(lines: Sequence[bytes | bytearray]) -> dict[int, tuple[int | None, bytes | None]]:
    """aioimaplib FETCH lines → {uid: (RFC822.SIZE, literal)}; the UID may come before or
    after the literal."""
    out: dict[int, tuple[int | None, bytes | None]] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if isinstance(line, bytearray) or not _FETCH.match(line):
            continue
        text, literal = bytes(line), None
        if i < len(lines) and isinstance(lines[i], bytearray):
            literal = bytes(lines[i])
            i += 1
            if i < len(lines) and not isinstance(lines[i], bytearray) \
                    and not _FETCH.match(lines[i]):
                text += bytes(lines[i])
                i += 1
        uid, size = _UID.search(text), _SIZE.search(text)
        if uid:
            old = out.get(int(uid.group(1)), (None, None))
            out[int(uid.group(1))] = (int(size.group(1)) if size else old[0], literal or old[1])
    return out


def _ok(resp: aioimaplib.Response, what: str) -> aioimaplib.Response:
    if resp.result != "OK":
        raise ImapError(f"{what}: {resp.result} {resp.lines[-1:]!r}")
    return resp


class ImapFetcher:
    """``run(stop)`` until stopped (reconnecting with backoff); ``fetch_once()`` for one
    connect-sync-logout cycle. ``idle``: None = when offered, False = always poll."""

    def __init__(self, account: ImapAccount, sink: MailSink, checkpoints: Checkpoints, *,
                 idle: bool | None = None, idle_interval_s: float = 25 * 60,
                 poll_interval_s: float = 60.0, max_message_bytes: int = 30 * 1024 * 1024,
                 timeout_s: float = 60.0, batch: int = 200, max_backoff_s: float = 60.0) -> None:
        if not 0 < idle_interval_s < MAX_IDLE_S:
            raise ValueError("idle_interval_s must be below 29 minutes (RFC 2177)")
        self.account = account
        self.sink = sink
        self.checkpoints = checkpoints
        self.idle = idle
        self.idle_interval_s = idle_interval_s
        self.poll_interval_s = poll_interval_s
        self.max_message_bytes = max_message_bytes
        self.timeout_s = timeout_s
        self.batch = batch
        self.max_backoff_s = max_backoff_s
        self.idling = asyncio.Event()  # set while an IDLE is active (tests wait on it)
        self.idle_started = 0
        self.delivered = 0
        self._healthy = False

    # ---- one connection -------------------------------------------------------------

    async def _connect(self, lost: asyncio.Event) -> aioimaplib.IMAP4:
        cls = aioimaplib.IMAP4_SSL if self.account.ssl else aioimaplib.IMAP4
        client = cls(host=self.account.host, port=self.account.port, timeout=self.timeout_s,
                     conn_lost_cb=lambda exc: lost.set())
        await client.wait_hello_from_server()
        _ok(await client.login(self.account.user, self.account.password), "LOGIN")
        # The pre-login list is unioned with LOGIN's; ask again for the real one.
        await asyncio.wait_for(client.protocol.capability(), self.timeout_s)
        return client

    async def _close(self, client: aioimaplib.IMAP4) -> None:
        with contextlib.suppress(Exception):
            if client.has_pending_idle():
                client.idle_done()
            await asyncio.wait_for(client.logout(), 5)
        transport = client.protocol.transport
        if transport is not None:
            transport.close()

    async def sync(self, client: aioimaplib.IMAP4) -> int:
        """Deliver every message above the checkpoint; returns how many."""
        name = self.account.checkpoint_name
        selected = _ok(await client.select(self.account.mailbox), "SELECT")
        found = [_UIDVALIDITY.search(bytes(line)) for line in selected.lines]
        validity = next((int(m.group(1)) for m in found if m), None)
        if validity is None:
            raise ImapError("SELECT returned no UIDVALIDITY")
        cp = await self.checkpoints.load(name)
        last = 0
        if cp is not None and cp.uidvalidity == validity:
            last = cp.last_uid
        elif cp is not None:
            log.warning("%s: UIDVALIDITY %d -> %d, resyncing the whole mailbox", name,
                        cp.uidvalidity, validity)
        found_uids = _ok(await client.uid_search("UID", f"{last + 1}:*"), "UID SEARCH")
        uids = sorted({int(u) for line in found_uids.lines[:-1]
                       for u in bytes(line).split() if u.isdigit() and int(u) > last})
        count = 0
        for start in range(0, len(uids), self.batch):
            chunk = uids[start:start + self.batch]
            sizes = parse_fetch(_ok(await client.uid(
                "fetch", ",".join(map(str, chunk)), "(UID RFC822.SIZE)"), "UID FETCH").lines)
            for uid in chunk:
                size = sizes.get(uid, (None, None))[0]
                if size is not None and size > self.max_message_bytes:
                    part, attrs = "BODY.PEEK[HEADER]", {"email.oversize": str(size)}
                else:
                    part, attrs = "BODY.PEEK[]", {}
                fetched = parse_fetch(_ok(await client.uid(
                    "fetch", str(uid), f"(UID RFC822.SIZE {part})"), "UID FETCH").lines)
                raw = fetched.get(uid, (None, None))[1]
                if raw is not None:
                    await self.sink.deliver(raw, [self.account.inbox], attributes=attrs)
                    count += 1
                    self.delivered += 1
                else:  # expunged meanwhile (or BODY[] NIL): nothing left to keep
                    log.warning("%s: UID %d has no body, skipped", name, uid)
                await self.checkpoints.store(name, Checkpoint(validity, uid))
        if count:
            log.info("%s: delivered %d message(s)", name, count)
        return count

    async def _wait_for_mail(self, client: aioimaplib.IMAP4, lost: asyncio.Event) -> None:
        if self.idle is False or not client.has_capability("IDLE"):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self.poll_interval_s)
            return
        idle = await client.idle_start(timeout=self.idle_interval_s)
        self.idle_started += 1
        self.idling.set()
        gone = asyncio.ensure_future(lost.wait())
        try:
            while True:
                push = asyncio.ensure_future(
                    client.wait_server_push(timeout=self.idle_interval_s + self.timeout_s))
                try:
                    await asyncio.wait({push, gone}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    if not push.done():
                        push.cancel()
                if push.cancelled():
                    break  # connection lost
                lines = push.result()  # TimeoutError if even the re-issue timer is silent
                if lines == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break  # re-issue IDLE (after a sync)
                if any(b"EXISTS" in bytes(line) or b"BYE" in bytes(line) for line in lines):
                    break
        finally:
            gone.cancel()
            self.idling.clear()
        if not lost.is_set():
            client.idle_done()
            _ok(await asyncio.wait_for(idle, self.timeout_s), "IDLE")

    async def _session(self) -> None:
        lost = asyncio.Event()
        client = await self._connect(lost)
        try:
            while True:
                await self.sync(client)
                self._healthy = True
                await self._wait_for_mail(client, lost)
                if lost.is_set():
                    raise ConnectionError("IMAP connection lost")
        finally:
            await self._close(client)

    # ---- public entry points ----------------------------------------------------------

    async def fetch_once(self) -> int:
        """Connect, deliver everything new, log out."""
        client = await self._connect(asyncio.Event())
        try:
            return await self.sync(client)
        finally:
            await self._close(client)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Fetch until ``stop`` is set (or the task is cancelled); any failure reconnects
        after a backoff. Stopping at any moment loses nothing (see the module doc)."""
        stop = stop or asyncio.Event()
        first_delay = delay = min(1.0, self.max_backoff_s)
        while not stop.is_set():
            self._healthy = False
            session = asyncio.ensure_future(self._session())
            stopper = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({session, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (session, stopper):
                    if not task.done():
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await task
            if stop.is_set():
                return
            if self._healthy:
                delay = first_delay  # it worked for a while: reconnect quickly
            exc = session.exception() if not session.cancelled() else None
            log.warning("%s: IMAP session ended (%r); reconnecting in %.1fs",
                        self.account.checkpoint_name, exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, self.max_backoff_s)
