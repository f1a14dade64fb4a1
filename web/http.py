"""HTTP edge helpers: bounded JSON bodies decoded into typed structs (through
hub.untrusted.decode_json, like every other edge), and the mapping of the error root to
JSON responses. No stack trace ever reaches a client."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from hub.errors import BadInput, HubError, RateLimited, TooLarge
from hub.untrusted import decode_json, is_decimal

log = logging.getLogger("omnihub.http")
T = TypeVar("T")
_encoder = msgspec.json.Encoder()


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _encoder.encode(content)


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not is_decimal(declared):
            raise BadInput("invalid Content-Length")
        if int(declared) > limit:
            raise TooLarge(f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, kind: type[T], limit: int) -> T:
    ctype = request.headers.get("content-type", "")
    if not ctype.split(";")[0].strip().lower() == "application/json":
        raise BadInput("Content-Type must be application/json", code="unsupported_media_type")
    return decode_json(await read_body(request, limit), kind)


def error_response(exc: HubError) -> JSON:
    status = 415 if exc.code == "unsupported_media_type" else exc.status
    headers = ({"Retry-After": str(exc.retry_after_s)} if isinstance(exc, RateLimited)
               else None)
    return JSON({"error": exc.code, "reason": exc.reason}, status_code=status, headers=headers)


async def hub_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HubError)
    return error_response(exc)


_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
               413: "too_large"}


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such route, wrong method, a form it cannot parse) in
    the same JSON shape as ours."""
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "bad_request" if exc.status_code < 500 else "internal")
    return JSON({"error": code, "reason": exc.detail}, status_code=exc.status_code,
                headers=exc.headers)


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSON({"error": "internal", "reason": "internal error"}, status_code=500)
