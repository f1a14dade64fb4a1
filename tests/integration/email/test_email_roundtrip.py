"""Email both ways, every part real: a customer's mail enters through the hub's SMTP
receiver (aiosmtpd) → ingest stream → pipeline → a case with a pending ack; an arq worker
(in this process) sends the ack and the agent's replies through aiosmtplib to the
customer's mail server (another aiosmtpd); the customer's answers thread back into the
same case. And two auto-responders cannot loop: a vacation program that answers
everything, marking nothing, gets at most one ack."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
import pytest_asyncio
from aiosmtpd.smtp import SMTP, Envelope, Session
from arq.worker import create_worker

from channels.email.ingest_sink import FileBlobStore, RedisMailSink
from channels.email.smtp_receiver import IngestHandler, RecipientMap, SmtpReceiver
from tests.fixtures.helpers import eventually
from tests.fixtures.mail import OUR_DOMAIN, agent_reply, with_relay
from tests.fixtures.smtp_peer import SinkHandler, SmtpPeer
from workers.main import make_worker_settings

SUPPORT = f"support@{OUR_DOMAIN}"


@pytest_asyncio.fixture
async def receiver(hub: Any, redis: Any, tmp_path: Path) -> AsyncIterator[SmtpReceiver]:
    """The hub's inbound side: mail to support@ and reply+…@ lands in the inbox 'mail'."""
    sink = RedisMailSink(redis, hub.settings.ingest_stream, FileBlobStore(tmp_path / "blobs"),
                         our_domains=(OUR_DOMAIN,))
    recipients = RecipientMap({SUPPORT: "mail", f"reply@{OUR_DOMAIN}": "mail"})
    async with SmtpReceiver(IngestHandler(sink, recipients), "127.0.0.1", 0,
                            max_message_bytes=1 << 20) as r:
        yield r


@contextlib.asynccontextmanager
async def running_worker(settings: Any) -> AsyncIterator[None]:
    """The real arq worker (our job functions, Redis queue), in this event loop."""
    worker = create_worker(make_worker_settings(settings), handle_signals=False,
                           poll_delay=0.02, cron_jobs=[])
    task = asyncio.create_task(worker.async_run())
    try:
        yield
    finally:
        await worker.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def customer_mail(*, sender: str, subject: str, body: str, to: str = SUPPORT,
                  in_reply_to: str | None = None, references: str | None = None,
                  headers: dict[str, str] | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@{sender.split('@')[1]}>"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content(body)
    return msg


async def mail_to_hub(receiver: SmtpReceiver, msg: EmailMessage, envelope_from: str) -> None:
    errors, _ = await aiosmtplib.send(msg, sender=envelope_from,
                                      recipients=[parseaddr(msg["To"])[1]],
                                      hostname="127.0.0.1", port=receiver.port, timeout=10)
    assert errors == {}


async def at_least(items: list[Any], n: int) -> None:
    """Wait until a peer has recorded ``n`` items."""
    async def enough() -> bool:
        return len(items) >= n

    await eventually(enough, timeout=30)


async def stored_in(db: Any, message_id: str) -> int:
    cid = await eventually(lambda: db.fetchval(
        "SELECT conversation_id FROM messages WHERE provider_id = $1", message_id), timeout=30)
    return int(cid)


async def test_a_case_by_email_threads_both_ways(hub, db, redis, receiver):
    customer = SmtpPeer()  # the customer's mail server: records what the hub sends
    await customer.start()
    try:
        async with running_worker(with_relay(hub.settings, customer)):
            first = customer_mail(sender="emma@customer.test", subject="No signal on the TV",
                                  body="Since yesterday the TV says no signal.")
            await mail_to_hub(receiver, first, "emma@customer.test")
            cid = await stored_in(db, first["Message-ID"])

            # 1. The acknowledgement: once, loop-safe, threaded on her mail.
            await at_least(customer.handler.received, 1)
            ack = customer.handler.received[0]
            assert ack.mail_from == "<>" and ack.rcpt_tos == ["emma@customer.test"]
            assert ack.message["Auto-Submitted"] == "auto-replied"
            assert ack.message["In-Reply-To"] == first["Message-ID"]

            # 2. The agent's reply: threaded on her mail, after our ack in References.
            reply = await agent_reply(hub, cid, "Please check the HDMI cable.")
            await at_least(customer.handler.received, 2)
            ours = customer.handler.received[1].message
            assert ours["In-Reply-To"] == first["Message-ID"]
            assert ours["References"].split() == [ack.message["Message-ID"], first["Message-ID"]]
            assert await eventually(lambda: db.fetchval(
                "SELECT status = 'sent' FROM messages WHERE id = $1", reply["id"]))

            # 3. She answers our reply (to its Reply-To): the same case, no second ack.
            answer = customer_mail(
                sender="emma@customer.test", subject=f"Re: {ours['Subject'][4:]}",
                body="The cable was loose, works now!\n\nOn Monday you wrote:\n> Please check",
                to=parseaddr(ours["Reply-To"])[1], in_reply_to=ours["Message-ID"],
                references=f"{first['Message-ID']} {ours['Message-ID']}")
            await mail_to_hub(receiver, answer, "emma@customer.test")
            assert await stored_in(db, answer["Message-ID"]) == cid
            text = await db.fetchval("SELECT text FROM messages WHERE provider_id = $1",
                                     answer["Message-ID"])
            assert text.strip() == "The cable was loose, works now!"

            # 4. The next reply threads on her answer, with the whole chain.
            await agent_reply(hub, cid, "Glad to hear it.")
            await at_least(customer.handler.received, 3)
            last = customer.handler.received[2].message
            assert last["In-Reply-To"] == answer["Message-ID"]
            assert last["References"].split()[-1] == answer["Message-ID"]
            assert first["Message-ID"] in last["References"].split()
            assert ours["Message-ID"] in last["References"].split()
        assert [r.message["Subject"] for r in customer.handler.received] == [
            "Re: No signal on the TV"] * 3
        acks = await db.fetch("SELECT conversation_id, status FROM email_acks")
        assert [(r["conversation_id"], r["status"]) for r in acks] == [(cid, "sent")]
    finally:
        await customer.stop()


class VacationResponder(SinkHandler):
    """A badly behaved auto-responder: answers every mail it gets, immediately, with a
    fresh mail that carries no Auto-Submitted/Precedence header. ``threaded`` answers go
    to the Reply-To with In-Reply-To; otherwise to From, unthreaded, new subject."""

    def __init__(self, hub_port: int, address: str, threaded: bool) -> None:
        super().__init__()
        self.hub_port = hub_port
        self.address = address
        self.threaded = threaded
        self.sent: list[EmailMessage] = []
        self.tasks: set[asyncio.Task[None]] = set()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        got = self.received[-1].message
        n = len(self.sent) + 1
        msg = customer_mail(
            sender=self.address, subject=f"I am away until Monday ({n})",
            body="I am out of the office and will read your mail later.",
            to=parseaddr(got["Reply-To" if self.threaded else "From"])[1],
            in_reply_to=got["Message-ID"] if self.threaded else None)
        self.sent.append(msg)
        task = asyncio.create_task(self._send(msg))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return answer

    async def _send(self, msg: EmailMessage) -> None:
        await aiosmtplib.send(msg, sender=self.address, recipients=[parseaddr(msg["To"])[1]],
                              hostname="127.0.0.1", port=self.hub_port, timeout=10)


@pytest.mark.parametrize("threaded", [False, True], ids=["unthreaded", "threaded"])
async def test_an_auto_responder_gets_at_most_one_ack(hub, db, redis, receiver, threaded):
    address = "away@holiday.test"
    handler = VacationResponder(receiver.port, address, threaded)
    responder = SmtpPeer(handler)
    await responder.start()
    try:
        async with running_worker(with_relay(hub.settings, responder)):
            first = customer_mail(sender=address, subject="Question about my bill",
                                  body="Why is my bill higher this month?")
            await mail_to_hub(receiver, first, address)
            cid = await stored_in(db, first["Message-ID"])
            # Our ack reaches the responder, which answers it at once.
            await at_least(handler.sent, 1)
            answer_cid = await stored_in(db, handler.sent[0]["Message-ID"])
            if threaded:
                # Its answer continues the case: acks are for new cases only.
                assert answer_cid == cid
            else:
                # A new case, whose ack the per-sender window suppresses.
                assert answer_cid != cid
                row = await eventually(lambda: db.fetchrow(
                    "SELECT status, reason FROM email_acks WHERE conversation_id = $1"
                    " AND status NOT IN ('pending', 'sending')", answer_cid), timeout=30)
                assert (row["status"], row["reason"]) == ("suppressed", "rate-limited")
            # Nothing is left to send: no ack pending, the worker is idle.
            await eventually(lambda: db.fetchval(
                "SELECT count(*) = 0 FROM email_acks WHERE status IN ('pending', 'sending')"))
            async def queue_empty() -> bool:
                return int(await redis.zcard(hub.settings.arq_queue)) == 0

            await eventually(queue_empty)
        assert len(handler.received) == 1 and len(handler.sent) == 1  # the loop stopped
        assert handler.received[0].message["Auto-Submitted"] == "auto-replied"
        sent = await db.fetchval("SELECT count(*) FROM email_acks WHERE status = 'sent'")
        assert sent == 1
    finally:
        await asyncio.gather(*handler.tasks, return_exceptions=True)
        await responder.stop()
