"""Agent replies on email conversations, delivered by the worker through a real SMTP
server (aiosmtpd on 127.0.0.1): threading headers, signed Reply-To, our Message-ID
domain, the 'out' row, retries on 4xx with the same Message-ID, 5xx → failed with the
server's words (live in the inbox), and at most once when a worker dies mid-send."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from email.utils import parseaddr
from pathlib import Path

import httpx
import pytest
from arq import Retry
from arq.worker import create_worker

from channels.email import parse_reply_token
from tests.conftest import SECRET_KEY
from tests.fixtures.helpers import agent_http, agent_ws, eventually, is_event, login, recv_until
from tests.fixtures.mail import (
    CUSTOMER,
    OUR_DOMAIN,
    agent_reply,
    email_conversation,
    job_ctx,
    status_events,
    with_relay,
)
from tests.fixtures.smtp_peer import SmtpPeer
from workers.delivery import OUTCOME_UNKNOWN, deliver_message, requeue_lost_deliveries
from workers.main import make_worker_settings

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def peer():
    p = await SmtpPeer().start()
    yield p
    await p.stop()


async def test_reply_is_delivered_threaded_and_signed(hub, db, redis, peer):
    cid = await email_conversation(db, thread=(
        ("in", "<c1@customer.test>"), ("out", f"<o1@{OUR_DOMAIN}>"), ("in", "<c2@customer.test>")))
    msg = await agent_reply(hub, cid, "Please restart the router.\nThen tell us.")
    assert msg["status"] == "queued"
    settings = with_relay(hub.settings, peer)
    ctx = job_ctx(db, redis, settings)
    assert await deliver_message(ctx, msg["id"]) == "sent"
    assert await deliver_message(ctx, msg["id"]) == "not queued (already handled)"

    assert len(peer.handler.received) == 1
    got = peer.handler.received[0]
    mail = got.message
    assert got.mail_from == f"support@{OUR_DOMAIN}" and got.rcpt_tos == [CUSTOMER]
    assert parseaddr(mail["From"])[1] == f"support@{OUR_DOMAIN}"
    assert "via Omnihub Support" in mail["From"]
    assert parseaddr(mail["To"])[1] == CUSTOMER
    assert mail["Subject"] == "Re: Router blinks red"
    assert mail["In-Reply-To"] == "<c2@customer.test>"
    assert mail["References"].split() == ["<c1@customer.test>", f"<o1@{OUR_DOMAIN}>",
                                          "<c2@customer.test>"]
    message_id = mail["Message-ID"]
    assert message_id.endswith(f"@{OUR_DOMAIN}>")
    reply_to = parseaddr(mail["Reply-To"])[1]
    assert reply_to.startswith("reply+") and reply_to.endswith(f"@{OUR_DOMAIN}")
    assert parse_reply_token(reply_to, SECRET_KEY, [OUR_DOMAIN]) == cid
    assert parse_reply_token(reply_to, "another-secret-0123456789") is None
    assert "Auto-Submitted" not in mail
    assert mail.get_content().replace("\r\n", "\n").strip() == (
        "Please restart the router.\nThen tell us.")

    out = await db.fetch("SELECT * FROM email_message_ids WHERE message_row = $1", msg["id"])
    assert [(r["message_id"], r["direction"], r["conversation_id"], r["inbox"]) for r in out] == [
        (message_id, "out", cid, "mail")]
    row = await db.fetchrow("SELECT status, status_error FROM messages WHERE id = $1", msg["id"])
    assert (row["status"], row["status_error"]) == ("sent", "")
    assert await status_events(redis, hub.settings, msg["id"]) == [("sent", "")]


async def test_first_reply_without_stored_ids_and_our_own_domain_setting(hub, db, redis, peer):
    cid = await email_conversation(db, subject="AW: RE: Rechnung", thread=())
    msg = await agent_reply(hub, cid, "Hello")
    settings = with_relay(hub.settings, peer, email_domain="Mail.Hub.Test")
    assert await deliver_message(job_ctx(db, redis, settings), msg["id"]) == "sent"
    mail = peer.handler.received[0].message
    assert mail["Subject"] == "Re: Rechnung"
    assert "In-Reply-To" not in mail and "References" not in mail
    assert mail["Message-ID"].endswith("@mail.hub.test>")
    assert parseaddr(mail["Reply-To"])[1].endswith("@mail.hub.test")
    # From stays the inbox's mailbox; only ids and reply addresses use email_domain.
    assert parseaddr(mail["From"])[1] == f"support@{OUR_DOMAIN}"


async def test_transient_4xx_is_retried_by_the_worker_with_the_same_message_id(
        hub, db, redis, peer):
    cid = await email_conversation(db)
    peer.handler.data_replies = ["451 4.7.1 Greylisted, try again", "421 4.3.2 Busy"]
    settings = with_relay(hub.settings, peer, smtp_retry_base_s=0.05)
    msg = await agent_reply(hub, cid, "We are on it.")  # enqueues the job in arq
    worker = create_worker(make_worker_settings(settings), burst=True, poll_delay=0.02,
                           handle_signals=False, cron_jobs=[])
    try:
        async with asyncio.timeout(60):
            await worker.main()
    finally:
        await worker.close()
    assert len(peer.handler.received) == 1
    assert len(peer.handler.attempts) == 3 and len(set(peer.handler.attempts)) == 1
    assert peer.handler.received[0].message["Message-ID"] == peer.handler.attempts[0]
    statuses = await status_events(redis, hub.settings, msg["id"])
    assert [s for s, _ in statuses] == ["queued", "queued", "sent"]
    assert statuses[0][1].startswith("451 4.7.1 Greylisted") and "retrying" in statuses[0][1]
    assert statuses[1][1].startswith("421 4.3.2 Busy")
    assert await db.fetchval("SELECT count(*) FROM email_message_ids WHERE message_row = $1",
                             msg["id"]) == 1


async def test_connection_refused_is_transient_then_gives_up_after_max_tries(hub, db, redis):
    cid = await email_conversation(db)
    msg = await agent_reply(hub, cid, "hello?")
    closed = SmtpPeer()
    await closed.start()
    await closed.stop()  # nothing listens on that port any more
    settings = with_relay(hub.settings, closed, smtp_max_tries=3)
    for attempt in (1, 2):
        with pytest.raises(Retry):
            await deliver_message(job_ctx(db, redis, settings, attempt), msg["id"])
        assert await db.fetchval("SELECT status FROM messages WHERE id = $1", msg["id"]) == "queued"
    assert await deliver_message(job_ctx(db, redis, settings, 3), msg["id"]) == "failed"
    row = await db.fetchrow("SELECT status, status_error FROM messages WHERE id = $1", msg["id"])
    assert row["status"] == "failed" and "Connect" in row["status_error"]


async def test_permanent_5xx_fails_with_the_reason_live_in_the_inbox(hub, db, redis, peer):
    cid = await email_conversation(db)
    peer.handler.rcpt_replies = ["550 5.1.1 <emma@customer.test>: Recipient address rejected"]
    cookie = await login(hub.base_url)
    ws = await agent_ws(hub.ws_url, hub.base_url, cookie)
    try:
        msg = await agent_reply(hub, cid, "Your invoice is attached.", cookie)
        assert await deliver_message(job_ctx(db, redis, with_relay(hub.settings, peer)),
                                     msg["id"]) == "failed"
        frame = await recv_until(ws, is_event("message.status", message_id=msg["id"]))
    finally:
        await ws.close()
    reason = "550 5.1.1 <emma@customer.test>: Recipient address rejected"
    assert frame["event"]["status"] == "failed" and frame["event"]["error"] == reason
    assert peer.handler.received == []
    # After a reload the agent still sees why (the message carries status_error).
    async with agent_http(hub.base_url, cookie) as client:
        r = await client.get(f"/api/v1/conversations/{cid}")
        assert r.status_code == 200, r.text
    stored = [m for m in r.json()["messages"] if m["id"] == msg["id"]][0]
    assert stored["status"] == "failed" and stored["status_error"] == reason


async def test_data_550_is_permanent_and_not_retried(hub, db, redis, peer):
    cid = await email_conversation(db)
    peer.handler.data_replies = ["554 5.7.1 Message rejected as spam"]
    msg = await agent_reply(hub, cid, "Buy now")
    assert await deliver_message(job_ctx(db, redis, with_relay(hub.settings, peer)),
                                 msg["id"]) == "failed"
    assert len(peer.handler.attempts) == 1
    assert await status_events(redis, hub.settings, msg["id"]) == [
        ("failed", "554 5.7.1 Message rejected as spam")]


async def test_unconfigured_relay_or_mailbox_fails_visibly(hub, db, redis, peer):
    cid = await email_conversation(db)
    msg = await agent_reply(hub, cid, "one")
    assert await deliver_message(job_ctx(db, redis, hub.settings), msg["id"]) == "no route"
    assert await status_events(redis, hub.settings, msg["id"]) == [
        ("failed", "no outgoing mail relay configured (OMNIHUB_SMTP_RELAY_HOST)")]
    await db.execute("UPDATE inboxes SET email_address = NULL WHERE slug = 'mail'")
    msg2 = await agent_reply(hub, cid, "two")
    assert await deliver_message(job_ctx(db, redis, with_relay(hub.settings, peer)),
                                 msg2["id"]) == "no route"
    row = await db.fetchrow("SELECT status, status_error FROM messages WHERE id = $1", msg2["id"])
    assert row["status"] == "failed" and "has no sending address" in row["status_error"]
    # Nothing was sent and no Message-ID was kept for mail that never left.
    assert peer.handler.attempts == []
    assert await db.fetchval("SELECT count(*) FROM email_message_ids WHERE direction = 'out'"
                             " AND message_row = ANY($1::bigint[])", [msg["id"], msg2["id"]]) == 0


async def test_worker_killed_mid_send_never_sends_twice(hub, db, redis, peer, tmp_path):
    """A real worker process sends into a sink that holds its final answer; the worker is
    SIGKILLed. The message stays 'sending'; a second run of the job does not send it; the
    sweep marks it failed "outcome unknown"."""
    cid = await email_conversation(db)
    peer.handler.stall = asyncio.Event()
    settings = with_relay(hub.settings, peer, delivery_stuck_after_s=1)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": settings.database_url,
           "REDIS_URL": settings.redis_url, "OMNIHUB_KEY_PREFIX": settings.key_prefix,
           "OMNIHUB_SECRET_KEY": SECRET_KEY, "OMNIHUB_SMTP_RELAY_HOST": "127.0.0.1",
           "OMNIHUB_SMTP_RELAY_PORT": str(peer.port), "OMNIHUB_SMTP_RELAY_SECURITY": "none",
           "OMNIHUB_LOG_LEVEL": "WARNING"}
    log = (tmp_path / "worker.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "web.cli", "worker", env=env, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=log)
    try:
        msg = await agent_reply(hub, cid, "Sent exactly once.")
        async with asyncio.timeout(30):
            await peer.handler.arrived.wait()  # the whole mail is at the sink, unanswered
        assert await db.fetchval("SELECT status FROM messages WHERE id = $1", msg["id"]) == "sending"
        proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log.close()
    peer.handler.stall.set()
    ctx = job_ctx(db, redis, settings)
    # arq runs a job again after its worker vanished: the claim refuses.
    assert await deliver_message(ctx, msg["id"]) == "not queued (already handled)"
    await db.execute("UPDATE messages SET status_at = now() - interval '5 seconds'"
                     " WHERE id = $1", msg["id"])
    await requeue_lost_deliveries(ctx)
    row = await db.fetchrow("SELECT status, status_error FROM messages WHERE id = $1", msg["id"])
    assert (row["status"], row["status_error"]) == ("failed", OUTCOME_UNKNOWN)
    assert await deliver_message(ctx, msg["id"]) == "not queued (already handled)"
    assert len(peer.handler.received) == 1 and len(peer.handler.attempts) == 1
    assert ("failed", OUTCOME_UNKNOWN) in await status_events(redis, hub.settings, msg["id"])


async def test_api_channel_still_uses_its_webhook_sender(hub, db, redis):
    """The per-channel table keeps the API route: no webhook configured → failed visibly."""
    from tests.fixtures.helpers import api_post, new_id

    r = await api_post(hub.base_url, hub.seed["api_token"],
                       {"source_id": "crm-9", "text": "hi", "message_id": new_id()})
    assert r.status_code == 202
    cid = await eventually(lambda: db.fetchval("SELECT id FROM conversations WHERE inbox = 'api'"))
    msg = await agent_reply(hub, cid, "hello api")
    async with httpx.AsyncClient() as http:
        ctx = job_ctx(db, redis, hub.settings) | {"http": http}
        assert await deliver_message(ctx, msg["id"]) == "no route"
    assert await status_events(redis, hub.settings, msg["id"]) == [
        ("failed", "no delivery route for this inbox")]


async def test_dev_mailbox_does_not_exist_without_the_dev_sink(hub):
    cookie = await login(hub.base_url)
    async with agent_http(hub.base_url, cookie) as client:
        assert (await client.get("/dev/mailbox")).status_code == 404
        assert (await client.get("/dev/mailbox.json")).status_code == 404


async def test_many_replies_at_once_are_all_delivered_by_one_worker(hub, db, redis, peer):
    """More concurrent jobs than the worker has connections: nothing waits for a second
    connection while holding one (that deadlocked), every reply is sent once."""
    cookie = await login(hub.base_url)
    ids = []
    for i in range(30):
        cid = await email_conversation(db, thread=(("in", f"<many{i}@customer.test>"),),
                                       address=f"c{i}@customer.test", name=f"C {i}")
        ids.append((await agent_reply(hub, cid, f"Answer {i}", cookie))["id"])
    worker = create_worker(make_worker_settings(with_relay(hub.settings, peer)), burst=True,
                           poll_delay=0.02, handle_signals=False, cron_jobs=[])
    try:
        async with asyncio.timeout(90):
            await worker.main()
    finally:
        await worker.close()
    assert sorted(r.rcpt_tos[0] for r in peer.handler.received) == sorted(
        f"c{i}@customer.test" for i in range(30))
    assert await db.fetchval("SELECT count(*) FROM messages WHERE status = 'sent'"
                             " AND id = ANY($1::bigint[])", ids) == 30
