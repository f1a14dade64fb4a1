"""IMAP fetcher against a real Dovecot (Debian dovecot-imapd) started by a fixture, the
embedded Redis, and (for duplicates) the hub's pipeline and Postgres."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import asyncpg
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from aioimaplib import aioimaplib

from channels.email.imap_fetcher import (
    Checkpoint,
    Checkpoints,
    ImapAccount,
    ImapError,
    ImapFetcher,
    parse_fetch,
)
from channels.email.ingest_sink import (
    FileBlobStore,
    MailConfig,
    RedisMailSink,
    mail_config_from_env,
)
from channels.email.service import run_mail
from hub.config import Settings
from hub.errors import ConfigError
from tests.fixtures.email_hostile import unparseable_mails
from tests.fixtures.helpers import entries, eventually
from tests.fixtures.system_deps import require, require_dovecot
from web.embedded import free_port

RECIPE = Path(__file__).resolve().parents[4] / "shared" / "recipes" / "dovecot-test.conf"
# The same settings, for a checkout without ../shared (CI must still run these tests).
FALLBACK_CONF = """\
protocols = imap
listen = 127.0.0.1
base_dir = @DIR@/run
state_dir = @DIR@/state
log_path = @DIR@/dovecot.log
info_log_path = @DIR@/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:@DIR@/mail/%u
first_valid_uid = 0
default_internal_user = dovecot
default_login_user = dovenull
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u @DIR@/users
}
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=@DIR@/mail/%u
}
service imap-login {
  chroot =
  inet_listener imap {
    port = @PORT@
  }
}
service anvil {
  chroot =
}
"""
PASSWORD = "secret-pw"
MAX_USERS = 200
_users = itertools.count(1)
_noidle_users = itertools.count(1)


@dataclass
class Dovecot:
    binary: str
    base: Path
    port: int

    @property
    def conf(self) -> Path:
        return self.base / "dovecot.conf"

    def write_users(self) -> None:
        """Every test user up front: Dovecot notices a changed passwd-file by its mtime,
        which misses edits made within the same second."""
        lines = [f"u{n}:{{PLAIN}}{PASSWORD}" for n in range(1, MAX_USERS + 1)]
        lines += [f"noidle{n}:{{PLAIN}}{PASSWORD}::::::userdb_imap_capability=IMAP4rev1"
                  for n in range(1, 4)]
        (self.base / "users").write_text("\n".join(lines) + "\n")


def _greets_us(port: int, greeting: str, timeout: float = 15.0) -> bool:
    """Whether our Dovecot (its own greeting, not another server's) answers on port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if greeting.encode() in sock.recv(512):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    binary = require_dovecot()
    # The recipe runs Dovecot's processes as the dovecot/dovenull users: root only.
    require(os.geteuid() == 0, "the Dovecot test fixture must run as root")
    base = Path(tempfile.mkdtemp(prefix="omnihub-dovecot-"))
    base.chmod(0o755)
    for sub in ("mail", "run", "state"):
        (base / sub).mkdir()
    shutil.chown(base / "mail", "dovecot", "dovecot")
    template = RECIPE.read_text() if RECIPE.exists() else FALLBACK_CONF
    greeting = f"omnihub-test-{secrets.token_hex(6)}"
    # Dovecot binds the port itself: if another process takes it first, try another.
    for attempt in range(5):
        port = free_port()
        server = Dovecot(binary, base, port)
        server.write_users()
        server.conf.write_text(template.replace("@DIR@", str(base))
                               .replace("@PORT@", str(port))
                               + f"\nlogin_greeting = {greeting}\n")
        subprocess.run([binary, "-c", str(server.conf)], check=True, timeout=30)
        if _greets_us(port, greeting):
            break
        subprocess.run([binary, "-c", str(server.conf), "stop"], check=False, timeout=30)
        if attempt == 4:
            raise RuntimeError(f"dovecot did not answer; see {base}/dovecot.log")
    try:
        yield server
    finally:
        subprocess.run([binary, "-c", str(server.conf), "stop"], check=False, timeout=30)
        time.sleep(0.2)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def user(dovecot: Dovecot) -> str:
    n = next(_users)
    assert n <= MAX_USERS
    return f"u{n}"


class Mua:
    """A test-side IMAP client (aioimaplib) for APPEND and mailbox admin."""

    def __init__(self, client: aioimaplib.IMAP4) -> None:
        self.client = client

    async def append(self, raw: bytes, mailbox: str = "INBOX") -> None:
        resp = await self.client.append(raw, mailbox=mailbox)
        assert resp.result == "OK", resp

    async def command(self, name: str, *args: str) -> None:
        resp = await getattr(self.client, name)(*args)
        assert resp.result == "OK", resp

    async def uidvalidity(self, mailbox: str) -> int:
        resp = await self.client.status(mailbox, "(UIDVALIDITY)")
        return int(resp.lines[0].split(b"UIDVALIDITY ")[1].rstrip(b")"))

    async def flags(self, mailbox: str = "INBOX") -> list[bytes]:
        await self.command("select", mailbox)
        resp = await self.client.fetch("1:*", "(FLAGS)")
        return [bytes(line) for line in resp.lines[:-1]]


@pytest_asyncio.fixture
async def mua(dovecot: Dovecot, user: str) -> AsyncIterator[Mua]:
    client = aioimaplib.IMAP4(host="127.0.0.1", port=dovecot.port, timeout=10)
    await client.wait_hello_from_server()
    assert (await client.login(user, PASSWORD)).result == "OK"
    try:
        yield Mua(client)
    finally:
        await client.logout()


def mail(n: int, message_id: bool = True, body: str = "") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Customer {n} <c{n}@customer.test>"
    msg["To"] = "support@shop.test"
    msg["Subject"] = f"Question {n}"
    if message_id:
        msg["Message-ID"] = f"<q{n}@customer.test>"
    msg.set_content(body or f"Question number {n}: my line is down.\n")
    return msg.as_bytes().replace(b"\n", b"\r\n")


@pytest.fixture
def sink(redis: aioredis.Redis, settings: Settings, tmp_path: Path) -> RedisMailSink:
    return RedisMailSink(redis, settings.ingest_stream, FileBlobStore(tmp_path / "blobs"))


@pytest.fixture
def checkpoints(redis: aioredis.Redis, settings: Settings) -> Checkpoints:
    return Checkpoints(redis, settings.key_prefix)


def account(dovecot: Dovecot, user: str, mailbox: str = "INBOX", **kw: Any) -> ImapAccount:
    return ImapAccount(host="127.0.0.1", port=dovecot.port, user=user, password=PASSWORD,
                       inbox="mail", mailbox=mailbox, **kw)


async def add_email_inbox(db: asyncpg.Pool) -> None:
    await db.execute("INSERT INTO inboxes (slug, name, channel, default_queue)"
                     " VALUES ('mail', 'Support mail', 'email', 'support')"
                     " ON CONFLICT (slug) DO NOTHING")  # the demo seed has it too


async def stored_ids(db: asyncpg.Pool) -> list[str]:
    rows = await db.fetch("SELECT provider_id FROM messages WHERE channel = 'email' ORDER BY id")
    return [r["provider_id"] for r in rows]


async def settle(db: asyncpg.Pool, expected: int) -> list[str]:
    """Wait for ``expected`` stored emails, then a little longer so a duplicate would show."""
    await eventually(lambda: _at_least(db, expected))
    await asyncio.sleep(0.6)
    return await stored_ids(db)


async def _at_least(db: asyncpg.Pool, n: int) -> bool:
    return len(await stored_ids(db)) >= n


class CrashAfter:
    """Delivers ``n`` messages, then hangs inside the next call after its XADD: the
    fetcher is 'killed' (cancelled) between the durable write and the checkpoint."""

    def __init__(self, inner: RedisMailSink, n: int) -> None:
        self.inner, self.n = inner, n
        self.calls = 0
        self.crashed = asyncio.Event()

    async def deliver(self, raw: bytes, inboxes: Sequence[str], **kw: Any) -> list[str]:
        ids = await self.inner.deliver(raw, inboxes, **kw)
        self.calls += 1
        if self.calls >= self.n:
            self.crashed.set()
            await asyncio.Event().wait()  # cancelled here
        return ids


class FlakySink:
    """Fails the first ``n`` calls (Redis down) before delivering anything."""

    def __init__(self, inner: RedisMailSink, n: int) -> None:
        self.inner, self.n = inner, n

    async def deliver(self, raw: bytes, inboxes: Sequence[str], **kw: Any) -> list[str]:
        if self.n > 0:
            self.n -= 1
            raise ConnectionError("redis is down")
        return await self.inner.deliver(raw, inboxes, **kw)


# ---- tests ----------------------------------------------------------------------------


def test_parse_fetch_uid_before_or_after_the_literal() -> None:
    lines: list[Any] = [
        b"1 FETCH (UID 5 RFC822.SIZE 3 BODY[] {3}", bytearray(b"abc"), b")",
        b"2 FETCH (RFC822.SIZE 2 BODY[] {2}", bytearray(b"de"), b" UID 9)",
        b"3 FETCH (FLAGS (\\Seen))", b"4 FETCH (UID 11 RFC822.SIZE 70)",
        b"Fetch completed",
    ]
    assert parse_fetch(lines) == {5: (3, b"abc"), 9: (2, b"de"), 11: (70, None)}


async def test_fetches_new_mail_checkpoints_and_leaves_it_unseen(
        dovecot, user, mua, sink, checkpoints, redis, settings):
    for n in (1, 2, 3):
        await mua.append(mail(n))
    acct = account(dovecot, user)
    fetcher = ImapFetcher(acct, sink, checkpoints)
    assert await fetcher.fetch_once() == 3
    envs = await entries(redis, settings)
    assert [e.provider_id for e in envs] == [f"<q{n}@customer.test>" for n in (1, 2, 3)]
    assert all(e.channel == "email" and e.channel_account == "mail" for e in envs)
    assert envs[0].sender.value == "c1@customer.test" and envs[0].raw_ref
    validity = await mua.uidvalidity("INBOX")
    assert await checkpoints.load(acct.checkpoint_name) == Checkpoint(validity, 3)
    assert await redis.hgetall(f"{settings.key_prefix}imap:checkpoint:{acct.checkpoint_name}")
    assert not any(b"\\Seen" in line for line in await mua.flags())  # BODY.PEEK[]

    assert await fetcher.fetch_once() == 0  # nothing new (the n:* quirk is filtered)
    await mua.append(mail(4, message_id=False))
    assert await fetcher.fetch_once() == 1
    envs = await entries(redis, settings)
    assert len(envs) == 4 and envs[3].provider_id.startswith("sha256:")
    assert await checkpoints.load(acct.checkpoint_name) == Checkpoint(validity, 4)


async def test_oversize_message_is_kept_as_headers_and_flagged(
        dovecot, user, mua, sink, checkpoints, redis, settings):
    await mua.append(mail(1, body="x" * 5000 + "\n"))
    await mua.append(mail(2))
    fetcher = ImapFetcher(account(dovecot, user), sink, checkpoints, max_message_bytes=2000)
    assert await fetcher.fetch_once() == 2
    big, small = await entries(redis, settings)
    assert int(big.attributes["email.oversize"]) > 5000 and big.subject == "Question 1"
    assert "x" * 100 not in big.text
    assert "email.oversize" not in small.attributes


async def test_killed_mid_fetch_then_restarted_loses_and_duplicates_nothing(
        hub, db, dovecot, user, mua, sink, checkpoints, redis, settings):
    await add_email_inbox(db)
    for n in (1, 2, 3):
        await mua.append(mail(n))
    acct = account(dovecot, user)
    crashing = CrashAfter(sink, 1)
    task = asyncio.create_task(ImapFetcher(acct, crashing, checkpoints).run())
    await asyncio.wait_for(crashing.crashed.wait(), 15)
    task.cancel()  # killed after the first XADD, before its checkpoint
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await checkpoints.load(acct.checkpoint_name) is None
    assert len(await entries(redis, settings)) == 1

    assert await ImapFetcher(acct, sink, checkpoints).fetch_once() == 3  # message 1 again
    assert [e.provider_id for e in await entries(redis, settings)] == [
        "<q1@customer.test>", "<q1@customer.test>", "<q2@customer.test>", "<q3@customer.test>"]
    assert (await checkpoints.load(acct.checkpoint_name)).last_uid == 3
    assert await settle(db, 3) == [f"<q{n}@customer.test>" for n in (1, 2, 3)]

    # Killed again in the middle of a later batch: the same holds.
    for n in (4, 5, 6):
        await mua.append(mail(n))
    crashing = CrashAfter(sink, 2)
    task = asyncio.create_task(ImapFetcher(acct, crashing, checkpoints).run())
    await asyncio.wait_for(crashing.crashed.wait(), 15)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await checkpoints.load(acct.checkpoint_name)).last_uid == 4
    assert await ImapFetcher(acct, sink, checkpoints).fetch_once() == 2
    assert await settle(db, 6) == [f"<q{n}@customer.test>" for n in range(1, 7)]


async def test_sink_failure_is_retried_without_checkpointing(
        dovecot, user, mua, sink, checkpoints, redis, settings):
    await mua.append(mail(1))
    await mua.append(mail(2))
    acct = account(dovecot, user)
    fetcher = ImapFetcher(acct, FlakySink(sink, 2), checkpoints, max_backoff_s=0.2)
    with pytest.raises(ConnectionError):
        await fetcher.fetch_once()
    assert await checkpoints.load(acct.checkpoint_name) is None
    stop = asyncio.Event()
    task = asyncio.create_task(fetcher.run(stop))
    try:
        await eventually(lambda: _checkpoint_at(checkpoints, acct, 2))
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert [e.provider_id for e in await entries(redis, settings)] == [
        "<q1@customer.test>", "<q2@customer.test>"]


async def _checkpoint_at(checkpoints: Checkpoints, acct: ImapAccount, uid: int) -> bool:
    cp = await checkpoints.load(acct.checkpoint_name)
    return cp is not None and cp.last_uid >= uid


async def test_uidvalidity_change_resyncs_without_duplicates(
        hub, db, dovecot, user, mua, sink, checkpoints, redis, settings):
    await add_email_inbox(db)
    await mua.command("create", "Support")
    for n in (1, 2):
        await mua.append(mail(n), "Support")
    await mua.append(mail(3, message_id=False), "Support")
    acct = account(dovecot, user, "Support")
    fetcher = ImapFetcher(acct, sink, checkpoints)
    assert await fetcher.fetch_once() == 3
    old = await mua.uidvalidity("Support")
    assert await settle(db, 3)

    # The mailbox is recreated (a restore, a migration): same messages, new UIDs.
    await mua.command("delete", "Support")
    await mua.command("create", "Support")
    for n in (1, 2):
        await mua.append(mail(n), "Support")
    await mua.append(mail(3, message_id=False), "Support")
    await mua.append(mail(4), "Support")
    new = await mua.uidvalidity("Support")
    assert new != old
    assert await fetcher.fetch_once() == 4  # everything again: the checkpoint is void
    assert await checkpoints.load(acct.checkpoint_name) == Checkpoint(new, 4)
    ids = await settle(db, 4)
    assert len(ids) == 4 and len(set(ids)) == 4 and ids[3] == "<q4@customer.test>"
    assert await fetcher.fetch_once() == 0


async def test_idle_delivers_without_waiting_for_a_poll(
        dovecot, user, mua, sink, checkpoints, redis, settings):
    fetcher = ImapFetcher(account(dovecot, user), sink, checkpoints,
                          idle_interval_s=600, poll_interval_s=600)
    stop = asyncio.Event()
    task = asyncio.create_task(fetcher.run(stop))
    try:
        await asyncio.wait_for(fetcher.idling.wait(), 15)
        await mua.append(mail(1))
        # With a 600 s poll interval, only IDLE can bring it in before this gives up.
        await eventually(lambda: _count(redis, settings, 1), timeout=10)
        assert fetcher.idle_started >= 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_idle_is_reissued_on_its_interval(
        dovecot, user, mua, sink, checkpoints, redis, settings):
    fetcher = ImapFetcher(account(dovecot, user), sink, checkpoints,
                          idle_interval_s=0.5, poll_interval_s=600)
    stop = asyncio.Event()
    task = asyncio.create_task(fetcher.run(stop))
    try:
        await eventually(lambda: _true(fetcher.idle_started >= 3), timeout=15)
        await asyncio.wait_for(fetcher.idling.wait(), 5)
        await mua.append(mail(1))
        await eventually(lambda: _count(redis, settings, 1), timeout=10)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert not task.exception()


async def test_polls_when_the_server_has_no_idle(
        dovecot, sink, checkpoints, redis, settings):
    name = f"noidle{next(_noidle_users)}"
    client = aioimaplib.IMAP4(host="127.0.0.1", port=dovecot.port, timeout=10)
    await client.wait_hello_from_server()
    await client.login(name, PASSWORD)
    try:
        fetcher = ImapFetcher(account(dovecot, name), sink, checkpoints, poll_interval_s=0.3)
        stop = asyncio.Event()
        task = asyncio.create_task(fetcher.run(stop))
        try:
            await client.append(mail(1))
            await eventually(lambda: _count(redis, settings, 1))
            await client.append(mail(2))
            await eventually(lambda: _count(redis, settings, 2))
            assert fetcher.idle_started == 0
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
    finally:
        await client.logout()


async def test_bad_password_keeps_retrying_until_stopped(dovecot, user, sink, checkpoints):
    acct = ImapAccount(host="127.0.0.1", port=dovecot.port, user=user, password="wrong",
                       inbox="mail")
    fetcher = ImapFetcher(acct, sink, checkpoints, max_backoff_s=0.2, timeout_s=5)
    with pytest.raises(ImapError, match="LOGIN"):
        await fetcher.fetch_once()  # Dovecot delays a failed login by ~2 s
    stop = asyncio.Event()
    task = asyncio.create_task(fetcher.run(stop))
    await asyncio.sleep(1.0)
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, 10)
    assert fetcher.delivered == 0
    with pytest.raises(ValueError):
        ImapFetcher(acct, sink, checkpoints, idle_interval_s=29 * 60)


async def _count(redis: aioredis.Redis, settings: Settings, n: int) -> bool:
    return await redis.xlen(settings.ingest_stream) >= n


async def _true(value: bool) -> bool:
    return value


async def test_run_mail_serves_smtp_and_imap_until_stopped(
        dovecot, user, mua, settings, redis, tmp_path):
    port = free_port()
    env = {
        "OMNIHUB_MAIL_BLOB_DIR": str(tmp_path / "blobs"),
        "OMNIHUB_SMTP_LISTEN": f"127.0.0.1:{port}",
        "OMNIHUB_SMTP_RECIPIENTS": "support@shop.test=mail",
        "OMNIHUB_IMAP_ACCOUNTS": json.dumps([{
            "host": "127.0.0.1", "port": dovecot.port, "user": user, "password": PASSWORD,
            "inbox": "mail-imap"}]),
        "OMNIHUB_IMAP_IDLE_INTERVAL_S": "60",
    }
    config = mail_config_from_env(env)
    assert config.smtp_lmtp is False and len(config.imap_accounts) == 1
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_mail(settings, config, stop, started=started))
    try:
        await asyncio.wait_for(started.wait(), 15)
        await mua.append(mail(1))
        await aiosmtplib.send(mail(2), sender="c2@customer.test",
                              recipients=["support@shop.test"], hostname="127.0.0.1",
                              port=port, timeout=10)
        await eventually(lambda: _count(redis, settings, 2))
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    envs = await entries(redis, settings)
    assert sorted((e.channel_account, e.provider_id) for e in envs) == [
        ("mail", "<q2@customer.test>"), ("mail-imap", "<q1@customer.test>")]
    with pytest.raises(OSError):  # the receiver is closed
        await aiosmtplib.send(mail(3), sender="c@customer.test", recipients=["support@shop.test"],
                              hostname="127.0.0.1", port=port, timeout=2)


def test_mail_config_errors() -> None:
    assert mail_config_from_env({}) == MailConfig()
    with pytest.raises(ConfigError):
        mail_config_from_env({"OMNIHUB_IMAP_ACCOUNTS": "{not json"})
    with pytest.raises(ConfigError):
        mail_config_from_env({"OMNIHUB_IMAP_ACCOUNTS": '{"host": "x"}'})
    with pytest.raises(ConfigError):
        mail_config_from_env({"OMNIHUB_MAIL_MAX_BYTES": "lots"})


async def test_encoded_nul_in_headers_and_body_is_stored_once(
        hub, db, dovecot, user, mua, sink, checkpoints):
    """RFC 2047 words and quoted-printable decode to U+0000, which Postgres refuses; the
    mail is still stored once (U+FFFD), never dead-lettered after the IMAP checkpoint."""
    await add_email_inbox(db)
    raw = (b"From: =?utf-8?q?An=00na?= <nul@customer.test>\r\nTo: support@shop.test\r\n"
           b"Subject: =?utf-8?q?Router=00_blinks?=\r\nMessage-ID: <nul@customer.test>\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: quoted-printable\r\n\r\nmy line=00 is down\r\n")
    await mua.append(raw)
    assert await ImapFetcher(account(dovecot, user), sink, checkpoints).fetch_once() == 1
    dead = hub.settings.dead_letter_stream

    async def settled() -> bool:
        return bool(await stored_ids(db) or await sink.redis.xlen(dead))

    await eventually(settled)
    assert await sink.redis.xlen(dead) == 0
    assert await settle(db, 1) == ["<nul@customer.test>"]
    row = await db.fetchrow(
        "SELECT m.text, v.subject, c.name FROM messages m JOIN conversations v"
        " ON v.id = m.conversation_id JOIN contacts c ON c.id = v.contact_id")
    assert "is down" in row["text"] and "\x00" not in row["text"]
    assert "blinks" in row["subject"] and "\x00" not in row["subject"]
    assert "\x00" not in row["name"]


async def test_unparseable_mail_is_delivered_flagged_and_the_checkpoint_advances(
        dovecot, user, mua, sink, checkpoints, redis, settings):
    # These made the sink raise (RecursionError) on every try: the checkpoint never
    # moved and every later mail in the mailbox waited behind them for ever.
    hostile = unparseable_mails()
    for raw in hostile.values():
        await mua.append(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    await mua.append(mail(1))
    acct = account(dovecot, user)
    assert await ImapFetcher(acct, sink, checkpoints).fetch_once() == len(hostile) + 1
    validity = await mua.uidvalidity("INBOX")
    assert await checkpoints.load(acct.checkpoint_name) == Checkpoint(validity, len(hostile) + 1)
    envs = await entries(redis, settings)
    for env, reason in zip(envs, hostile, strict=False):
        assert env.attributes["email.malformed"] == "true"
        assert reason in env.attributes["email.defects"] and env.subject == "hostile"
        assert env.raw_ref
    assert envs[-1].provider_id == "<q1@customer.test>"
    assert "email.malformed" not in envs[-1].attributes
