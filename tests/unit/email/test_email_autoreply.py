"""When acknowledgements are suppressed (each rule), bounce correlation, and
auto-responders that answer each other without looping."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from channels.email import (
    build_auto_ack,
    correlate_bounce,
    envelope_from_email,
    match_conversation,
    parse_email,
    should_auto_acknowledge,
)
from channels.email.autoreply import is_system_sender
from channels.email.compose import Parent
from channels.email.parse import ParsedEmail
from channels.email.threading import ConversationRef
from hub.contacts.rules.identity import identity_key
from hub.schema import Identity

OURS = ["help.example"]


def parse(raw: bytes) -> ParsedEmail:
    return parse_email(raw, inbox="support", max_attachment_bytes=10_000,
                       store_attachment=lambda d, n, c: "ref")


def mail(extra: str = "", sender: str = "jane@customer.example",
         message_id: str = "<m1@customer.example>", content_type: str = "text/plain",
         body: str = "Hello") -> bytes:
    return (f"From: {sender}\r\nTo: support@help.example\r\nSubject: Question\r\n"
            f"Message-ID: {message_id}\r\nContent-Type: {content_type}\r\n{extra}\r\n{body}\r\n"
            ).encode()


def decide(raw: bytes, recent: bool = False) -> tuple[bool, str]:
    return should_auto_acknowledge(parse(raw), our_domains=OURS, recent_ack_to_sender=recent)


def test_plain_customer_mail_is_acknowledged() -> None:
    assert decide(mail()) == (True, "ok")
    assert decide(mail("Auto-Submitted: no\r\n")) == (True, "ok")
    assert decide(mail("Precedence: first-class\r\n")) == (True, "ok")
    assert decide(mail("X-Auto-Response-Suppress: OOF, DR\r\n")) == (True, "ok")


@pytest.mark.parametrize(("extra", "reason"), [
    ("Auto-Submitted: auto-replied\r\n", "auto-submitted"),
    ("Auto-Submitted: auto-generated\r\n", "auto-submitted"),
    ("Auto-Submitted: auto-notified; owner-email=x@y\r\n", "auto-submitted"),
    ("X-Autoreply: yes\r\n", "auto-reply-header"),
    ("X-Autorespond: Out of office\r\n", "auto-reply-header"),
    ("Precedence: bulk\r\n", "precedence"),
    ("Precedence: list\r\n", "precedence"),
    ("Precedence: junk\r\n", "precedence"),
    ("Precedence: auto_reply\r\n", "precedence"),
    ("List-Id: <news.customer.example>\r\n", "mailing-list"),
    ("List-Unsubscribe: <https://customer.example/u>\r\n", "mailing-list"),
    ("List-Post: <mailto:l@customer.example>\r\n", "mailing-list"),
    ("X-Auto-Response-Suppress: All\r\n", "auto-response-suppress"),
    ("X-Auto-Response-Suppress: DR, AutoReply\r\n", "auto-response-suppress"),
    ("X-Loop: helpdesk@customer.example\r\n", "x-loop"),
    ("X-Spam-Flag: YES\r\n", "spam"),
    ("Return-Path: <>\r\n", "null-return-path"),
])
def test_header_rules(extra: str, reason: str) -> None:
    assert decide(mail(extra)) == (False, reason)


def test_bounces_and_reports() -> None:
    dsn = mail(content_type='multipart/report; report-type=delivery-status; boundary="B"',
               body="--B\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--B--",
               sender="postmaster@customer.example")
    assert decide(dsn) == (False, "bounce-or-report")
    mdn = mail(content_type='multipart/report; report-type=disposition-notification; boundary="B"',
               body="--B\r\nContent-Type: text/plain\r\n\r\nread\r\n--B--")
    assert decide(mdn) == (False, "bounce-or-report")


@pytest.mark.parametrize("sender", [
    "MAILER-DAEMON@mx.customer.example", "postmaster@customer.example",
    "no-reply@shop.example", "noreply@shop.example", "do-not-reply@shop.example",
    "donotreply@shop.example", "owner-list@customer.example", "list-request@customer.example",
    "bounces+123@mail.example", "noreply+abc@shop.example",
])
def test_system_senders(sender: str) -> None:
    assert is_system_sender(sender.lower())
    assert decide(mail(sender=sender)) == (False, "system-sender")


def test_people_are_not_system_senders() -> None:
    for addr in ("jane@x.example", "noreen@x.example", "replyguy@x.example", "owner@x.example"):
        assert not is_system_sender(addr)


def test_own_domain_and_own_message_ids() -> None:
    assert decide(mail(sender="agent@help.example")) == (False, "own-domain")
    assert decide(mail(sender="agent@eu.help.example")) == (False, "own-domain")
    assert decide(mail(sender="x@nothelp.example")) == (True, "ok")
    assert decide(mail(message_id="<abc@help.example>")) == (False, "own-message-id")


def test_no_sender_and_rate_limit() -> None:
    assert decide(mail(sender="not an address")) == (False, "no-sender")
    assert decide(mail(), recent=True) == (False, "rate-limited")


def test_bounce_correlation() -> None:
    raw = (b"From: MAILER-DAEMON@mx.customer.example\r\nTo: support@help.example\r\n"
           b"Subject: Delivery Status Notification (Failure)\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
           b"--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
           b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
           b"Final-Recipient: rfc822; jane@customer.example\r\nAction: delayed\r\n"
           b"Status: 4.4.7\r\nDiagnostic-Code: smtp; 451 try later\r\n\r\n"
           b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
           b"Message-ID: <out-9@help.example>\r\nSubject: Re: Question\r\n\r\n--B--\r\n")
    bounce = correlate_bounce(parse(raw))
    assert bounce is not None
    assert bounce.original_message_id == "<out-9@help.example>"
    assert (bounce.action, bounce.status, bounce.reason) == ("delayed", "4.4.7", "451 try later")
    assert not bounce.permanent  # a delay is not a failure
    assert correlate_bounce(parse(mail())) is None


# ---- two auto-responders answering each other ----------------------------------------

@dataclass
class Lookup:
    """The hub's stored conversations (conversation id → its contact and Message-IDs)."""

    owners: dict[int, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    def conversation(self, conversation_id: int) -> ConversationRef | None:
        owner = self.owners.get(conversation_id)
        return ConversationRef(conversation_id, frozenset({owner})) if owner else None

    def by_message_ids(self, message_ids: Sequence[str]) -> dict[str, ConversationRef]:
        return {m: ref for m in message_ids if m in self.ids
                and (ref := self.conversation(self.ids[m])) is not None}

    def by_subject(self, sender: Identity, subject: str) -> Sequence[ConversationRef]:
        return []


@dataclass
class Hub:
    """One omnihub's email decisions, pure: parse, thread, decide, build the ack.
    An ack is only for a new case, and at most one per sender per window."""

    address: str
    domain: str
    window: timedelta = timedelta(hours=1)
    last_ack: dict[str, datetime] = field(default_factory=dict)
    lookup: Lookup = field(default_factory=Lookup)
    sent: int = 0

    def receive(self, raw: bytes, now: datetime) -> bytes | None:
        parsed = parse(raw)
        env = envelope_from_email(parsed, "support", now)
        match = match_conversation(env.thread, env.sender, self.lookup, secret="k",
                                   subject_fallback=False)
        if match.conversation_id is not None:
            return None  # a reply in an existing case: never acknowledged
        case = len(self.lookup.owners) + 1
        self.lookup.owners[case] = identity_key(env.sender)
        self.lookup.ids[env.provider_id] = case
        sender = parsed.from_addr or ""
        recent = sender in self.last_ack and now - self.last_ack[sender] < self.window
        ok, _ = should_auto_acknowledge(parsed, our_domains=[self.domain],
                                        recent_ack_to_sender=recent)
        if not ok:
            return None
        self.last_ack[sender] = now
        self.sent += 1
        out = build_auto_ack(conversation_id=case, secret="k", domain=self.domain,
                             from_addr=self.address, to=(parsed.reply_to or (sender,))[0],
                             parent=Parent(parsed.message_id, parsed.references,
                                           parsed.in_reply_to, parsed.subject),
                             contact_name=parsed.from_name, case_ref=f"#{case}",
                             locale="en", now=now)
        self.lookup.ids[str(out.message["Message-ID"])] = case
        return out.message.as_bytes()


@dataclass
class NaiveResponder:
    """A badly behaved vacation program: answers everything and marks nothing. With
    ``threaded`` it answers the Reply-To with In-Reply-To set; without, it writes a fresh
    mail to the From address every time (the worst case)."""

    address: str
    threaded: bool = True
    sent: int = 0

    def receive(self, raw: bytes, now: datetime) -> bytes | None:
        parsed = parse(raw)
        self.sent += 1
        if self.threaded:
            to, extra = (parsed.reply_to or (parsed.from_addr or "",))[0], (
                f"In-Reply-To: {parsed.message_id}\r\n")
        else:
            to, extra = parsed.from_addr or "", ""
        return (f"From: Bob <{self.address}>\r\nTo: {to}\r\nSubject: Out of office "
                f"{self.sent}\r\nMessage-ID: <ooo-{self.sent}@other.example>\r\n{extra}\r\n"
                "I am away.\r\n").encode()


def run(a: Hub | NaiveResponder, b: Hub | NaiveResponder, first: bytes,
        step: timedelta = timedelta(seconds=30), limit: int = 200) -> int:
    """Deliver mail back and forth until nobody answers; returns the number delivered."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    agents, turn, raw, delivered = (a, b), 0, first, 0
    while raw is not None and delivered < limit:
        delivered += 1
        raw = agents[turn].receive(raw, now)
        turn, now = 1 - turn, now + step
    return delivered


FIRST = mail(sender="bob@other.example", message_id="<start@other.example>")


def test_two_hubs_acknowledge_once() -> None:
    one, two = Hub("support@help.example", "help.example"), Hub("bob@other.example", "other.example")
    assert run(one, two, FIRST) == 2  # one ack; the other hub sees Auto-Submitted and stops
    assert (one.sent, two.sent) == (1, 0)


@pytest.mark.parametrize("step", [timedelta(seconds=5), timedelta(hours=3)])
def test_naive_autoresponder_in_the_thread_stops(step: timedelta) -> None:
    hub, bob = Hub("support@help.example", "help.example"), NaiveResponder("bob@other.example")
    # Bob's mail → our ack → Bob's out-of-office (threaded: not a new case) → stop
    assert run(hub, bob, FIRST, step=step) == 3
    assert (hub.sent, bob.sent) == (1, 1)


def test_unthreaded_autoresponder_is_rate_limited() -> None:
    hub = Hub("support@help.example", "help.example")
    bob = NaiveResponder("bob@other.example", threaded=False)
    assert run(hub, bob, FIRST, step=timedelta(seconds=5)) == 3  # second ack rate-limited
    assert hub.sent == 1
    # one that only answers after the window gets one ack per window, no more
    hub = Hub("support@help.example", "help.example")
    bob = NaiveResponder("bob@other.example", threaded=False)
    delivered = run(hub, bob, FIRST, step=timedelta(minutes=40), limit=60)
    hours = delivered * 40 / 60
    assert hub.sent <= hours / hub.window.total_seconds() * 3600 + 1
