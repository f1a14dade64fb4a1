"""Outgoing mail as ``email.message.EmailMessage``: agent replies that thread in the
customer's client, and loop-safe automatic acknowledgements (RFC 3834)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from channels.email.templates import ACK_TEMPLATES, AckTemplate, choose_template, fill
from channels.email.threading import reply_address

MAX_REFERENCES = 20
_REPLY_PREFIX = re.compile(r"^\s*(?:re|aw|sv|vs|antw|rif|odp|r)\s*(?:\[\d{1,4}\]|\(\d{1,4}\))?"
                           r"\s*:\s*", re.I)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True, slots=True)
class Parent:
    """Threading headers of the message we answer (as stored when it arrived)."""

    message_id: str | None
    references: tuple[str, ...] = ()
    in_reply_to: tuple[str, ...] = ()
    subject: str = ""


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    message: EmailMessage
    envelope_from: str  # SMTP MAIL FROM address; "" is the null sender
    recipients: tuple[str, ...]

    @property
    def mail_from(self) -> str:
        """As on the SMTP command line: ``<>`` for the null sender. (With aiosmtplib
        pass ``sender=envelope_from``; it sends ``MAIL FROM:<>`` for "".)"""
        return f"<{self.envelope_from}>"


def new_message_id(domain: str) -> str:
    """``<random@our-domain>``: our own domain, nothing guessable in it."""
    return f"<{uuid.uuid4().hex}@{domain.lower()}>"


def one_line(value: str, limit: int = 900) -> str:
    """Header-safe: no CR/LF or control characters (no header injection)."""
    return " ".join(_CONTROL.sub(" ", value).split())[:limit]


def reply_subject(subject: str) -> str:
    """``Re: `` exactly once, whatever reply prefixes (Re:, AW:, SV:, RE[2]:) were there."""
    s = one_line(subject)
    for _ in range(20):
        stripped = _REPLY_PREFIX.sub("", s, count=1)
        if stripped == s:
            break
        s = stripped
    return f"Re: {s}" if s else "Re:"


def thread_headers(parent: Parent | None) -> tuple[str | None, tuple[str, ...]]:
    """(In-Reply-To, References) per RFC 5322 §3.6.4; References keeps the root and the
    newest ids when long."""
    if parent is None:
        return None, ()
    refs = list(parent.references)
    if not refs and len(parent.in_reply_to) == 1:
        refs = list(parent.in_reply_to)
    if parent.message_id:
        refs.append(parent.message_id)
    refs = list(dict.fromkeys(refs))
    if len(refs) > MAX_REFERENCES:
        refs = [refs[0], *refs[-(MAX_REFERENCES - 1):]]
    return parent.message_id, tuple(refs)


def _address(addr: str, name: str = "") -> Address:
    local, _, domain = addr.rpartition("@")
    return Address(display_name=one_line(name, 200), username=local, domain=domain)


def _base_message(*, from_addr: str, from_name: str, to: Sequence[str], cc: Sequence[str],
                  subject: str, conversation_id: int, secret: str, domain: str,
                  parent: Parent | None, message_id: str | None, now: datetime | None,
                  ) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = _address(from_addr, from_name)
    msg["To"] = [_address(a) for a in to]
    if cc:
        msg["Cc"] = [_address(a) for a in cc]
    msg["Reply-To"] = _address(reply_address(conversation_id, secret, domain), from_name)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    msg["Message-ID"] = message_id or new_message_id(domain)
    in_reply_to, references = thread_headers(parent)
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    return msg


def build_reply(
    *,
    conversation_id: int,
    secret: str,
    domain: str,
    from_addr: str,
    to: Sequence[str],
    text: str,
    subject: str,
    from_name: str = "",
    cc: Sequence[str] = (),
    html: str | None = None,
    parent: Parent | None = None,
    message_id: str | None = None,
    bounce_address: str | None = None,
    now: datetime | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> OutgoingMail:
    """An agent's reply, with ``attachments`` as (filename, content type, bytes). ``subject`` is the conversation subject ("Re: " is added once);
    ``domain`` is ours (Message-ID and reply address); ``html`` must already be safe."""
    msg = _base_message(from_addr=from_addr, from_name=from_name, to=to, cc=cc,
                        subject=reply_subject(subject), conversation_id=conversation_id,
                        secret=secret, domain=domain, parent=parent, message_id=message_id,
                        now=now)
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        if not maintype or not subtype or maintype == "multipart":
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(data, maintype=maintype, subtype=subtype,
                           filename=one_line(filename, 200))
    return OutgoingMail(msg, bounce_address if bounce_address is not None else from_addr,
                        tuple(dict.fromkeys([*to, *cc])))


def build_auto_ack(
    *,
    conversation_id: int,
    secret: str,
    domain: str,
    from_addr: str,
    to: str,
    parent: Parent,
    contact_name: str,
    case_ref: str,
    locale: str | None,
    from_name: str = "",
    templates: dict[str, AckTemplate] | None = None,
    message_id: str | None = None,
    now: datetime | None = None,
) -> OutgoingMail:
    """The acknowledgement of a new case: in the contact's language, threaded on their
    mail, marked ``Auto-Submitted: auto-replied`` (RFC 3834 §5), asking Exchange not to
    answer it, and sent with the null envelope sender so nothing bounces back to us."""
    template = choose_template(locale, templates or ACK_TEMPLATES)
    values = {"name": contact_name, "case": case_ref}
    msg = _base_message(from_addr=from_addr, from_name=from_name, to=[to], cc=(),
                        subject=reply_subject(parent.subject), conversation_id=conversation_id,
                        secret=secret, domain=domain, parent=parent, message_id=message_id,
                        now=now)
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["Precedence"] = "auto_reply"
    msg.set_content(fill(template.body, values))
    msg["Content-Language"] = template.language  # after set_content, which drops Content-*
    return OutgoingMail(msg, "", (to,))
