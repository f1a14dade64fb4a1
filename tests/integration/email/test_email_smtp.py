"""SMTP/LMTP receiver against real peers: aiosmtplib as the client, the embedded Redis,
and (end to end) the hub's pipeline and Postgres."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import threading
import time
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import asyncpg
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from channels.email.ingest_sink import FileBlobStore, RedisMailSink
from channels.email.smtp_receiver import IngestHandler, RecipientMap, SmtpReceiver
from hub.config import Settings
from tests.fixtures.email_hostile import unparseable_mails
from tests.fixtures.helpers import entries, eventually
from tests.fixtures.ports import ReservedPort

RECIPIENTS = {"support@shop.test": "mail", "@billing.shop.test": "mail-billing"}
MAX_BYTES = 64 * 1024


def make_mail(subject: str = "Router blinks red", message_id: str | None = "<m1@customer.test>",
              body: str = "Hello, my router blinks red since this morning.\n",
              to: str = "support@shop.test",
              from_: str = "Anna Kunde <anna@customer.test>") -> bytes:
    msg = EmailMessage()
    msg["From"] = from_
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Mon, 03 Feb 2025 10:00:00 +0100"
    if message_id:
        msg["Message-ID"] = message_id
    msg.set_content(body)
    return msg.as_bytes()


@pytest.fixture
def blobs(tmp_path: Path) -> FileBlobStore:
    return FileBlobStore(tmp_path / "blobs")


@pytest.fixture
def sink(redis: aioredis.Redis, settings: Settings, blobs: FileBlobStore) -> RedisMailSink:
    return RedisMailSink(redis, settings.ingest_stream, blobs, max_attachment_bytes=8 * 1024)


@pytest_asyncio.fixture
async def smtp(sink: RedisMailSink) -> AsyncIterator[SmtpReceiver]:
    handler = IngestHandler(sink, RecipientMap(RECIPIENTS), deliver_timeout_s=5)
    async with SmtpReceiver(handler, "127.0.0.1", 0, max_message_bytes=MAX_BYTES) as receiver:
        yield receiver


async def send(receiver: SmtpReceiver, raw: bytes, rcpts: list[str] | None = None,
               sender: str = "anna@customer.test") -> tuple[dict[str, Any], str]:
    return await aiosmtplib.send(raw, sender=sender, recipients=rcpts or ["support@shop.test"],
                                 hostname="127.0.0.1", port=receiver.port, timeout=10)


async def test_accepted_mail_is_on_the_stream_when_250_arrives(smtp, redis, settings, blobs):
    raw = make_mail()
    errors, reply = await send(smtp, raw)
    assert errors == {} and reply.startswith("2.0.0 OK queued as ")
    # Already there when the 250 arrives: the XADD precedes the answer.
    [(stream_id, _)] = await redis.xrange(settings.ingest_stream)
    assert reply == f"2.0.0 OK queued as {stream_id.decode()}"
    [env] = await entries(redis, settings)
    assert (env.channel, env.channel_account, env.provider_id) == ("email", "mail",
                                                                   "<m1@customer.test>")
    assert env.sender.value == "anna@customer.test" and env.subject == "Router blinks red"
    assert env.text.startswith("Hello, my router blinks red")
    assert blobs.get(env.raw_ref).replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")


async def test_catch_all_domain_and_plus_address(smtp, redis, settings):
    await send(smtp, make_mail(message_id="<a@x.test>"), ["invoice@billing.shop.test"])
    await send(smtp, make_mail(message_id="<b@x.test>"), ["support+abc.def@shop.test"])
    envs = await entries(redis, settings)
    assert [e.channel_account for e in envs] == ["mail-billing", "mail"]


async def test_unknown_recipient_gets_550(smtp, redis, settings):
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as info:
        await send(smtp, make_mail(), ["nobody@shop.test"])
    assert info.value.recipients[0].code == 550
    assert await entries(redis, settings) == []
    # One known and one unknown recipient: accepted for the known one only.
    errors, _ = await send(smtp, make_mail(), ["nobody@elsewhere.test", "support@shop.test"])
    assert errors["nobody@elsewhere.test"].code == 550
    assert [e.channel_account for e in await entries(redis, settings)] == ["mail"]


async def test_oversize_is_rejected_with_552(smtp, redis, settings):
    big = make_mail(body="x" * 70 + "\n" * 1 + ("y" * 76 + "\n") * 1200)
    assert len(big) > MAX_BYTES
    # aiosmtplib announces SIZE= (the server advertised SIZE): refused at MAIL FROM.
    with pytest.raises(aiosmtplib.SMTPResponseException) as info:
        await send(smtp, big)
    assert info.value.code == 552
    # A client that does not announce the size: refused after DATA.
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp.port, timeout=10)
    async with client:
        await client.ehlo()
        await client.mail("anna@customer.test")
        await client.rcpt("support@shop.test")
        with pytest.raises(aiosmtplib.SMTPDataError) as info2:
            await client.data(big)
        assert info2.value.code == 552
    assert await entries(redis, settings) == []


async def test_malformed_mime_is_accepted_and_flagged(smtp, redis, settings, blobs):
    raw = (b"From: broken@customer.test\r\nTo: support@shop.test\r\nSubject: broken\r\n"
           b"Message-ID: <broken@customer.test>\r\n"
           b"Content-Type: multipart/mixed; boundary=\"never-closed\"\r\n\r\n"
           b"--never-closed\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n@@not base64!!\r\n"
           b"--never-closed\r\nContent-Type: text/plain; charset=x-unknown-cs\r\n\r\n"
           b"caf\xe9 line\r\n")
    errors, _ = await send(smtp, raw)
    assert errors == {}
    [env] = await entries(redis, settings)
    assert env.attributes["email.malformed"] == "true" and env.attributes["email.defects"]
    assert blobs.get(env.raw_ref) == raw


async def test_redis_down_answers_451_and_the_retry_is_accepted(smtp, sink, redis, settings):
    good = sink.redis
    dead_port = ReservedPort()  # bound, never listening: connections are refused
    dead = aioredis.from_url(f"redis://127.0.0.1:{dead_port.port}/0",
                             socket_connect_timeout=1)
    sink.redis = dead
    try:
        with pytest.raises(aiosmtplib.SMTPDataError) as info:
            await send(smtp, make_mail())
        assert info.value.code == 451  # temporary: the sender keeps the mail and retries
    finally:
        sink.redis = good
        await dead.aclose()
        dead_port.close()
    assert await entries(redis, settings) == []
    await send(smtp, make_mail())
    assert len(await entries(redis, settings)) == 1


async def test_null_sender_is_passed_as_return_path(smtp, redis, settings):
    # Only MAIL FROM:<> makes this a bounce (postmaster sender, neutral subject).
    raw = make_mail(subject="Notice", message_id="<dsn@mx.test>", from_="MAILER-DAEMON@mx.test")
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    # aiosmtplib refuses an empty sender with raw bytes, not with a message object.
    await aiosmtplib.send(msg, sender="", recipients=["support@shop.test"],
                          hostname="127.0.0.1", port=smtp.port, timeout=10)
    [env] = await entries(redis, settings)
    assert env.attributes.get("email.bounce") == "true"


async def test_multiple_inboxes_get_one_envelope_each(smtp, redis, settings):
    await send(smtp, make_mail(), ["support@shop.test", "a@billing.shop.test",
                                   "support@shop.test"])
    envs = await entries(redis, settings)
    assert sorted(e.channel_account for e in envs) == ["mail", "mail-billing"]
    assert {e.provider_id for e in envs} == {"<m1@customer.test>"}


async def test_lmtp_answers_once_per_recipient(sink, redis, settings):
    handler = IngestHandler(sink, RecipientMap(RECIPIENTS), lmtp=True)
    async with SmtpReceiver(handler, "127.0.0.1", 0, max_message_bytes=MAX_BYTES) as lmtp:
        reader, writer = await asyncio.open_connection("127.0.0.1", lmtp.port)

        async def say(line: bytes, replies: int = 1) -> list[bytes]:
            if line:
                writer.write(line + b"\r\n")
            out = []
            while len(out) < replies:
                got = await asyncio.wait_for(reader.readline(), 10)
                if got[3:4] != b"-":
                    out.append(got)
            return out

        try:
            assert (await say(b""))[0].startswith(b"220")
            assert (await say(b"LHLO client.test"))[0].startswith(b"250")
            assert (await say(b"MAIL FROM:<anna@customer.test>"))[0].startswith(b"250")
            assert (await say(b"RCPT TO:<support@shop.test>"))[0].startswith(b"250")
            assert (await say(b"RCPT TO:<x@billing.shop.test>"))[0].startswith(b"250")
            assert (await say(b"DATA"))[0].startswith(b"354")
            writer.write(make_mail().replace(b"\n", b"\r\n") + b".\r\n")
            done = await say(b"", replies=2)
            assert all(r.startswith(b"250") for r in done)
            await say(b"QUIT")
        finally:
            writer.close()
    assert len(await entries(redis, settings)) == 2


# ---- end to end: receiver -> ingest stream -> pipeline -> Postgres ----------------------


async def add_email_inboxes(db: asyncpg.Pool) -> None:
    await db.execute(
        "INSERT INTO inboxes (slug, name, channel, default_queue) VALUES"
        " ('mail', 'Support mail', 'email', 'support'),"
        " ('mail-billing', 'Billing mail', 'email', 'sales')"
        " ON CONFLICT (slug) DO NOTHING")  # the demo seed has 'mail' too


async def test_end_to_end_stored_once_per_message(hub, db, smtp):
    await add_email_inboxes(db)
    await send(smtp, make_mail())
    await send(smtp, make_mail())  # the same message delivered twice
    no_id = make_mail(subject="No id", message_id=None)
    await send(smtp, no_id)
    await send(smtp, no_id)  # identical bytes without a Message-ID: the same sha256 key
    await send(smtp, make_mail(message_id="<m2@customer.test>"), ["bill@billing.shop.test"])

    async def stored() -> list[asyncpg.Record] | None:
        rows = await db.fetch("SELECT m.provider_id, m.channel, m.channel_account, m.text,"
                              " c.inbox, c.channel AS cchan FROM messages m"
                              " JOIN conversations c ON c.id = m.conversation_id ORDER BY m.id")
        return rows if len(rows) >= 3 else None

    rows = await eventually(stored)
    await asyncio.sleep(0.5)  # give a wrong duplicate time to show up
    rows = await db.fetch("SELECT provider_id, channel_account FROM messages ORDER BY id")
    assert len(rows) == 3
    pids = [r["provider_id"] for r in rows]
    assert pids[0] == "<m1@customer.test>" and pids[1].startswith("sha256:")
    assert [r["channel_account"] for r in rows] == ["mail", "mail", "mail-billing"]
    queues = await db.fetch("SELECT w.queue FROM work_items w JOIN conversations c"
                            " ON c.id = w.conversation_id WHERE c.channel = 'email'"
                            " ORDER BY w.id")
    # Every new (unthreaded) mail opens its own case in its mailbox's queue.
    assert [q["queue"] for q in queues] == ["support", "support", "sales"]
    contact = await db.fetchval("SELECT count(*) FROM identities"
                                " WHERE kind = 'email' AND value = 'anna@customer.test'")
    assert contact == 1


async def test_no_250_before_the_sink_returns(sink, redis, settings):
    gate = asyncio.Event()
    delivered: list[list[str]] = []

    class Gated:
        async def deliver(self, raw: bytes, inboxes: Any, **kw: Any) -> list[str]:
            await gate.wait()
            ids = await sink.deliver(raw, inboxes, **kw)
            delivered.append(ids)
            return ids

    handler = IngestHandler(Gated(), RecipientMap(RECIPIENTS))
    async with SmtpReceiver(handler, max_message_bytes=MAX_BYTES) as receiver:
        sending = asyncio.create_task(send(receiver, make_mail()))
        await asyncio.sleep(0.5)
        assert not sending.done() and await entries(redis, settings) == []
        gate.set()
        _, reply = await asyncio.wait_for(sending, 10)
    assert reply.endswith(delivered[0][0])


async def test_wait_aof_and_recipient_spec(redis, settings, blobs):
    durable = RedisMailSink(redis, settings.ingest_stream, blobs, wait_aof=True)
    handler = IngestHandler(durable, RecipientMap.parse(" support@shop.test = mail ,@x.test=m2"))
    assert handler.recipients.inbox_for("<Support@SHOP.test>") == "mail"
    assert handler.recipients.inbox_for("any@x.test") == "m2"
    assert handler.recipients.inbox_for("no-at-sign") is None
    with pytest.raises(ValueError):
        RecipientMap.parse("support@shop.test")
    async with SmtpReceiver(handler, max_message_bytes=MAX_BYTES) as receiver:
        await send(receiver, make_mail())
    assert len(await entries(redis, settings)) == 1


# ---- mail the parser cannot fully read is accepted, flagged, never 451 (issue 11) -------

async def test_unparseable_mail_is_accepted_flagged_with_its_raw_bytes(smtp, redis, settings,
                                                                      blobs):
    mails = unparseable_mails()
    for raw in mails.values():
        errors, reply = await send(smtp, raw)
        assert errors == {} and reply.startswith("2.0.0 OK"), reply  # 250, not 451
    envs = await entries(redis, settings)
    assert len(envs) == len(mails)
    for env, (reason, raw) in zip(envs, mails.items(), strict=True):
        assert env.attributes["email.malformed"] == "true"
        assert reason in env.attributes["email.defects"], env.attributes["email.defects"]
        assert blobs.get(env.raw_ref) == raw
        assert env.subject == "hostile" and "--b" not in env.text
    assert [e.sender.value for e in envs[::2]] == ["mallory@hostile.test"] * 2


async def test_a_parser_failure_nobody_foresaw_is_stored_flagged_not_refused(
        smtp, redis, settings, blobs, monkeypatch):
    import channels.email.ingest_sink as sink_module

    def broken_parser(raw: bytes, **kw: Any) -> Any:  # stands for a parser bug
        raise ValueError("unforeseen")

    monkeypatch.setattr(sink_module, "parse_email", broken_parser)
    raw = make_mail(message_id="<bug@customer.test>")
    errors, reply = await send(smtp, raw)
    assert errors == {} and reply.startswith("2.0.0 OK")
    [env] = await entries(redis, settings)
    assert env.attributes["email.defects"].startswith("ParseError: ValueError")
    assert env.sender.value == "anna@customer.test" and env.subject == "Router blinks red"
    assert env.provider_id == "<bug@customer.test>"
    assert blobs.get(env.raw_ref).replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")


async def test_unparseable_mail_reaches_the_inbox_flagged(hub, db, smtp):
    await add_email_inboxes(db)
    raw = unparseable_mails()["TooDeep: MIME nesting"]
    await send(smtp, raw)

    async def row() -> asyncpg.Record | None:
        return await db.fetchrow("SELECT m.text, m.attributes, m.raw_ref, c.subject,"
                                 " i.value AS sender FROM messages m"
                                 " JOIN conversations c ON c.id = m.conversation_id"
                                 " JOIN identities i ON i.contact_id = c.contact_id"
                                 " WHERE m.provider_id = '<deep@hostile.test>'")

    stored = await eventually(row)
    attrs = json.loads(stored["attributes"])
    assert attrs["email.malformed"] == "true"
    assert attrs["email.defects"].startswith("TooDeep: MIME nesting deeper than 20 levels")
    assert stored["subject"] == "hostile" and stored["sender"] == "mallory@hostile.test"
    assert stored["raw_ref"].startswith("blob:sha256:") and "--b" not in stored["text"]


class CountingBlobs(FileBlobStore):
    """Records how many mails are inside the parse step at once (the raw blob is
    written first thing there); each holds its slot a little while."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.lock = threading.Lock()
        self.active = self.peak = 0

    def put(self, data: bytes, filename: str = "", content_type: str = "") -> str:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            time.sleep(0.2)
            return super().put(data, filename, content_type)
        finally:
            with self.lock:
                self.active -= 1


async def test_parsing_is_bounded_across_concurrent_sessions(redis, settings, tmp_path):
    # Each parse is bounded; this bounds their sum (six sessions, two parses at a time).
    blobs = CountingBlobs(tmp_path / "blobs")
    sink = RedisMailSink(redis, settings.ingest_stream, blobs, max_parallel_parses=2)
    handler = IngestHandler(sink, RecipientMap(RECIPIENTS))
    async with SmtpReceiver(handler, max_message_bytes=MAX_BYTES) as receiver:
        await asyncio.gather(*(send(receiver, make_mail(message_id=f"<p{i}@customer.test>"))
                               for i in range(6)))
    assert 1 <= blobs.peak <= 2
    assert len(await entries(redis, settings)) == 6
