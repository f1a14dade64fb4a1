"""A real SMTP server (aiosmtpd) on 127.0.0.1 for the sending tests: it records every
mail it accepts, can be told to answer DATA or RCPT with given replies first (451 a few
times, then 250; or 550), and can stall before its final answer (a worker killed
mid-send)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.data)  # type: ignore[return-value]


@dataclass
class SinkHandler:
    received: list[Received] = field(default_factory=list)
    # Every DATA seen, accepted or not, by Message-ID (retries must reuse it).
    attempts: list[str] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)  # answered first, in order
    rcpt_replies: list[str] = field(default_factory=list)
    stall: asyncio.Event | None = None  # when set: hold the final answer until it is set
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        msg = BytesParser(policy=policy.default).parsebytes(data, headersonly=True)
        self.attempts.append(str(msg.get("Message-ID", "")))
        if self.data_replies:
            return self.data_replies.pop(0)
        self.received.append(Received(envelope.mail_from or "", list(envelope.rcpt_tos), data))
        self.arrived.set()
        if self.stall is not None:
            await self.stall.wait()
        return "250 2.0.0 OK queued as test"


class SmtpPeer:
    def __init__(self, handler: SinkHandler | None = None, **smtp_kw: Any) -> None:
        self.handler = handler or SinkHandler()
        self.smtp_kw = smtp_kw
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._sessions: list[SMTP] = []

    def _protocol(self) -> SMTP:
        proto = SMTP(self.handler, decode_data=False, enable_SMTPUTF8=True,
                     hostname="sink.test", loop=asyncio.get_running_loop(), **self.smtp_kw)
        self._sessions.append(proto)
        return proto

    async def start(self) -> SmtpPeer:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        if self.handler.stall is not None:
            self.handler.stall.set()
        if self._server is not None:
            self._server.close()
            for proto in self._sessions:
                if proto.transport is not None:
                    proto.transport.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None
