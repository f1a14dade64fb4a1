"""Outgoing mail: RFC 5322 threading headers, our Message-ID domain, the signed Reply-To,
"Re: " once, header-injection safety, and RFC 3834 acknowledgements per language."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy

import pytest

from channels.email import build_auto_ack, build_reply, parse_reply_token
from channels.email.compose import MAX_REFERENCES, Parent, reply_subject, thread_headers
from channels.email.templates import ACK_TEMPLATES, AckTemplate, choose_template, fill

SECRET = "s3cret-for-tests"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def reply(**kw: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = dict(conversation_id=42, secret=SECRET, domain="help.example",
                                   from_addr="support@help.example", from_name="ACME Support",
                                   to=["jane@customer.example"], text="It ships today.",
                                   subject="Order 42 is late", now=NOW)
    args.update(kw)
    return build_reply(**args)  # type: ignore[arg-type]


def reparse(msg: email.message.EmailMessage) -> email.message.EmailMessage:
    parsed = email.message_from_bytes(msg.as_bytes(policy=policy.SMTP), policy=policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def test_reply_headers() -> None:
    parent = Parent(message_id="<m2@customer.example>",
                    references=("<m0@customer.example>", "<out-1@help.example>"),
                    subject="Re: Order 42 is late")
    out = reply(parent=parent)
    msg = reparse(out.message)
    assert msg["Message-ID"].endswith("@help.example>") and msg["Message-ID"].startswith("<")
    assert msg["In-Reply-To"] == "<m2@customer.example>"
    assert msg["References"].split() == ["<m0@customer.example>", "<out-1@help.example>",
                                         "<m2@customer.example>"]
    assert msg["Subject"] == "Re: Order 42 is late"
    assert parse_reply_token(str(msg["Reply-To"]), SECRET) == 42
    assert msg["Reply-To"].addresses[0].display_name == "ACME Support"
    assert msg["From"].addresses[0].addr_spec == "support@help.example"
    assert msg["Date"].datetime == NOW
    assert "Auto-Submitted" not in msg
    assert msg.get_content().strip() == "It ships today."
    assert out.envelope_from == "support@help.example"
    assert out.recipients == ("jane@customer.example",)


def test_message_ids_are_unique() -> None:
    assert reply().message["Message-ID"] != reply().message["Message-ID"]
    assert reply(message_id="<fixed@help.example>").message["Message-ID"] == "<fixed@help.example>"


def test_references_rfc5322_rules() -> None:
    assert thread_headers(None) == (None, ())
    # no References but a single In-Reply-To: that, then the parent's id
    p = Parent(message_id="<b@x>", in_reply_to=("<a@x>",))
    assert thread_headers(p) == ("<b@x>", ("<a@x>", "<b@x>"))
    # several In-Reply-To ids and no References: only the parent
    p = Parent(message_id="<b@x>", in_reply_to=("<a@x>", "<z@x>"))
    assert thread_headers(p) == ("<b@x>", ("<b@x>",))
    # a parent without Message-ID: no In-Reply-To, References kept
    p = Parent(message_id=None, references=("<a@x>",))
    assert thread_headers(p) == (None, ("<a@x>",))
    assert thread_headers(Parent(message_id=None)) == (None, ())


def test_long_references_keep_root_and_newest() -> None:
    refs = tuple(f"<r{i}@x>" for i in range(60))
    _, out = thread_headers(Parent(message_id="<p@x>", references=refs))
    assert len(out) == MAX_REFERENCES
    assert out[0] == "<r0@x>" and out[-1] == "<p@x>" and out[-2] == "<r59@x>"


@pytest.mark.parametrize(("subject", "expected"), [
    ("Order 42", "Re: Order 42"),
    ("Re: Order 42", "Re: Order 42"),
    ("RE: re: Order 42", "Re: Order 42"),
    ("AW: Order 42", "Re: Order 42"),
    ("Re[3]: Order 42", "Re: Order 42"),
    ("Fwd: Order 42", "Re: Fwd: Order 42"),
    ("Reorder", "Re: Reorder"),
    ("", "Re:"),
    ("Evil\r\nBcc: victim@x", "Re: Evil Bcc: victim@x"),
])
def test_reply_subject(subject: str, expected: str) -> None:
    assert reply_subject(subject) == expected


def test_header_injection_is_impossible() -> None:
    out = reply(subject="Hi\r\nBcc: victim@evil.example", from_name="Eve\r\nX-Evil: 1")
    raw = out.message.as_bytes(policy=policy.SMTP)
    assert b"\r\nBcc:" not in raw and b"\r\nX-Evil:" not in raw


def test_html_alternative() -> None:
    msg = reparse(reply(html="<p>It ships <b>today</b>.</p>").message)
    assert msg.get_content_type() == "multipart/alternative"
    assert msg.get_body(("html",)).get_content().strip() == "<p>It ships <b>today</b>.</p>"
    assert msg.get_body(("plain",)).get_content().strip() == "It ships today."


def ack(locale: str | None = "en", name: str = "Jane", **kw: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = dict(
        conversation_id=42, secret=SECRET, domain="help.example",
        from_addr="support@help.example", to="jane@customer.example",
        parent=Parent(message_id="<m1@customer.example>", subject="Order 42 is late"),
        contact_name=name, case_ref="#1042", locale=locale, now=NOW)
    args.update(kw)
    return build_auto_ack(**args)  # type: ignore[arg-type]


def test_auto_ack_is_rfc3834_compliant() -> None:
    out = ack()
    msg = reparse(out.message)
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Precedence"] == "auto_reply"
    assert out.envelope_from == "" and out.mail_from == "<>"
    assert out.recipients == ("jane@customer.example",)
    assert msg["In-Reply-To"] == "<m1@customer.example>"
    assert msg["References"] == "<m1@customer.example>"
    assert msg["Subject"] == "Re: Order 42 is late"
    assert parse_reply_token(str(msg["Reply-To"]), SECRET) == 42
    body = msg.get_content()
    assert body.startswith("Hello Jane,") and "#1042" in body


@pytest.mark.parametrize(("locale", "language", "greeting"), [
    ("de", "de", "Hallo Jane,"), ("de-AT", "de", "Hallo Jane,"), ("fr_CA", "fr", "Bonjour Jane,"),
    ("es", "es", "Hola Jane:"), ("pl-PL", "pl", "Dzień dobry Jane,"), ("pt-BR", "en", "Hello Jane,"),
    (None, "en", "Hello Jane,"), ("", "en", "Hello Jane,"),
])
def test_ack_language_by_locale(locale: str | None, language: str, greeting: str) -> None:
    msg = reparse(ack(locale).message)
    assert msg["Content-Language"] == language
    assert msg.get_content().startswith(greeting)


def test_placeholders_are_substituted_safely() -> None:
    assert fill("Hi {name}, case {case}. {other} {name.__class__} {{name}}",
                {"name": "{case}", "case": "#1"}) == "Hi {case}, case #1. {other} {name.__class__} {{case}}"
    assert fill("Hello {name},", {"name": ""}) == "Hello,"
    assert fill("Hi {name}", {"name": "Eve\r\nBcc: x\x00" + "y" * 500}).count("\n") == 0
    assert len(fill("{name}", {"name": "y" * 500})) == 200
    body = reparse(ack(name="").message).get_content()
    assert body.startswith("Hello,")


def test_custom_templates_and_fallback() -> None:
    custom = {"nl": AckTemplate("nl", "Hoi {name}, zaak {case}.")}
    assert choose_template("nl-BE", custom).language == "nl"
    assert choose_template("de", custom).language == "nl"  # nothing better: the first one
    assert choose_template("xx", ACK_TEMPLATES).language == "en"
    assert reparse(ack("nl", templates=custom).message).get_content().strip() == "Hoi Jane, zaak #1042."
