"""A local fake of the Twilio, Meta Graph and Telegram Bot APIs (real HTTP on 127.0.0.1),
and the same providers' side of the webhooks: signed requests to the hub.

Only the HTTP boundary is faked. The fake records every send it receives and answers
from a per-provider script (``fail_next``) so tests can exercise retries and provider
errors. Nothing in the hub is patched: its ``*_api_base`` settings point here.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channels.meta.signature import compute_signature as meta_sign
from channels.twilio.signature import compute_signature as twilio_sign
from tests.ports import ReservedPort, running_uvicorn


@dataclass
class Sent:
    provider: str
    path: str
    headers: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] = field(default_factory=dict)


class FakeProviders:
    def __init__(self, creds: dict[str, dict[str, Any]],
                 port: ReservedPort | None = None) -> None:
        self.creds = creds
        self.sent: list[Sent] = []
        # provider -> list of (status, body) answers to use before the normal one.
        self.script: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self._ids = itertools.count(1)
        self.reserved = port or ReservedPort()
        self.port = self.reserved.port
        self.base_url = self.reserved.base_url
        self.app = Starlette(routes=[
            Route("/2010-04-01/Accounts/{sid}/Messages.json", self._twilio, methods=["POST"]),
            Route("/{version}/{account}/messages", self._meta, methods=["POST"]),
            Route("/bot{token}/sendMessage", self._telegram, methods=["POST"]),
        ])

    def fail_next(self, provider: str, status: int, body: dict[str, Any]) -> None:
        self.script.setdefault(provider, []).append((status, body))

    def _scripted(self, provider: str) -> Response | None:
        queue = self.script.get(provider)
        if queue:
            status, body = queue.pop(0)
            return JSONResponse(body, status_code=status)
        return None

    def sent_by(self, provider: str) -> list[Sent]:
        return [s for s in self.sent if s.provider == provider]

    # ---- provider APIs --------------------------------------------------------------

    async def _twilio(self, request: Request) -> Response:
        sid = request.path_params["sid"]
        token = next((c["auth_token"] for c in self.creds.values()
                      if c["account_sid"] == sid), None)
        expected = "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()
        if token is None or request.headers.get("authorization") != expected:
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401},
                                status_code=401)
        form = dict((await request.form()).items())
        self.sent.append(Sent("twilio", request.url.path, dict(request.headers),
                              form={k: str(v) for k, v in form.items()}))
        scripted = self._scripted("twilio")
        if scripted is not None:
            return scripted
        msid = f"SM{next(self._ids):032x}"
        return JSONResponse({"sid": msid, "status": "queued", "direction": "outbound-api",
                             "to": form.get("To"), "from": form.get("From"),
                             "error_code": None, "error_message": None}, status_code=201)

    async def _meta(self, request: Request) -> Response:
        account = request.path_params["account"]
        token = next((c["access_token"] for c in self.creds.values()
                      if c["provider"] == "meta" and c["external_id"] == account), None)
        if token is None or request.headers.get("authorization") != f"Bearer {token}":
            return JSONResponse({"error": {"message": "Invalid OAuth access token",
                                           "type": "OAuthException", "code": 190}},
                                status_code=401)
        body = await request.json()
        self.sent.append(Sent("meta", request.url.path, dict(request.headers), json=body))
        scripted = self._scripted("meta")
        if scripted is not None:
            return scripted
        n = next(self._ids)
        if body.get("messaging_product") == "whatsapp":
            return JSONResponse({"messaging_product": "whatsapp",
                                 "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                                 "messages": [{"id": f"wamid.OUT{n:020d}"}]})
        return JSONResponse({"recipient_id": body["recipient"]["id"],
                             "message_id": f"m_OUT{n:020d}"})

    async def _telegram(self, request: Request) -> Response:
        token = request.path_params["token"]
        if not any(c["access_token"] == token for c in self.creds.values()
                   if c["provider"] == "telegram"):
            return JSONResponse({"ok": False, "error_code": 401,
                                 "description": "Unauthorized"}, status_code=401)
        body = await request.json()
        self.sent.append(Sent("telegram", "/bot***/sendMessage", dict(request.headers),
                              json=body))
        scripted = self._scripted("telegram")
        if scripted is not None:
            return scripted
        return JSONResponse({"ok": True, "result": {
            "message_id": next(self._ids), "date": 1700000000, "text": body["text"],
            "chat": {"id": int(body["chat_id"]), "type": "private"}}})


@contextlib.asynccontextmanager
async def running(fake: FakeProviders) -> AsyncIterator[FakeProviders]:
    async with running_uvicorn(fake.app, fake.reserved):
        yield fake


# ---- the providers' webhooks to the hub ----------------------------------------------


def new_sid(prefix: str = "SM") -> str:
    return prefix + secrets.token_hex(16)


class Webhooks:
    """Signed webhook requests, as each provider would send them."""

    def __init__(self, hub_url: str, creds: dict[str, dict[str, Any]],
                 client: httpx.AsyncClient, public_url: str = "") -> None:
        self.hub_url = hub_url
        self.creds = creds
        self.client = client
        # The URL Twilio calls (and signs): the proxy's, when the hub sits behind one.
        self.public_url = public_url or hub_url

    async def twilio(self, inbox: str, params: dict[str, str] | list[tuple[str, str]], *,
                     signature: str | None = None, url: str | None = None,
                     body: bytes | None = None) -> httpx.Response:
        c = self.creds[inbox]
        pairs = list(params.items()) if isinstance(params, dict) else list(params)
        target = url or f"{self.public_url}/webhooks/twilio/sms"
        sig = signature if signature is not None else twilio_sign(c["auth_token"], target, pairs)
        return await self.client.post(
            f"{self.hub_url}/webhooks/twilio/sms",
            content=body if body is not None else urlencode(pairs).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "X-Twilio-Signature": sig})

    def twilio_inbound(self, inbox: str, sender: str, text: str,
                       sid: str | None = None, **extra: str) -> dict[str, str]:
        c = self.creds[inbox]
        sid = sid or new_sid()
        return {"ToCountry": "US", "SmsMessageSid": sid, "NumMedia": "0",
                "MessageSid": sid, "AccountSid": c["account_sid"],
                "From": sender, "To": c["external_id"], "Body": text, "NumSegments": "1",
                "SmsStatus": "received", "ApiVersion": "2010-04-01", **extra}

    def twilio_status(self, inbox: str, sid: str, status: str, to: str,
                      **extra: str) -> dict[str, str]:
        c = self.creds[inbox]
        return {"SmsSid": sid, "SmsStatus": status, "MessageStatus": status, "To": to,
                "MessageSid": sid, "AccountSid": c["account_sid"], "From": c["external_id"],
                "ApiVersion": "2010-04-01", **extra}

    async def meta(self, payload: dict[str, Any] | bytes, *, secret: str | None = None,
                   signature: str | None = None) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        key = secret if secret is not None else self.creds["whatsapp"]["app_secret"]
        sig = signature if signature is not None else meta_sign(key, body)
        return await self.client.post(f"{self.hub_url}/webhooks/meta", content=body,
                                      headers={"Content-Type": "application/json",
                                               "X-Hub-Signature-256": sig})

    async def telegram(self, inbox: str, update: dict[str, Any] | bytes, *,
                       secret: str | None = None) -> httpx.Response:
        body = update if isinstance(update, bytes) else json.dumps(update).encode()
        token = secret if secret is not None else self.creds[inbox]["secret_token"]
        headers = {"Content-Type": "application/json"}
        if token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = token
        return await self.client.post(f"{self.hub_url}/webhooks/telegram/{inbox}",
                                      content=body, headers=headers)


def messenger_event(page: str, psid: str, mid: str, text: str, **message: Any) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": page, "time": 1458692752478, "messaging": [
        {"sender": {"id": psid}, "recipient": {"id": page}, "timestamp": 1458692752478,
         "message": {"mid": mid, "text": text, **message}}]}]}


def instagram_event(account: str, igsid: str, mid: str, text: str) -> dict[str, Any]:
    return {"object": "instagram", "entry": [{"id": account, "time": 1700000000000,
                                              "messaging": [
        {"sender": {"id": igsid}, "recipient": {"id": account}, "timestamp": 1700000000000,
         "message": {"mid": mid, "text": text}}]}]}


def whatsapp_value(phone_number_id: str, **value: Any) -> dict[str, Any]:
    return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398",
            "changes": [{"value": {"messaging_product": "whatsapp", "metadata": {
                "display_phone_number": "15550783881", "phone_number_id": phone_number_id},
                **value}, "field": "messages"}]}]}


def whatsapp_text(phone_number_id: str, wa_id: str, wamid: str, text: str,
                  name: str = "Sheena Nelson") -> dict[str, Any]:
    return whatsapp_value(
        phone_number_id, contacts=[{"profile": {"name": name}, "wa_id": wa_id}],
        messages=[{"from": wa_id, "id": wamid, "timestamp": "1749416383", "type": "text",
                   "text": {"body": text}}])


def whatsapp_status(phone_number_id: str, wamid: str, status: str, wa_id: str,
                    errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    st: dict[str, Any] = {"id": wamid, "status": status, "timestamp": "1749416400",
                          "recipient_id": wa_id}
    if errors:
        st["errors"] = errors
    return whatsapp_value(phone_number_id, statuses=[st])


def telegram_message(update_id: int, user_id: int, text: str, **message: Any) -> dict[str, Any]:
    user = {"last_name": "Test Lastname", "id": user_id, "first_name": "Test",
            "username": "Test"}
    return {"update_id": update_id, "message": {
        "date": 1441645532, "chat": {**user, "type": "private"}, "message_id": 1365,
        "from": user, "text": text, **message}}
