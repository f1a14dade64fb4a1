"""Runs one websocket: a reader task for client frames, one writer task that sends the
resume gap then live frames from the bounded queue, and an overflow watch that closes
the socket with 1013. Whichever ends first ends the session.

The overflow is noticed when a frame is offered to the full queue, never by the writer
(which may be stuck sending to a peer that stopped reading). Every server-side close
goes through ``close_within``: a peer that does not take the close frame within 2 s has
its connection reset, so a stuck client holds no task, buffer or TCP connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.websockets import WebSocket, WebSocketDisconnect

from hub.errors import BadInput, HubError
from hub.streamids import StreamId, parse_stream_id
from web.realtime.fanout import Fanout, Subscriber, event_frame, route_of
from web.realtime.transport import CLOSE_GRACE_S, close_within, release_by

log = logging.getLogger("omnihub.ws")

_encoder = msgspec.json.Encoder()

FrameHandler = Callable[[bytes], Awaitable[dict[str, Any] | None]]


class SocketSession:
    def __init__(self, ws: WebSocket, fanout: Fanout, sub: Subscriber) -> None:
        self.ws = ws
        self.fanout = fanout
        self.sub = sub
        self._overflow = asyncio.Event()
        sub.on_overflow = self._overflow.set
        # Set by close_with(): the hub ends the session (e.g. a bot disabled or its token
        # revoked) with this close code and reason.
        self._closing = asyncio.Event()
        self._close_reason: tuple[int, str] = (1000, "")

    def send_control(self, frame: dict[str, Any]) -> None:
        """Queue a non-event frame (ack, error, pong) behind the events already queued."""
        self.sub.offer((None, _encoder.encode(frame).decode(), None))

    def close_with(self, code: int, reason: str) -> None:
        """End the session from the hub side; run() closes the socket with ``code``."""
        if not self._closing.is_set():
            self._close_reason = (code, reason[:120])
            self._closing.set()

    async def _writer(self, after: StreamId, prelude: list[str]) -> None:
        ws = self.ws
        for text in prelude:
            await ws.send_text(text)
        last = after
        async for sid_raw, fields in self.fanout.backlog(after):
            inbox, conv, widget_route = route_of(fields)
            if (widget_route.startswith("b:") and self.sub.is_widget
                    and widget_route[2:] == self.sub.bind_key):
                self.fanout.bind_widget(self.sub, conv)
            if self.sub.wants(inbox, conv, widget_route):
                await ws.send_text(event_frame(sid_raw, fields[b"e"]))
            last = parse_stream_id(sid_raw)
        queue = self.sub.queue
        while True:
            sid, text, routed = await queue.get()
            if sid is not None:
                if sid <= last:
                    continue  # already sent from the backlog
                last = sid
            if self.sub.still_wants(routed):
                await ws.send_text(text)

    async def _reader(self, handle: FrameHandler) -> int:
        ws = self.ws
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return int(message.get("code") or 1000)
            data = message.get("text")
            if data is None:
                return 1003  # binary frames are not part of the protocol
            try:
                reply = await handle(data.encode())
            except HubError as exc:
                reply = {"type": "error", "code": exc.code, "reason": exc.reason}
            except Exception:
                log.exception("frame handler failed")
                reply = {"type": "error", "code": "internal", "reason": "internal error"}
            if reply is not None:
                self.send_control(reply)

    async def run(self, *, after: StreamId, prelude: list[str], handle: FrameHandler) -> None:
        """Serve the socket; the subscriber must already be registered with the fanout."""
        writer = asyncio.create_task(self._writer(after, prelude))
        reader = asyncio.create_task(self._reader(handle))
        overflow = asyncio.create_task(self._overflow.wait())
        closing = asyncio.create_task(self._closing.wait())
        close_code: int | None = None
        try:
            done, _ = await asyncio.wait({writer, reader, overflow, closing},
                                         return_when=asyncio.FIRST_COMPLETED)
            if self._closing.is_set():
                close_code = self._close_reason[0]
            elif overflow in done:
                close_code = 1013
                log.info("socket fell behind (queue full); closing with 1013")
            elif reader in done and not reader.cancelled() and reader.exception() is None:
                code = reader.result()
                close_code = 1003 if code == 1003 else None
            elif writer in done and writer.exception() is not None:
                exc = writer.exception()
                if not isinstance(exc, WebSocketDisconnect | OSError | RuntimeError):
                    log.error("socket writer failed: %r", exc)
                    close_code = 1011
        finally:
            self.fanout.remove(self.sub)
            for task in (writer, reader, overflow, closing):
                task.cancel()
            for task in (writer, reader, overflow, closing):
                with contextlib.suppress(BaseException):
                    await task
        if close_code is not None:
            self.fanout.closes[close_code] += 1
            reason = {1013: "too slow: resume with last_id", 1003: "text frames only",
                      1011: "internal error"}.get(close_code, self._close_reason[1])
            with contextlib.suppress(Exception):
                if await close_within(self.ws, close_code, reason):
                    self.fanout.resets += 1
        elif await release_by(self.ws, time.monotonic() + CLOSE_GRACE_S):
            self.fanout.resets += 1


def parse_last_id(raw: str | None) -> StreamId | None:
    if not raw:
        return None
    try:
        return parse_stream_id(raw)
    except BadInput:
        raise BadInput("last_id: not a stream id", code="bad_last_id") from None
