"""Closing a socket whose peer stopped reading, without waiting on it.

An ASGI ``websocket.close`` waits until the transport is writable, and a peer that never
reads keeps it unwritable forever; even once the close frame is queued, the kernel and
the server hold megabytes of unsent frames in front of it. ASGI has no "abort", so
``TransportCapture`` (outermost middleware) keeps the server's transport in the scope:
uvicorn hands every connection's ``send`` as a bound method of the protocol that owns the
transport. ``close_within`` sends the close, gives the peer ``grace_s`` to take it, then
resets the connection (SO_LINGER 0 + abort) so neither the process nor the kernel keeps
the unsent bytes. Under a server without a reachable transport the abort is skipped and
the server's own timeouts apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

log = logging.getLogger("omnihub.ws")

SCOPE_KEY = "omnihub.transport"
CLOSE_GRACE_S = 2.0
_POLL_S = 0.05


class TransportCapture:
    """Pure ASGI middleware: remember each websocket's transport in its scope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            if isinstance(transport, asyncio.WriteTransport):
                scope[SCOPE_KEY] = transport
        await self.app(scope, receive, send)


def _transport(ws: WebSocket) -> asyncio.WriteTransport | None:
    transport: Any = ws.scope.get(SCOPE_KEY)
    return transport if isinstance(transport, asyncio.WriteTransport) else None


def _drained(transport: asyncio.WriteTransport) -> bool:
    """Closed, or closing with nothing left to send (the close handshake is done)."""
    return transport.is_closing() and transport.get_write_buffer_size() == 0


def reset_connection(transport: asyncio.WriteTransport) -> None:
    """Drop the connection now, unsent bytes included: RST instead of a FIN that would
    wait behind data the peer never reads."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def close_within(ws: WebSocket, code: int, reason: str,
                       grace_s: float = CLOSE_GRACE_S) -> bool:
    """Close ``ws`` with ``code``; if the peer has not taken the close within ``grace_s``
    reset the connection. Returns True when the connection had to be reset."""
    deadline = time.monotonic() + grace_s
    closing = asyncio.create_task(ws.close(code, reason))
    try:
        await asyncio.wait({closing}, timeout=grace_s)
        return await release_by(ws, deadline)
    finally:
        if not closing.done():
            # After a reset the server fails the pending send promptly; without one, stop it.
            await asyncio.wait({closing}, timeout=_POLL_S * 4)
            closing.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await closing


async def release_by(ws: WebSocket, deadline: float) -> bool:
    """Wait until the connection is closed with nothing left to send; reset it if that
    has not happened by ``deadline`` (monotonic). Also for sessions that ended without a
    close of ours: uvicorn's keepalive failure (1011) closes the transport but would
    flush forever behind data the peer never reads. Returns True on a reset."""
    transport = _transport(ws)
    while transport is not None and not _drained(transport):
        if time.monotonic() >= deadline:
            log.info("socket transport not released in time; resetting the connection")
            reset_connection(transport)
            return True
        await asyncio.sleep(_POLL_S)
    return False
