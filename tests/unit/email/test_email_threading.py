"""Reply tokens and the inbound matcher: token, then references (same contact only),
then the same-sender subject fallback; forged tokens and foreign references refused."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from channels.email import (
    match_conversation,
    parse_email,
    parse_reply_token,
    reply_address,
    verify_reply_token,
)
from channels.email.compose import Parent, build_reply
from channels.email.envelope import envelope_from_email
from channels.email.threading import ConversationRef, normalise_subject, reply_token
from hub.contacts.rules.identity import identity_key
from hub.schema import Identity, ThreadHints

SECRET = "s3cret-for-tests"
JANE = Identity(kind="email", value="jane@customer.example")
MALLORY = Identity(kind="email", value="mallory@evil.example")


def test_reply_address_round_trip() -> None:
    addr = reply_address(42, SECRET, "Help.Example")
    local, domain = addr.split("@")
    assert domain == "help.example" and local.startswith("reply+42.")
    assert len(local) <= 64 and local == local.lower()
    assert parse_reply_token(addr, SECRET) == 42
    assert parse_reply_token(f'"Support" <{addr.upper()}>', SECRET) == 42  # case-mangled
    assert parse_reply_token(addr, SECRET, domains=["help.example"]) == 42
    assert parse_reply_token(addr, SECRET, domains=["other.example"]) is None


@pytest.mark.parametrize("token", [
    "43." + reply_token(42, SECRET).split(".")[1],  # another conversation's mac
    reply_token(42, "other-secret"),  # signed with another key
    "42.aaaaaaaaaaaaaaaaaaaaaaaa",
    "42",
    "42." + reply_token(42, SECRET).split(".")[1][:-1],  # truncated
    "",
    "-1.abc",
    "42." + reply_token(42, SECRET).split(".")[1] + "x",
])
def test_forged_tokens_are_refused(token: str) -> None:
    assert verify_reply_token(token, SECRET) is None
    assert parse_reply_token(f"reply+{token}@help.example", SECRET) is None


def test_secret_rotation() -> None:
    old = reply_token(7, "old-secret")
    assert verify_reply_token(old, ["new-secret", "old-secret"]) == 7
    assert verify_reply_token(old, "new-secret") is None


def test_not_a_reply_address() -> None:
    assert parse_reply_token("support@help.example", SECRET) is None
    assert parse_reply_token("reply@help.example", SECRET) is None
    assert parse_reply_token("garbage", SECRET) is None


@pytest.mark.parametrize(("subject", "expected"), [
    ("Re: Order 42", "order 42"),
    ("RE: AW: WG: Fwd: Order 42", "order 42"),
    ("Re[2]: Order 42", "order 42"),
    ("SV: VS: Order   42", "order 42"),
    ("Antwort: [Ticket#1234] Order 42", "order 42"),
    ("回复\uff1a订单", "订单"),
    ("Order 42", "order 42"),
    ("Re:", ""),
    ("Reorder 42", "reorder 42"),
])
def test_normalise_subject(subject: str, expected: str) -> None:
    assert normalise_subject(subject) == expected


class FakeLookup:
    """In-memory stand-in for the database queries."""

    def __init__(self) -> None:
        self.conversations: dict[int, ConversationRef] = {}
        self.message_ids: dict[str, int] = {}
        self.subjects: dict[int, str] = {}

    def add(self, cid: int, owner: Identity, subject: str, *message_ids: str,
            last: datetime | None = None) -> None:
        self.conversations[cid] = ConversationRef(cid, frozenset({identity_key(owner)}), last)
        self.subjects[cid] = normalise_subject(subject)
        for mid in message_ids:
            self.message_ids[mid] = cid

    def conversation(self, conversation_id: int) -> ConversationRef | None:
        return self.conversations.get(conversation_id)

    def by_message_ids(self, message_ids: Sequence[str]) -> dict[str, ConversationRef]:
        return {m: self.conversations[self.message_ids[m]] for m in message_ids
                if m in self.message_ids}

    def by_subject(self, sender: Identity, subject: str) -> Sequence[ConversationRef]:
        return [c for cid, c in self.conversations.items()
                if self.subjects[cid] == subject and identity_key(sender) in c.contact_keys]


@pytest.fixture
def lookup() -> FakeLookup:
    fake = FakeLookup()
    fake.add(1, JANE, "Order 42 is late", "<jane-1@customer.example>", "<out-1@help.example>",
             last=datetime(2026, 1, 1, tzinfo=UTC))
    fake.add(2, MALLORY, "Refund", "<mallory-1@evil.example>", "<out-2@help.example>")
    fake.add(3, JANE, "Order 42 is late", "<jane-3@customer.example>",
             last=datetime(2026, 2, 1, tzinfo=UTC))
    return fake


def match(hints: ThreadHints, sender: Identity, lookup: FakeLookup, subject: str = "",
          **kw: object):  # type: ignore[no-untyped-def]
    return match_conversation(hints, sender, lookup, secret=SECRET, subject=subject, **kw)  # type: ignore[arg-type]


def test_valid_token_wins_even_from_another_sender(lookup: FakeLookup) -> None:
    # a colleague of the customer answers from another address: the token carries it
    m = match(ThreadHints(reply_token=reply_token(2, SECRET)), JANE, lookup)
    assert (m.conversation_id, m.via, m.forged_token) == (2, "token", False)


def test_token_for_a_missing_conversation_falls_through(lookup: FakeLookup) -> None:
    m = match(ThreadHints(reply_token=reply_token(99, SECRET),
                          in_reply_to="<out-1@help.example>"), JANE, lookup)
    assert (m.conversation_id, m.via) == (1, "reference")


def test_references_of_the_same_contact(lookup: FakeLookup) -> None:
    m = match(ThreadHints(in_reply_to="<out-1@help.example>"), JANE, lookup)
    assert (m.conversation_id, m.via) == (1, "reference")
    m = match(ThreadHints(references=("<jane-1@customer.example>", "<unknown@x>")), JANE, lookup)
    assert (m.conversation_id, m.via) == (1, "reference")
    # the newest reference decides when they point at different conversations
    m = match(ThreadHints(references=("<jane-1@customer.example>", "<jane-3@customer.example>")),
              JANE, lookup)
    assert m.conversation_id == 3


def test_forged_reference_to_someone_elses_conversation(lookup: FakeLookup) -> None:
    # Mallory copies Jane's Message-IDs into her headers: never trusted
    m = match(ThreadHints(in_reply_to="<out-1@help.example>",
                          references=("<jane-1@customer.example>",)), MALLORY, lookup,
              subject="Re: Order 42 is late")
    assert (m.conversation_id, m.via) == (None, "new")
    assert m.untrusted == (1,)


def test_forged_token_plus_foreign_reference(lookup: FakeLookup) -> None:
    forged = "1." + reply_token(2, SECRET).split(".")[1]  # Mallory's mac on Jane's id
    m = match(ThreadHints(reply_token=forged, in_reply_to="<out-1@help.example>"), MALLORY,
              lookup)
    assert (m.conversation_id, m.via, m.forged_token, m.untrusted) == (None, "new", True, (1,))


def test_forged_token_but_own_reference(lookup: FakeLookup) -> None:
    m = match(ThreadHints(reply_token="2.aaaaaaaaaaaaaaaaaaaaaaaa",
                          in_reply_to="<mallory-1@evil.example>"), MALLORY, lookup)
    assert (m.conversation_id, m.via, m.forged_token) == (2, "reference", True)


def test_valid_token_vouches_for_its_own_conversation_only(lookup: FakeLookup) -> None:
    lookup.conversations.pop(2)
    lookup.add(2, MALLORY, "Refund", "<out-2@help.example>")
    m = match(ThreadHints(reply_token=reply_token(2, SECRET),
                          references=("<out-1@help.example>",)), JANE, lookup)
    assert m.conversation_id == 2


def test_subject_fallback_same_sender_only(lookup: FakeLookup) -> None:
    m = match(ThreadHints(), JANE, lookup, subject="AW: Re: order 42 IS LATE")
    assert (m.conversation_id, m.via) == (3, "subject")  # the most recent one
    assert match(ThreadHints(), MALLORY, lookup, subject="Re: Order 42 is late").via == "new"
    assert match(ThreadHints(), JANE, lookup, subject="Re: Order 42 is late",
                 subject_fallback=False).via == "new"
    assert match(ThreadHints(), JANE, lookup, subject="Re:").via == "new"


def test_lookup_that_ignores_the_sender_is_still_safe(lookup: FakeLookup) -> None:
    lookup.by_subject = lambda sender, subject: list(lookup.conversations.values())  # type: ignore[method-assign]
    assert match(ThreadHints(), MALLORY, lookup, subject="Order 42 is late").conversation_id != 1


def test_threading_both_ways_through_real_headers(lookup: FakeLookup) -> None:
    """Our reply → the customer's client answers it → the answer matches conversation 1."""
    out = build_reply(conversation_id=1, secret=SECRET, domain="help.example",
                      from_addr="support@help.example", to=["jane@customer.example"],
                      text="It ships today.", subject="Order 42 is late",
                      parent=Parent(message_id="<jane-1@customer.example>",
                                    subject="Order 42 is late"))
    sent = out.message
    lookup.message_ids[str(sent["Message-ID"])] = 1
    answer = (
        f"From: Jane <jane@customer.example>\r\nTo: {sent['Reply-To']}\r\n"
        f"Subject: Re: {sent['Subject']}\r\nMessage-ID: <jane-2@customer.example>\r\n"
        f"In-Reply-To: {sent['Message-ID']}\r\nReferences: {sent['References']} "
        f"{sent['Message-ID']}\r\n\r\nGreat, thanks!\r\n"
    ).encode()
    parsed = parse_email(answer, inbox="support", max_attachment_bytes=1000,
                         store_attachment=lambda d, n, c: "x")
    env = envelope_from_email(parsed, "support", datetime(2026, 1, 3, tzinfo=UTC))
    m = match(env.thread, env.sender, lookup, subject=env.subject)
    assert (m.conversation_id, m.via) == (1, "token")
    # without the token (a client that dropped Reply-To) the reference still matches
    no_token = ThreadHints(in_reply_to=env.thread.in_reply_to, references=env.thread.references)
    assert match(no_token, env.sender, lookup).conversation_id == 1
