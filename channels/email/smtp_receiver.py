"""SMTP/LMTP receiver (aiosmtpd) for forwarding setups and ``make dev``.

Invariant: ``250`` is answered only after the message is durably on the ingest stream
(``MailSink.deliver`` returned). Anything failing on our side answers ``451`` so the
sender keeps the message and retries; a retry of an accepted message is deduplicated by
the pipeline on ``(channel, inbox, provider_id)``. Unknown recipients get ``550``,
oversized data ``552`` (aiosmtpd's ``data_size_limit``, also advertised as ``SIZE``).
The receiver never touches Postgres.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from channels.email.ingest_sink import MailSink

log = logging.getLogger("omnihub.email.smtp")

DEFAULT_MAX_MESSAGE_BYTES = 30 * 1024 * 1024
MAX_RECIPIENTS = 100
# RFC 5321 says 1000; real senders exceed it, and refusing their mail helps nobody.
LINE_LENGTH_LIMIT = 100_000


class RecipientMap:
    """Recipient address → inbox slug. Keys are full addresses (``support@example.com``)
    or a catch-all domain (``@example.com``). ``local+detail@domain`` falls back to
    ``local@domain``, so ``reply+<token>@domain`` reaches the inbox of ``reply@domain``."""

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self._map = {k.strip().lower(): v for k, v in mapping.items()}
        # The email inboxes' own addresses, as the hub publishes them (replaced whole on
        # every refresh); the configured mapping above wins over them.
        self._published: dict[str, str] = {}

    def replace_published(self, mapping: Mapping[str, str]) -> None:
        self._published = {k.strip().lower(): v for k, v in mapping.items() if "@" in k}

    def inbox_for(self, address: str) -> str | None:
        addr = address.strip().strip("<>").lower()
        local, at, domain = addr.rpartition("@")
        if not at or not local or not domain:
            return None
        base = local.split("+", 1)[0]
        for table in (self._map, self._published):
            for key in (addr, f"{base}@{domain}", f"@{domain}"):
                if key in table:
                    return table[key]
        return None

    @classmethod
    def parse(cls, spec: str) -> RecipientMap:
        """``"support@example.com=support-mail,@example.org=sales-mail"``."""
        pairs = (item.split("=", 1) for item in spec.split(",") if item.strip())
        mapping = {}
        for pair in pairs:
            if len(pair) != 2 or not pair[0].strip() or not pair[1].strip():
                raise ValueError(f"bad recipient mapping {'='.join(pair)!r} (want address=inbox)")
            mapping[pair[0].strip()] = pair[1].strip()
        return cls(mapping)


class IngestHandler:
    """aiosmtpd handler: RCPT checks the mapping, DATA delivers to the sink."""

    def __init__(self, sink: MailSink, recipients: RecipientMap, *, lmtp: bool = False,
                 deliver_timeout_s: float = 60.0) -> None:
        self.sink = sink
        self.recipients = recipients
        self.lmtp = lmtp
        self.deliver_timeout_s = deliver_timeout_s

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if self.recipients.inbox_for(address) is None:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        rcpts = list(envelope.rcpt_tos)
        inboxes = [i for i in dict.fromkeys(self.recipients.inbox_for(r) for r in rcpts) if i]
        try:
            async with asyncio.timeout(self.deliver_timeout_s):
                ids = await self.sink.deliver(raw, inboxes, envelope_from=envelope.mail_from,
                                              envelope_to=rcpts)
        except Exception as exc:
            log.warning("mail from %r to %s not accepted (will be retried by the sender): %r",
                        envelope.mail_from, rcpts, exc)
            return self._reply("451 4.3.0 Temporary failure, please try again later", rcpts)
        log.info("mail from %r accepted for %s as %s", envelope.mail_from, inboxes, ids)
        return self._reply(f"250 2.0.0 OK queued as {ids[0] if ids else '-'}", rcpts)

    def _reply(self, line: str, rcpts: Sequence[str]) -> str:
        # LMTP answers DATA once per accepted recipient (RFC 2033 §4.2); all or nothing here.
        return "\r\n".join([line] * len(rcpts)) if self.lmtp and rcpts else line


class _Smtp(SMTP):
    """aiosmtpd's SMTP with a larger line limit, tracked while connected."""

    line_length_limit = LINE_LENGTH_LIMIT

    def __init__(self, handler: IngestHandler, *, sessions: set[SMTP], **kw: Any) -> None:
        super().__init__(handler, **kw)
        self._tracked = sessions
        sessions.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        self._tracked.discard(self)
        super().connection_lost(error)


class _Lmtp(_Smtp, LMTP):
    pass


class SmtpReceiver:
    """Serves the handler on ``host:port`` inside the running event loop (what aiosmtpd's
    ``Controller`` does in a thread of its own). ``port=0`` picks a free port."""

    def __init__(self, handler: IngestHandler, host: str = "127.0.0.1", port: int = 0, *,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 hostname: str | None = None, timeout_s: float = 300.0) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.max_message_bytes = max_message_bytes
        self.hostname = hostname
        self.timeout_s = timeout_s
        self._server: asyncio.base_events.Server | None = None
        self._sessions: set[SMTP] = set()

    def _protocol(self) -> SMTP:
        cls = _Lmtp if self.handler.lmtp else _Smtp
        return cls(self.handler, sessions=self._sessions, data_size_limit=self.max_message_bytes,
                   enable_SMTPUTF8=True, decode_data=False, hostname=self.hostname,
                   ident="omnihub", timeout=self.timeout_s, loop=asyncio.get_running_loop())

    async def start(self) -> int:
        """Listen; returns the bound port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self.host, self.port)
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])
        log.info("%s receiver on %s:%d", "LMTP" if self.handler.lmtp else "SMTP",
                 self.host, self.port)
        return self.port

    async def stop(self) -> None:
        """Stop listening and drop open sessions (an unanswered DATA is retried by the
        sender; if it was already appended, the pipeline deduplicates it)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for proto in list(self._sessions):
            if proto.transport is not None:
                proto.transport.close()
        self._sessions.clear()
        await asyncio.sleep(0)

    async def __aenter__(self) -> SmtpReceiver:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()
