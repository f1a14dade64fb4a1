"""The providers' media endpoints, added to the local fake provider (tests/fake_providers.py)
so the hub's media proxy talks to them over real HTTP with its normal settings:

- Twilio ``MediaUrl``: ``/2010-04-01/Accounts/{sid}/Messages/{sid}/Media/{key}`` (Basic
  auth) answers 307 to ``/twilio-storage/{key}`` (no auth), as Twilio redirects to its
  storage.
- WhatsApp Cloud: ``GET /{version}/{media_id}`` (Bearer) -> ``{url, mime_type,
  file_size}``; the url ``/wa-cdn/{key}`` also needs the Bearer token.
- Messenger/Instagram: a public CDN URL ``/cdn/{key}``.
- Telegram: ``/bot{token}/getFile?file_id=`` -> ``file_path``; ``/file/bot{token}/{path}``.

Each media item says what to answer: bytes, type, an error status, chunked (no
``Content-Length``), a declared size for the metadata calls, or a gate that holds the
last piece of the body until a test opens it (a slow provider). Every request is recorded."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fake_providers import FakeProviders

GRAPH_VERSION = "v21.0"


@dataclass
class Item:
    body: bytes
    content_type: str = "image/jpeg"
    status: int = 200
    chunked: bool = False
    declared_size: int | None = None
    gate: asyncio.Event | None = None


@dataclass
class Hit:
    route: str
    key: str
    headers: dict[str, str] = field(default_factory=dict)


class FakeMediaProviders(FakeProviders):
    def __init__(self, creds: dict[str, dict[str, Any]], port: int | None = None) -> None:
        super().__init__(creds, port)
        self.media: dict[str, Item] = {}
        self.hits: list[Hit] = []
        self.app.router.routes[:0] = [
            Route("/2010-04-01/Accounts/{sid}/Messages/{msid}/Media/{key}",
                  self._twilio_media, methods=["GET"]),
            Route("/twilio-storage/{key}", self._storage, methods=["GET"]),
            Route("/cdn/{key}", self._cdn, methods=["GET"]),
            Route("/wa-cdn/{key}", self._wa_cdn, methods=["GET"]),
            Route("/bot{token}/getFile", self._get_file, methods=["GET"]),
            Route("/file/bot{token}/{path:path}", self._tg_file, methods=["GET"]),
            Route("/{version}/{media_id}", self._graph_media, methods=["GET"]),
        ]

    def hits_for(self, route: str) -> list[Hit]:
        return [h for h in self.hits if h.route == route]

    def _record(self, route: str, key: str, request: Request) -> None:
        self.hits.append(Hit(route, key, dict(request.headers)))

    async def _serve(self, key: str) -> Response:
        item = self.media.get(key)
        if item is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        if item.status != 200:
            return JSONResponse({"error": f"status {item.status}"}, status_code=item.status)
        if item.gate is None and not item.chunked:
            return Response(item.body, media_type=item.content_type)

        async def pieces() -> AsyncIterator[bytes]:
            step = 16 * 1024
            for i in range(0, len(item.body), step):
                if item.gate is not None and i + step >= len(item.body):
                    await item.gate.wait()  # a provider stuck before its last piece
                yield item.body[i:i + step]

        headers = {} if item.chunked else {"Content-Length": str(len(item.body))}
        return StreamingResponse(pieces(), media_type=item.content_type, headers=headers)

    def _twilio_token(self, sid: str) -> str | None:
        return next((c["auth_token"] for c in self.creds.values()
                     if c["account_sid"] == sid), None)

    async def _twilio_media(self, request: Request) -> Response:
        sid, key = request.path_params["sid"], request.path_params["key"]
        self._record("twilio", key, request)
        token = self._twilio_token(sid)
        expected = "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()
        if token is None or request.headers.get("authorization") != expected:
            return JSONResponse({"code": 20003, "message": "Authenticate"}, status_code=401)
        item = self.media.get(key)
        if item is None or item.status != 200:
            return await self._serve(key)
        return RedirectResponse(f"/twilio-storage/{key}", status_code=307)

    async def _storage(self, request: Request) -> Response:
        self._record("storage", request.path_params["key"], request)
        return await self._serve(request.path_params["key"])

    async def _cdn(self, request: Request) -> Response:
        self._record("cdn", request.path_params["key"], request)
        return await self._serve(request.path_params["key"])

    def _meta_token_ok(self, request: Request) -> bool:
        tokens = {f"Bearer {c['access_token']}" for c in self.creds.values()
                  if c["provider"] == "meta"}
        return request.headers.get("authorization") in tokens

    async def _graph_media(self, request: Request) -> Response:
        media_id = request.path_params["media_id"]
        self._record("graph", media_id, request)
        if not self._meta_token_ok(request):
            return JSONResponse({"error": {"message": "Invalid OAuth access token",
                                           "type": "OAuthException", "code": 190}},
                                status_code=401)
        item = self.media.get(media_id)
        if item is None:
            return JSONResponse({"error": {
                "message": f"Unsupported get request. Object with ID '{media_id}' does not"
                           " exist", "type": "GraphMethodException", "code": 100,
                "error_subcode": 33}}, status_code=400)
        size = item.declared_size if item.declared_size is not None else len(item.body)
        return JSONResponse({
            "messaging_product": "whatsapp", "id": media_id, "mime_type": item.content_type,
            "sha256": "0" * 64, "file_size": size,
            "url": f"{self.base_url}/wa-cdn/{media_id}"})

    async def _wa_cdn(self, request: Request) -> Response:
        self._record("wa-cdn", request.path_params["key"], request)
        if not self._meta_token_ok(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return await self._serve(request.path_params["key"])

    def _telegram_ok(self, token: str) -> bool:
        return any(c["access_token"] == token for c in self.creds.values()
                   if c["provider"] == "telegram")

    async def _get_file(self, request: Request) -> Response:
        file_id = request.query_params.get("file_id", "")
        self._record("getFile", file_id, request)
        if not self._telegram_ok(request.path_params["token"]):
            return JSONResponse({"ok": False, "error_code": 401,
                                 "description": "Unauthorized"}, status_code=401)
        item = self.media.get(file_id)
        if item is None:
            return JSONResponse({"ok": False, "error_code": 400,
                                 "description": "Bad Request: invalid file_id"},
                                status_code=400)
        size = item.declared_size if item.declared_size is not None else len(item.body)
        return JSONResponse({"ok": True, "result": {
            "file_id": file_id, "file_unique_id": "u" + file_id, "file_size": size,
            "file_path": f"photos/{file_id}.jpg"}})

    async def _tg_file(self, request: Request) -> Response:
        path = request.path_params["path"]
        key = path.removeprefix("photos/").removesuffix(".jpg")
        self._record("tg-file", key, request)
        if not self._telegram_ok(request.path_params["token"]):
            return JSONResponse({"ok": False, "error_code": 401}, status_code=401)
        return await self._serve(key)
