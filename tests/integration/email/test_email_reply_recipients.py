"""Who an agent's email reply goes to: Reply-To over the opening address, reply-all over
the customer's newest mail, never our own mailboxes or reply+token addresses; pure, then
through a real SMTP server with the recipients kept on the row for every retry."""

from __future__ import annotations

import json

import pytest

from channels.email.reply_recipients import ReplyRecipients, choose_reply_recipients
from tests.fixtures.mail import (
    CUSTOMER,
    OUR_DOMAIN,
    agent_reply,
    email_conversation,
    job_ctx,
    with_relay,
)
from tests.fixtures.smtp_peer import SmtpPeer
from workers.delivery import deliver_message
from workers.email_send import EmailSender
from workers.senders import OutboundMessage

OURS = [f"support@{OUR_DOMAIN}", "sales@other-brand.test"]


def choose(attrs, contact="emma@customer.test"):
    return choose_reply_recipients(attrs, contact, OURS, [OUR_DOMAIN, ""])


def test_no_inbound_mail_replies_to_the_contact_only():
    assert choose(None) == ReplyRecipients(to="emma@customer.test")


def test_reply_to_wins_and_everyone_else_stays_in_cc_except_us():
    got = choose({"email.reply_to": "Tickets@Customer.test",
                  "email.to": f"support@{OUR_DOMAIN}, Bob@customer.test",
                  "email.cc": f"carol@partner.test, reply+abc.def@{OUR_DOMAIN},"
                              " sales@other-brand.test, bob@customer.test, emma@customer.test"})
    assert got == ReplyRecipients(to="tickets@customer.test",
                                  cc=("bob@customer.test", "carol@partner.test"))


def test_a_reply_to_pointing_at_us_is_ignored():
    got = choose({"email.reply_to": f"support@{OUR_DOMAIN}"})
    assert got.to == "emma@customer.test"


def test_cc_is_capped():
    many = ", ".join(f"p{i}@partner.test" for i in range(40))
    assert len(choose({"email.cc": many}).cc) == 20


@pytest.fixture
async def peer():
    p = await SmtpPeer().start()
    yield p
    await p.stop()


async def test_reply_goes_to_reply_to_with_reply_all_cc_and_retries_reuse_them(
        hub, db, redis, peer):
    cid = await email_conversation(db)
    await db.execute(
        "UPDATE messages SET attributes = $2::jsonb WHERE conversation_id = $1"
        " AND direction = 'in'", cid, json.dumps({
            "email.reply_to": "helpdesk@customer.test",
            "email.to": f"support@{OUR_DOMAIN}, bob@customer.test",
            "email.cc": f"carol@partner.test, reply+x@{OUR_DOMAIN}"}))
    msg = await agent_reply(hub, cid, "We are on it.")
    ctx = job_ctx(db, redis, with_relay(hub.settings, peer))
    assert await deliver_message(ctx, msg["id"]) == "sent"
    got = peer.handler.received[0]
    assert sorted(got.rcpt_tos) == ["bob@customer.test", "carol@partner.test",
                                    "helpdesk@customer.test"]
    assert got.message["To"] == "helpdesk@customer.test"
    assert got.message["Cc"] == "bob@customer.test, carol@partner.test"
    attrs = json.loads(await db.fetchval(
        "SELECT attributes::text FROM messages WHERE id = $1", msg["id"]))
    assert (attrs["email.to"], attrs["email.cc"]) == (
        "helpdesk@customer.test", "bob@customer.test, carol@partner.test")
    assert CUSTOMER not in got.rcpt_tos  # Reply-To replaced the From address

    # A retry is rebuilt from the row, even if the customer wrote again meanwhile.
    await db.execute(
        "UPDATE messages SET attributes = $2::jsonb WHERE conversation_id = $1"
        " AND direction = 'in'", cid, json.dumps({"email.cc": "dave@elsewhere.test"}))
    row = await db.fetchrow(
        "SELECT m.id, m.conversation_id, c.inbox, m.channel, m.text, coalesce(m.html, '') AS html,"
        " m.provider_id, m.author_name, m.created_at, c.contact_identity FROM messages m"
        " JOIN conversations c ON c.id = m.conversation_id WHERE m.id = $1", msg["id"])
    async with db.acquire() as conn:
        again = await EmailSender().prepare(conn, OutboundMessage(**dict(row)),
                                            with_relay(hub.settings, peer))
    assert again.mail.recipients == ("helpdesk@customer.test", "bob@customer.test",
                                     "carol@partner.test")
