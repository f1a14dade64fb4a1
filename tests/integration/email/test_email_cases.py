"""Email cases end to end against real peers: aiosmtplib → the hub's aiosmtpd receiver →
ingest stream → pipeline → Postgres. New mail opens a case in the mailbox's queue;
replies thread by token, by References (same sender only) and by subject (same sender
only); forged hints never reach someone else's case; acknowledgements are pending only
when no suppression rule applies; bounces mark our outbound message failed and open no
case; broken MIME is stored and flagged; duplicates give one row."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosmtplib
import asyncpg
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from channels.email.envelope import envelope_from_email
from channels.email.ingest_sink import FileBlobStore, RedisMailSink
from channels.email.parse import parse_email
from channels.email.smtp_receiver import IngestHandler, RecipientMap, SmtpReceiver
from hub.config import Settings
from hub.conversations.store.persist import persist_inbound_batch
from hub.email.jobs import email_ack_job_id
from hub.email.rules import reply_address
from hub.email.store.cases import EmailOptions
from hub.ingest_steps import ingest_steps
from hub.schema import MessageStatusChanged, decode_event
from tests.conftest import SECRET_KEY
from tests.fixtures.helpers import eventually

OUR_DOMAIN = "shop.test"
RECIPIENTS = {"support@shop.test": "mail", "reply@shop.test": "mail",
              "@billing.shop.test": "mail-billing"}


def make_mail(subject: str = "Router blinks red", message_id: str | None = "<m1@customer.test>",
              body: str = "Hello, my router blinks red since this morning.\n",
              from_: str = "Anna Kunde <anna@customer.test>", to: str = "support@shop.test",
              headers: dict[str, str] | None = None) -> bytes:
    lines = [f"From: {from_}", f"To: {to}", f"Subject: {subject}",
             "Date: Mon, 03 Feb 2025 10:00:00 +0100", "MIME-Version: 1.0",
             "Content-Type: text/plain; charset=utf-8"]
    if message_id:
        lines.append(f"Message-ID: {message_id}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode()


@pytest_asyncio.fixture
async def smtp(hub: Any, db: asyncpg.Pool, redis: aioredis.Redis, settings: Settings,
               tmp_path: Path) -> AsyncIterator[SmtpReceiver]:
    """The hub (web + pipeline) plus the SMTP receiver, with the 'mail' (support queue)
    and 'mail-billing' (sales queue) inboxes."""
    await db.execute(
        "INSERT INTO inboxes (slug, name, channel, default_queue) VALUES"
        " ('mail', 'Support mail', 'email', 'support'),"
        " ('mail-billing', 'Billing mail', 'email', 'sales') ON CONFLICT (slug) DO NOTHING")
    sink = RedisMailSink(redis, settings.ingest_stream, FileBlobStore(tmp_path / "blobs"),
                         our_domains=(OUR_DOMAIN,))
    async with SmtpReceiver(IngestHandler(sink, RecipientMap(RECIPIENTS)), "127.0.0.1", 0,
                            max_message_bytes=1 << 20) as receiver:
        yield receiver


async def send(receiver: SmtpReceiver, raw: bytes, rcpts: list[str] | None = None,
               sender: str = "anna@customer.test") -> None:
    # aiosmtplib sends MAIL FROM:<> (sender="") only for message objects, not raw bytes.
    msg: Any = email.message_from_bytes(raw, policy=email.policy.default) if not sender else raw
    errors, _ = await aiosmtplib.send(msg, sender=sender,
                                      recipients=rcpts or ["support@shop.test"],
                                      hostname="127.0.0.1", port=receiver.port, timeout=10)
    assert errors == {}


async def stored(db: asyncpg.Pool, provider_id: str) -> asyncpg.Record:
    """Wait until the pipeline stored this mail; its message row + conversation."""
    async def row() -> asyncpg.Record | None:
        return await db.fetchrow(
            "SELECT m.id, m.conversation_id, m.text, m.attributes, m.raw_ref, c.status,"
            " c.subject, c.inbox, ct.email AS contact FROM messages m"
            " JOIN conversations c ON c.id = m.conversation_id"
            " JOIN contacts ct ON ct.id = c.contact_id WHERE m.provider_id = $1", provider_id)
    result: asyncpg.Record = await eventually(row)
    return result


async def audit(db: asyncpg.Pool, action: str) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT subject, details FROM audit_log WHERE action = $1 ORDER BY id",
                          action)
    return [{**json.loads(r["details"]), "subject": r["subject"]} for r in rows]


async def test_new_mail_opens_a_case_in_the_mapped_queue_with_a_pending_ack(
        smtp, db, redis, settings):
    await send(smtp, make_mail())
    await send(smtp, make_mail(subject="Invoice wrong", message_id="<b1@customer.test>"),
               ["invoices@billing.shop.test"])
    first = await stored(db, "<m1@customer.test>")
    second = await stored(db, "<b1@customer.test>")
    assert first["conversation_id"] != second["conversation_id"]
    assert first["subject"] == "Router blinks red" and first["status"] == "open"
    items = await db.fetch("SELECT conversation_id, queue, status FROM work_items ORDER BY id")
    assert [(r["conversation_id"], r["queue"], r["status"]) for r in items] == [
        (first["conversation_id"], "support", "queued"),
        (second["conversation_id"], "sales", "queued")]
    ack = await db.fetchrow("SELECT * FROM email_acks WHERE conversation_id = $1",
                            first["conversation_id"])
    assert (ack["status"], ack["reason"], ack["to_address"], ack["inbox"],
            ack["parent_message_id"], ack["locale"]) == (
        "pending", "", "anna@customer.test", "mail", "<m1@customer.test>", "en")
    # The job is on the worker's queue under the id the sweeper uses too.
    queued = {j.decode() for j in await redis.zrange(settings.arq_queue, 0, -1)}
    assert email_ack_job_id(settings, first["conversation_id"]) in queued
    assert email_ack_job_id(settings, second["conversation_id"]) in queued
    ids = await db.fetch("SELECT inbox, message_id, direction FROM email_message_ids"
                         " ORDER BY message_id")
    assert [tuple(r) for r in ids] == [("mail-billing", "<b1@customer.test>", "in"),
                                       ("mail", "<m1@customer.test>", "in")]


async def test_a_second_unthreaded_mail_from_the_same_sender_is_a_second_case(smtp, db):
    await send(smtp, make_mail())
    await send(smtp, make_mail(subject="Also: TV has no signal", message_id="<m2@customer.test>"))
    a = await stored(db, "<m1@customer.test>")
    b = await stored(db, "<m2@customer.test>")
    assert a["conversation_id"] != b["conversation_id"]
    assert await db.fetchval("SELECT count(*) FROM email_acks WHERE status = 'pending'") == 2


async def test_reply_with_our_token_threads_into_its_case_from_anyone(smtp, db, redis, settings):
    await send(smtp, make_mail())
    case = (await stored(db, "<m1@customer.test>"))["conversation_id"]
    token_to = reply_address(case, SECRET_KEY, OUR_DOMAIN)
    # A colleague of the customer answers the thread (different sender, no References).
    await send(smtp, make_mail(subject="Re: something else entirely", message_id="<c1@other.test>",
                               from_="Bob <bob@other.test>", to=token_to),
               [token_to], sender="bob@other.test")
    reply = await stored(db, "<c1@other.test>")
    assert reply["conversation_id"] == case
    # Continuing a case sends no second acknowledgement.
    assert await db.fetchval("SELECT count(*) FROM email_acks") == 1


async def test_references_thread_only_for_the_same_sender(smtp, db):
    await send(smtp, make_mail())
    case = (await stored(db, "<m1@customer.test>"))["conversation_id"]
    await send(smtp, make_mail(subject="Re: Router blinks red (still)",
                               message_id="<m3@customer.test>",
                               headers={"In-Reply-To": "<m1@customer.test>",
                                        "References": "<m1@customer.test>"}))
    assert (await stored(db, "<m3@customer.test>"))["conversation_id"] == case
    # Someone else citing Anna's Message-ID does not get into Anna's case.
    await send(smtp, make_mail(subject="Re: Router blinks red", message_id="<x1@evil.test>",
                               from_="Mallory <mallory@evil.test>",
                               headers={"In-Reply-To": "<m1@customer.test>",
                                        "References": "<m1@customer.test>"}),
               sender="mallory@evil.test")
    forged = await stored(db, "<x1@evil.test>")
    assert forged["conversation_id"] != case and forged["contact"] == "mallory@evil.test"
    [entry] = await audit(db, "email.thread.untrusted")
    assert entry["subject"] == "email:mail:<x1@evil.test>"
    assert entry["refused_conversations"] == [case] and entry["forged_token"] is False
    assert await db.fetchval("SELECT count(*) FROM messages WHERE conversation_id = $1",
                             case) == 2


async def test_forged_token_does_not_thread(smtp, db):
    await send(smtp, make_mail())
    case = (await stored(db, "<m1@customer.test>"))["conversation_id"]
    good = reply_address(case, SECRET_KEY, OUR_DOMAIN)
    forged_to = good[:-len("@shop.test") - 2] + ("aa" if not good.endswith("aa@shop.test")
                                                 else "bb") + "@shop.test"
    other_key = reply_address(case, "another-secret-key-0123456789", OUR_DOMAIN)
    for n, to in enumerate((forged_to, other_key)):
        await send(smtp, make_mail(subject="Router blinks red", message_id=f"<f{n}@evil.test>",
                                   from_="mallory@evil.test", to=to),
                   [to], sender="mallory@evil.test")
        row = await stored(db, f"<f{n}@evil.test>")
        assert row["conversation_id"] != case
    entries = await audit(db, "email.thread.untrusted")
    assert [e["forged_token"] for e in entries] == [True, True]


async def test_subject_fallback_only_for_the_same_sender(smtp, db):
    await send(smtp, make_mail())
    case = (await stored(db, "<m1@customer.test>"))["conversation_id"]
    # No References (a client that drops them): same sender + same normalised subject.
    await send(smtp, make_mail(subject="AW: RE: [Ticket#12] router BLINKS red",
                               message_id="<m4@customer.test>"))
    assert (await stored(db, "<m4@customer.test>"))["conversation_id"] == case
    await send(smtp, make_mail(subject="Re: Router blinks red", message_id="<y1@other.test>",
                               from_="eve@other.test"), sender="eve@other.test")
    assert (await stored(db, "<y1@other.test>"))["conversation_id"] != case


async def test_reply_reopens_a_resolved_case_and_requeues_it(smtp, db):
    await send(smtp, make_mail())
    case = (await stored(db, "<m1@customer.test>"))["conversation_id"]
    await db.execute("UPDATE conversations SET status = 'resolved' WHERE id = $1", case)
    await db.execute("UPDATE work_items SET status = 'completed' WHERE conversation_id = $1", case)
    await send(smtp, make_mail(subject="Re: Router blinks red", message_id="<m5@customer.test>",
                               headers={"References": "<m1@customer.test>"}))
    row = await stored(db, "<m5@customer.test>")
    assert row["conversation_id"] == case and row["status"] == "open"
    items = await db.fetch("SELECT status FROM work_items WHERE conversation_id = $1 ORDER BY id",
                           case)
    assert [r["status"] for r in items] == ["completed", "queued"]
    # A resolved case is not a subject-fallback target (only references/tokens reopen).
    await db.execute("UPDATE conversations SET status = 'resolved' WHERE id = $1", case)
    await send(smtp, make_mail(subject="Re: Router blinks red", message_id="<m6@customer.test>"))
    assert (await stored(db, "<m6@customer.test>"))["conversation_id"] != case


SUPPRESSED = [
    ("auto-submitted", {"Auto-Submitted": "auto-replied"}, "ooo@customer.test"),
    ("precedence", {"Precedence": "bulk"}, "news@customer.test"),
    ("precedence", {"Precedence": "junk"}, "junk@customer.test"),
    ("mailing-list", {"List-Id": "<users.lists.customer.test>"}, "list@customer.test"),
    ("system-sender", {}, "postmaster@customer.test"),
    ("system-sender", {}, "no-reply@customer.test"),
    ("system-sender", {}, "mailer-daemon@customer.test"),
    ("own-domain", {}, "colleague@shop.test"),
    ("own-domain", {}, "robot@eu.shop.test"),
]


async def test_each_suppression_rule_gives_no_pending_ack(smtp, db):
    for n, (_, headers, sender) in enumerate(SUPPRESSED):
        await send(smtp, make_mail(subject=f"Case {n}", message_id=f"<s{n}@customer.test>",
                                   from_=sender, headers=headers), sender=sender)
    # A DSN (bounce) from MAILER-DAEMON with MAIL FROM:<>: no case at all, so no ack.
    await send(smtp, (DSN_HEAD + DSN_BODY.format(of="<unknown@shop.test>")).encode(),
               sender="")
    rows = []
    for n, (_, _, sender) in enumerate(SUPPRESSED):
        conv = (await stored(db, f"<s{n}@customer.test>"))["conversation_id"]
        ack = await db.fetchrow("SELECT status, reason FROM email_acks WHERE conversation_id = $1",
                                conv)
        rows.append((sender, ack["status"], ack["reason"]))
    assert rows == [(sender, "suppressed", reason) for reason, _, sender in SUPPRESSED]
    await eventually(lambda: audit(db, "email.bounce.unmatched"))
    assert await db.fetchval("SELECT count(*) FROM email_acks WHERE status = 'pending'") == 0
    assert await db.fetchval("SELECT count(*) FROM conversations WHERE channel = 'email'") == len(
        SUPPRESSED)


DSN_HEAD = """From: MAILER-DAEMON@mx.customer.test (Mail Delivery System)
To: support@shop.test
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn1@mx.customer.test>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="R"

""".replace("\n", "\r\n")
DSN_BODY = """--R
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.
--R
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.customer.test

Final-Recipient: rfc822; gone@customer.test
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <gone@customer.test>: User unknown

--R
Content-Type: text/rfc822-headers

From: Support <support@shop.test>
To: gone@customer.test
Subject: Re: Router blinks red
Message-ID: {of}

--R--
""".replace("\n", "\r\n")


async def test_bounce_marks_our_outbound_message_failed_and_opens_no_case(
        smtp, db, redis, settings):
    await send(smtp, make_mail())
    case = (await stored(db, "<m1@customer.test>"))["conversation_id"]
    # What the send worker leaves behind for an agent reply it sent.
    out_id = await db.fetchval(
        "INSERT INTO messages (conversation_id, channel, channel_account, provider_id,"
        " direction, author_kind, text, status) VALUES ($1, 'email', 'mail', 'reply-1', 'out',"
        " 'agent', 'Please restart it', 'sent') RETURNING id", case)
    await db.execute("INSERT INTO email_message_ids (inbox, message_id, conversation_id,"
                     " message_row, direction) VALUES ('mail', '<out-1@shop.test>', $1, $2,"
                     " 'out')", case, out_id)
    dsn = (DSN_HEAD + DSN_BODY.format(of="<out-1@shop.test>")).encode()
    await send(smtp, dsn, sender="")
    await send(smtp, dsn, sender="")  # redelivered: still one audit row, one event

    async def failed() -> asyncpg.Record | None:
        return await db.fetchrow("SELECT status, status_error FROM messages WHERE id = $1"
                                 " AND status = 'failed'", out_id)
    row = await eventually(failed)
    assert "User unknown" in row["status_error"]
    [entry] = await eventually(lambda: audit(db, "email.bounce"))
    assert entry["message_row"] == out_id and entry["permanent"] is True
    assert await db.fetchval("SELECT count(*) FROM conversations") == 1
    assert await db.fetchval("SELECT count(*) FROM messages") == 2
    assert await db.fetchval("SELECT count(*) FROM email_acks") == 1

    async def status_events() -> list[Any]:
        events = [decode_event(f[b"e"]) for _, f in await redis.xrange(settings.events_stream)]
        return [e for e in events if isinstance(e, MessageStatusChanged)]
    [event] = await eventually(status_events)
    assert (event.message_id, event.status, event.conversation_id) == (out_id, "failed", case)
    assert "User unknown" in event.error


async def test_unmatched_bounce_is_audited_not_dropped(smtp, db):
    await send(smtp, (DSN_HEAD + DSN_BODY.format(of="<never-sent@shop.test>")).encode(),
               sender="")
    [entry] = await eventually(lambda: audit(db, "email.bounce.unmatched"))
    assert entry["bounce_of"] == "<never-sent@shop.test>" and entry["raw_ref"].startswith("blob:")
    assert await db.fetchval("SELECT count(*) FROM conversations") == 0


async def test_broken_mime_is_stored_flagged_and_opens_a_case(smtp, db):
    raw = (b"From: broken@customer.test\r\nTo: support@shop.test\r\nSubject: broken\r\n"
           b"Message-ID: <broken@customer.test>\r\n"
           b"Content-Type: multipart/mixed; boundary=\"never-closed\"\r\n\r\n"
           b"--never-closed\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n@@not base64!!\r\n"
           b"--never-closed\r\nContent-Type: text/plain; charset=x-unknown-cs\r\n\r\n"
           b"caf\xe9 line\r\n")
    await send(smtp, raw, sender="broken@customer.test")
    row = await stored(db, "<broken@customer.test>")
    attrs = json.loads(row["attributes"])
    assert attrs["email.malformed"] == "true" and attrs["email.defects"]
    assert row["raw_ref"].startswith("blob:sha256:") and row["status"] == "open"


async def test_the_same_message_id_twice_gives_one_row(smtp, db):
    await send(smtp, make_mail())
    await send(smtp, make_mail())
    await stored(db, "<m1@customer.test>")
    await send(smtp, make_mail(subject="marker", message_id="<z@customer.test>"))
    await stored(db, "<z@customer.test>")  # processed after both copies
    assert await db.fetchval("SELECT count(*) FROM messages WHERE provider_id ="
                             " '<m1@customer.test>'") == 1
    assert await db.fetchval("SELECT count(*) FROM email_message_ids") == 2
    assert await db.fetchval("SELECT count(*) FROM email_acks") == 2
    assert await db.fetchval("SELECT count(*) FROM conversations") == 2


# ---- the batch path directly (one transaction, several mails) ---------------------------


def envelope(raw: bytes, inbox: str = "mail") -> Any:
    parsed = parse_email(raw, inbox=inbox, max_attachment_bytes=1 << 20,
                         store_attachment=lambda data, name, ctype: "blob:x")
    return envelope_from_email(parsed, inbox, datetime.now(UTC), our_domains=(OUR_DOMAIN,))


@pytest.mark.parametrize("fallback", [True, False])
async def test_in_batch_replies_thread_and_the_subject_fallback_is_configurable(
        db, seeded, fallback):
    first = envelope(make_mail())
    reply = envelope(make_mail(subject="Re: Router blinks red", message_id="<r@customer.test>",
                               headers={"In-Reply-To": "<m1@customer.test>"}))
    same_subject = envelope(make_mail(subject="RE: router blinks red",
                                      message_id="<s@customer.test>"))
    async with db.acquire() as conn, conn.transaction():
        result = await persist_inbound_batch(
            conn, [("1-1", first), ("1-2", reply), ("1-3", same_subject)],
            steps=ingest_steps(email=EmailOptions(secrets=(SECRET_KEY,),
                                                  subject_fallback=fallback)))
    assert result.stored == 3 and len(result.jobs) == (1 if fallback else 2)
    convs = await db.fetch("SELECT provider_id, conversation_id FROM messages ORDER BY id")
    ids = [r["conversation_id"] for r in convs]
    assert ids[0] == ids[1]  # a reply to a mail of the same batch
    assert (ids[2] == ids[0]) is fallback


async def test_a_reply_racing_its_parents_uncommitted_batch_joins_the_parents_case(db, seeded):
    """Two consumers: the parent's batch is stored but not committed when the reply's
    batch starts. The reply waits for the parent's thread lock, then threads into its
    case instead of opening a second one."""
    first = envelope(make_mail(subject="Fibre down", message_id="<p@customer.test>"))
    reply = envelope(make_mail(subject="Re: Fibre down", message_id="<q@customer.test>",
                               body="Still down, please call me.\n",
                               headers={"In-Reply-To": "<p@customer.test>"}))
    options = ingest_steps(email=EmailOptions(secrets=(SECRET_KEY,), subject_fallback=False))
    async with db.acquire() as c1, db.acquire() as c2:
        tx1 = c1.transaction()
        await tx1.start()
        await persist_inbound_batch(c1, [("1-1", first)], steps=options)

        async def second() -> None:
            async with c2.transaction():
                await persist_inbound_batch(c2, [("2-1", reply)], steps=options)

        racing = asyncio.create_task(second())
        try:
            async def blocked_or_done() -> bool:
                return racing.done() or await _waiting_on_advisory_lock(db)

            await eventually(blocked_or_done)
            assert not racing.done(), "the reply was threaded while its parent was uncommitted"
        except BaseException:
            await tx1.rollback()
            await asyncio.gather(racing, return_exceptions=True)
            raise
        await tx1.commit()
        await asyncio.wait_for(racing, 15)
    rows = await db.fetch("SELECT conversation_id FROM messages ORDER BY id")
    assert len(rows) == 2 and rows[0][0] == rows[1][0]
    assert await db.fetchval("SELECT count(*) FROM conversations WHERE thread_key IS NOT NULL"
                             ) == 1


async def _waiting_on_advisory_lock(db: asyncpg.Pool) -> bool:
    return bool(await db.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                  " AND NOT granted"))


async def test_bounce_reaching_another_mailbox_still_finds_our_message(smtp, db):
    await send(smtp, make_mail())
    case = (await stored(db, "<m1@customer.test>"))["conversation_id"]
    out_id = await db.fetchval(
        "INSERT INTO messages (conversation_id, channel, channel_account, provider_id,"
        " direction, author_kind, text, status) VALUES ($1, 'email', 'mail', 'reply-2', 'out',"
        " 'agent', 'Please restart it', 'sent') RETURNING id", case)
    await db.execute("INSERT INTO email_message_ids (inbox, message_id, conversation_id,"
                     " message_row, direction) VALUES ('mail', '<out-2@shop.test>', $1, $2,"
                     " 'out')", case, out_id)
    # The DSN goes to an address routed to the billing mailbox.
    await send(smtp, (DSN_HEAD + DSN_BODY.format(of="<out-2@shop.test>")).encode(),
               ["bounces@billing.shop.test"], sender="")

    async def failed() -> str | None:
        return await db.fetchval("SELECT status FROM messages WHERE id = $1"
                                 " AND status = 'failed'", out_id)
    assert await eventually(failed) == "failed"
    [entry] = await audit(db, "email.bounce")
    assert entry["subject"] == "email:mail-billing:<dsn1@mx.customer.test>"
    assert await db.fetchval("SELECT count(*) FROM conversations") == 1
