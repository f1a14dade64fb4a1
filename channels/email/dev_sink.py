"""The development mail sink: an SMTP server (aiosmtpd) on a loopback port that keeps
every message it is given in a Maildir instead of delivering it, so ``make dev`` can send
agent replies and acknowledgements for real and show them at ``/dev/mailbox``.

Never for production: it accepts any sender and recipient, and refuses to listen on
anything but a loopback address."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mailbox
import socket
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from channels.loopback import is_loopback

log = logging.getLogger("omnihub.devmail")

MAX_LISTED = 200
MAX_BODY_CHARS = 200_000


class MaildirHandler:
    """Stores each mail with the envelope on top (``X-Omnihub-Envelope-From`` /
    ``-To``, as an MDA adds ``Return-Path``/``Delivered-To``), then answers 250."""

    def __init__(self, path: Path) -> None:
        self.maildir = mailbox.Maildir(path, create=True)

    def _store(self, data: bytes, mail_from: str, rcpt_tos: list[str]) -> str:
        head = (f"X-Omnihub-Envelope-From: {mail_from}\r\n"
                f"X-Omnihub-Envelope-To: {', '.join(rcpt_tos)}\r\n").encode()
        return str(self.maildir.add(head + data))

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        key = await asyncio.to_thread(self._store, envelope.original_content or b"",
                                      envelope.mail_from or "<>", list(envelope.rcpt_tos))
        log.info("kept mail from %s to %s as %s", envelope.mail_from,
                 ", ".join(envelope.rcpt_tos), key)
        return f"250 2.0.0 Kept in the dev mailbox as {key}"


async def run_dev_sink(host: str, port: int, path: Path, stop: asyncio.Event, *,
                       sock: socket.socket | None = None) -> None:
    """Serve until ``stop`` is set; on ``sock`` (already bound to host:port) if given."""
    if not is_loopback(host):
        raise ValueError(f"the dev mail sink only listens on loopback, not {host!r}")
    handler = MaildirHandler(path)
    loop = asyncio.get_running_loop()
    sessions: list[SMTP] = []

    def protocol() -> SMTP:
        proto = SMTP(handler, decode_data=False, enable_SMTPUTF8=True, hostname="devmail",
                     ident="omnihub dev sink", loop=loop)
        sessions.append(proto)
        return proto

    if sock is not None:
        server = await loop.create_server(protocol, sock=sock)
    else:
        server = await loop.create_server(protocol, host, port)
    log.info("dev mail sink on %s:%d, keeping mail in %s", host, port, path)
    try:
        await stop.wait()
    finally:
        server.close()
        for proto in sessions:
            if proto.transport is not None:
                proto.transport.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 5)


# ---- reading it back (for /dev/mailbox) --------------------------------------------


@dataclass(frozen=True, slots=True)
class KeptMail:
    key: str
    received_at: float
    envelope_from: str
    envelope_to: str
    headers: list[tuple[str, str]]
    subject: str
    from_: str
    to: str
    date: str
    text: str
    html: str
    attachments: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "received_at": self.received_at,
                "envelope_from": self.envelope_from, "envelope_to": self.envelope_to,
                "headers": [list(h) for h in self.headers], "subject": self.subject,
                "from": self.from_, "to": self.to, "date": self.date, "text": self.text,
                "html": self.html, "attachments": self.attachments}


def _part_text(msg: EmailMessage, kind: str) -> str:
    try:
        part = msg.get_body((kind,))
        return str(part.get_content())[:MAX_BODY_CHARS] if part is not None else ""
    except (LookupError, ValueError, AttributeError):
        return ""


def _read_one(file: Path) -> KeptMail | None:
    key = file.name.split(":", 1)[0]
    try:
        data = file.read_bytes()
        mtime = file.stat().st_mtime
    except OSError:
        return None  # removed meanwhile
    msg = BytesParser(_class=EmailMessage, policy=policy.default).parsebytes(data)
    headers = [(k, str(v)) for k, v in msg.items()]
    env_from = str(msg.get("X-Omnihub-Envelope-From", ""))
    env_to = str(msg.get("X-Omnihub-Envelope-To", ""))
    attachments = [p.get_filename() or p.get_content_type() for p in msg.iter_attachments()]
    return KeptMail(key, mtime, env_from, env_to,
                    [(k, v) for k, v in headers if not k.startswith("X-Omnihub-Envelope-")],
                    str(msg.get("Subject", "")), str(msg.get("From", "")),
                    str(msg.get("To", "")), str(msg.get("Date", "")),
                    _part_text(msg, "plain"), _part_text(msg, "html"), attachments)


def read_mailbox(path: Path, limit: int = MAX_LISTED) -> list[KeptMail]:
    """Newest first. A missing Maildir is an empty list."""
    if not (path / "new").is_dir():
        return []
    files: list[tuple[float, str, Path]] = []
    for sub in ("new", "cur"):
        for f in (path / sub).iterdir():
            with contextlib.suppress(OSError):
                files.append((f.stat().st_mtime, f.name, f))
    files.sort(reverse=True)
    kept = []
    for _, _, f in files[:limit]:
        mail = _read_one(f)
        if mail is not None:
            kept.append(mail)
    return kept
