"""The acknowledgement job against a real SMTP server (aiosmtpd on 127.0.0.1), real
Postgres and Valkey: once per case, loop-safe headers and the null envelope sender, the
contact's language, one ack per sender per window, retries with the same Message-ID,
failures visible to the agent, and the sweep (lost enqueue, stuck 'sending')."""

from __future__ import annotations

from email.utils import parseaddr

import pytest
from arq import Retry

from channels.email import parse_reply_token
from hub.email.jobs import email_ack_job_id
from tests.conftest import SECRET_KEY
from tests.fixtures.mail import (
    CUSTOMER,
    OUR_DOMAIN,
    email_conversation,
    events,
    job_ctx,
    with_relay,
)
from tests.fixtures.smtp_peer import SmtpPeer
from workers.delivery import OUTCOME_UNKNOWN
from workers.email_ack import ACK_AUTHOR, send_email_ack, sweep_email_acks


@pytest.fixture
async def peer():
    p = await SmtpPeer().start()
    yield p
    await p.stop()


async def pending_ack(db, cid: int, *, to: str = CUSTOMER, locale: str = "en",
                      parent: str = "<c1@customer.test>", age_s: int = 0) -> None:
    await db.execute(
        "INSERT INTO email_acks (conversation_id, inbox, to_address, locale, parent_message_id,"
        " created_at, status_at) VALUES ($1, 'mail', $2, $3, $4,"
        " now() - make_interval(secs => $5), now() - make_interval(secs => $5))",
        cid, to, locale, parent, float(age_s))


async def ack_row(db, cid: int):
    return await db.fetchrow("SELECT * FROM email_acks WHERE conversation_id = $1", cid)


async def test_ack_is_sent_once_loop_safe_and_threaded(seeded, settings, db, redis, peer):
    cid = await email_conversation(db, subject="Internet down since Monday")
    await pending_ack(db, cid)
    ctx = job_ctx(db, redis, with_relay(settings, peer))
    assert await send_email_ack(ctx, cid) == "sent"
    assert await send_email_ack(ctx, cid) == "not pending (already handled)"

    assert len(peer.handler.received) == 1
    got = peer.handler.received[0]
    assert got.mail_from == "<>" and got.rcpt_tos == [CUSTOMER]  # aiosmtpd: MAIL FROM:<>
    mail = got.message
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["X-Auto-Response-Suppress"] == "All"
    assert mail["In-Reply-To"] == "<c1@customer.test>"
    assert mail["Subject"] == "Re: Internet down since Monday"
    assert parseaddr(mail["From"])[1] == f"support@{OUR_DOMAIN}"
    assert parse_reply_token(parseaddr(mail["Reply-To"])[1], SECRET_KEY, [OUR_DOMAIN]) == cid
    assert mail["Message-ID"].endswith(f"@{OUR_DOMAIN}>")
    body = mail.get_content()
    assert "Hello Emma Stone" in body and f"#{cid}" in body and mail["Content-Language"] == "en"

    row = await ack_row(db, cid)
    assert (row["status"], row["reason"], row["message_id"]) == ("sent", "", mail["Message-ID"])
    shown = await db.fetchrow("SELECT * FROM messages WHERE conversation_id = $1"
                              " AND author_kind = 'system'", cid)
    assert shown["author_name"] == ACK_AUTHOR and shown["status"] == "sent"
    assert shown["direction"] == "out" and not shown["private"]
    assert shown["text"] == body.replace("\r\n", "\n").strip()
    out = await db.fetchrow("SELECT * FROM email_message_ids WHERE message_id = $1",
                            mail["Message-ID"])
    assert (out["direction"], out["conversation_id"], out["message_row"]) == ("out", cid,
                                                                             shown["id"])
    created = [e for e in await events(redis, settings) if e["type"] == "message.created"]
    assert [e["message"]["id"] for e in created] == [shown["id"]]


@pytest.mark.parametrize(("locale", "greeting", "language"), [
    ("de-AT", "Hallo Emma Stone", "de"), ("fr", "Bonjour Emma Stone", "fr"),
    ("pt-BR", "Hello Emma Stone", "en")])
async def test_the_contacts_locale_picks_the_template(seeded, settings, db, redis, peer,
                                                      locale, greeting, language):
    cid = await email_conversation(db)
    await pending_ack(db, cid, locale=locale)
    assert await send_email_ack(job_ctx(db, redis, with_relay(settings, peer)), cid) == "sent"
    mail = peer.handler.received[0].message
    assert mail.get_content().startswith(greeting) and mail["Content-Language"] == language


async def test_one_ack_per_sender_per_window(seeded, settings, db, redis, peer):
    """Two new cases from the same address (e.g. an auto-responder answering our ack
    with a fresh, unthreaded mail): the second ack is suppressed, whatever the inbox."""
    await db.execute(
        "INSERT INTO inboxes (slug, name, channel, default_queue, email_address)"
        " VALUES ('sales-mail', 'Sales', 'email', 'support', 'sales@demo.omnihub.test')")
    first = await email_conversation(db, thread=(("in", "<a1@customer.test>"),))
    await db.execute("UPDATE conversations SET status = 'resolved' WHERE id = $1", first)
    second = await email_conversation(db, thread=(("in", "<a2@customer.test>"),))
    other = await email_conversation(db, thread=(("in", "<b1@other.test>"),),
                                     address="bob@other.test", name="Bob")
    await pending_ack(db, first, parent="<a1@customer.test>")
    await pending_ack(db, second, parent="<a2@customer.test>", to=CUSTOMER.upper())
    await pending_ack(db, other, parent="<b1@other.test>", to="bob@other.test")
    ctx = job_ctx(db, redis, with_relay(settings, peer))
    assert await send_email_ack(ctx, first) == "sent"
    assert await send_email_ack(ctx, second) == "rate-limited"
    assert await send_email_ack(ctx, other) == "sent"  # another sender has its own window
    row = await ack_row(db, second)
    assert (row["status"], row["reason"]) == ("suppressed", "rate-limited")
    assert [r.rcpt_tos for r in peer.handler.received] == [[CUSTOMER], ["bob@other.test"]]
    # No Message-ID is kept for an ack that never left.
    assert row["message_id"] == ""
    assert await db.fetchval("SELECT count(*) FROM email_message_ids WHERE conversation_id = $1"
                             " AND direction = 'out'", second) == 0


async def test_transient_failure_retries_with_the_same_message_id(seeded, settings, db, redis,
                                                                   peer):
    cid = await email_conversation(db)
    await pending_ack(db, cid)
    peer.handler.data_replies = ["451 4.3.0 Temporary lookup failure"]
    settings = with_relay(settings, peer)
    with pytest.raises(Retry):
        await send_email_ack(job_ctx(db, redis, settings, 1), cid)
    row = await ack_row(db, cid)
    assert row["status"] == "pending" and row["reason"].startswith("451 4.3.0")
    # The retry holds the sender's window itself: it is not rate-limited by its own try.
    assert await send_email_ack(job_ctx(db, redis, settings, 2), cid) == "sent"
    assert len(peer.handler.attempts) == 2 and len(set(peer.handler.attempts)) == 1
    assert (await ack_row(db, cid))["message_id"] == peer.handler.attempts[0]
    assert await db.fetchval("SELECT count(*) FROM email_message_ids WHERE conversation_id = $1"
                             " AND direction = 'out'", cid) == 1


async def test_permanent_failure_is_failed_and_shown_to_the_agent(seeded, settings, db, redis,
                                                                   peer):
    cid = await email_conversation(db)
    await pending_ack(db, cid)
    peer.handler.rcpt_replies = ["550 5.1.1 No such user"]
    assert await send_email_ack(job_ctx(db, redis, with_relay(settings, peer)), cid) == "failed"
    row = await ack_row(db, cid)
    assert (row["status"], row["reason"]) == ("failed", "550 5.1.1 No such user")
    shown = await db.fetchrow("SELECT status, status_error, text FROM messages"
                              " WHERE conversation_id = $1 AND author_kind = 'system'", cid)
    assert (shown["status"], shown["status_error"]) == ("failed", "550 5.1.1 No such user")
    assert CUSTOMER in shown["text"]


async def test_no_relay_configured_fails_visibly_without_sending(seeded, settings, db, redis):
    cid = await email_conversation(db)
    await pending_ack(db, cid)
    assert await send_email_ack(job_ctx(db, redis, settings), cid) == "failed"
    row = await ack_row(db, cid)
    assert row["status"] == "failed" and "no outgoing mail relay" in row["reason"]


async def test_sweep_requeues_lost_pending_and_fails_stuck_sending(seeded, settings, db, redis,
                                                                   peer):
    fresh = await email_conversation(db, thread=(("in", "<f1@customer.test>"),))
    lost = await email_conversation(db, thread=(("in", "<l1@other.test>"),),
                                    address="lost@other.test", name="Lou")
    stuck = await email_conversation(db, thread=(("in", "<s1@third.test>"),),
                                     address="stuck@third.test", name="Sam")
    await pending_ack(db, fresh, parent="<f1@customer.test>")
    await pending_ack(db, lost, parent="<l1@other.test>", to="lost@other.test", age_s=120)
    await pending_ack(db, stuck, parent="<s1@third.test>", to="stuck@third.test", age_s=900)
    await db.execute("UPDATE email_acks SET status = 'sending' WHERE conversation_id = $1", stuck)
    settings = with_relay(settings, peer)
    ctx = job_ctx(db, redis, settings)
    assert await sweep_email_acks(ctx) == 1
    queued = await ctx["redis"].queued_jobs(queue_name=settings.arq_queue)
    assert [(j.function, j.args, j.job_id) for j in queued] == [
        ("send_email_ack", (lost,), email_ack_job_id(settings, lost))]
    row = await ack_row(db, stuck)
    assert (row["status"], row["reason"]) == ("failed", OUTCOME_UNKNOWN)
    shown = await db.fetchrow("SELECT status, status_error FROM messages"
                              " WHERE conversation_id = $1 AND author_kind = 'system'", stuck)
    assert (shown["status"], shown["status_error"]) == ("failed", OUTCOME_UNKNOWN)
    # Never sent again: the job of a failed ack claims nothing.
    assert await send_email_ack(ctx, stuck) == "not pending (already handled)"
    assert await send_email_ack(ctx, lost) == "sent"
    assert [r.rcpt_tos for r in peer.handler.received] == [["lost@other.test"]]
    assert await sweep_email_acks(ctx) == 0  # "fresh" is younger than the grace period


async def test_no_ack_once_an_agent_has_replied(seeded, settings, db, redis, peer):
    cid = await email_conversation(db)
    await pending_ack(db, cid)
    await db.execute(
        "INSERT INTO messages (conversation_id, channel, channel_account, provider_id,"
        " direction, author_kind, author_name, text, status)"
        " VALUES ($1, 'email', 'mail', 'agent:1:x', 'out', 'agent', 'Maya', 'On it', 'sent')", cid)
    ctx = job_ctx(db, redis, with_relay(settings, peer))
    assert await send_email_ack(ctx, cid) == "agent replied first"
    row = await ack_row(db, cid)
    assert (row["status"], row["reason"]) == ("suppressed", "an agent replied first")
    assert peer.handler.attempts == []
