"""Pure ASGI middleware: a request whose path or query string holds text Postgres cannot
store (NUL, an unpaired surrogate) is refused before any handler sees it: 400 with a JSON
reason naming the parameter, or, for a websocket handshake, a 1008 close. Every handler
may therefore pass path and query values to the database as they are."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from hub.errors import BadInput
from hub.untrusted import storable_text
from web.http import error_response


def check_request_text(scope: Scope) -> None:
    """BadInput naming the first path or query value that cannot be stored."""
    storable_text(scope.get("path", ""), "path")
    query = scope.get("query_string", b"").decode("latin-1")
    # The same decoding as starlette's QueryParams, so what we check is what handlers get.
    for key, value in parse_qsl(query, keep_blank_values=True):
        storable_text(key, "query parameter name")
        storable_text(value, f"query parameter {key[:40]!r}")


class InputGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            try:
                check_request_text(scope)
            except BadInput as exc:
                if scope["type"] == "http":
                    await error_response(exc)(scope, receive, send)
                else:  # like every refused handshake (web/realtime/endpoints.refuse)
                    await receive()  # websocket.connect
                    await send({"type": "websocket.accept"})
                    await send({"type": "websocket.close", "code": 1008,
                                "reason": exc.reason[:120]})
                return
        await self.app(scope, receive, send)
