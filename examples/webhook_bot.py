"""A runnable webhook-mode bot for omnihub (docs/bots.md "Webhooks").

The hub POSTs the bot's events to this app; it verifies ``X-Omnihub-Signature`` on the
raw body, drops repeated ``X-Omnihub-Delivery`` ids, and answers through the bot REST
API: a greeting for each new conversation, FAQ answers / an echo for customer messages,
and a hand-off to a human queue when the customer asks for an agent (the same brain as
examples/echo_bot.py). It works synchronously, so replies keep the order of the events.

    python examples/webhook_bot.py --hub http://127.0.0.1:8000 --token ohb_... \\
        --secret ohs_... --handoff-queue support --port 8088
    # then, as an admin: PATCH /api/v1/bots/<id> {"webhook_url": "http://127.0.0.1:8088/omnihub"}

Needs starlette, uvicorn and httpx.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import os
import time
from collections import OrderedDict
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

try:
    from examples.echo_bot import GREETING, answer
except ImportError:  # run as a script from examples/
    from echo_bot import GREETING, answer  # type: ignore[no-redef]

log = logging.getLogger("webhook_bot")
TOLERANCE_S = 300


def verify(header: str, body: bytes, secret: str, now: float | None = None) -> bool:
    """``t=<unix>,v1=<hex>[,v1=<hex>]``: some v1 equals HMAC-SHA256(secret, "<t>." + body)
    and t is at most 5 minutes off (a captured request cannot be replayed later)."""
    fields = [p.strip().partition("=") for p in header.split(",")]
    stamps = [v for k, _, v in fields if k == "t" and v.isdigit()]
    sigs = [v for k, _, v in fields if k == "v1"]
    if len(stamps) != 1 or not sigs:
        return False
    if abs((time.time() if now is None else now) - int(stamps[0])) > TOLERANCE_S:
        return False
    expected = hmac.new(secret.encode(), stamps[0].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    # A list, not a generator: every candidate is compared (no early exit).
    return any([hmac.compare_digest(expected, s) for s in sigs])


class WebhookBot:
    def __init__(self, hub_url: str, token: str, secret: str, handoff_queue: str,
                 http: httpx.AsyncClient | None = None) -> None:
        self.hub_url = hub_url.rstrip("/")
        self.secret = secret
        self.handoff_queue = handoff_queue
        self.http = http or httpx.AsyncClient(timeout=10)
        self.auth = {"Authorization": f"Bearer {token}"}
        self.seen: OrderedDict[str, None] = OrderedDict()  # recent delivery ids
        self.app = Starlette(routes=[Route("/omnihub", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> JSONResponse:
        body = await request.body()  # the raw bytes: verify before parsing
        if not verify(request.headers.get("x-omnihub-signature", ""), body, self.secret):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        delivery = request.headers.get("x-omnihub-delivery", "")
        if delivery in self.seen:
            return JSONResponse({"duplicate": True})
        payload = json.loads(body)
        await self.act(payload)
        self.seen[delivery] = None
        while len(self.seen) > 10_000:
            self.seen.popitem(last=False)
        return JSONResponse({"ok": True})

    async def act(self, payload: dict[str, Any]) -> None:
        event, conv = payload["event"], payload["conversation_id"]
        # The delivery id as client_id: a redelivered event cannot post twice.
        client_id = f"wh-{payload['id']}"
        if event["type"] == "workitem.created" and event["work_item"]["status"] == "bot":
            await self.reply(conv, GREETING, client_id)
        elif (event["type"] == "message.created"
              and event["message"]["author"]["kind"] == "contact"):
            text = event["message"]["text"]
            said = answer(text)
            if said is not None:
                await self.reply(conv, said, client_id)
                return
            await self.reply(conv, "Connecting you with a person, one moment please.",
                             client_id)
            await self.call(f"/api/v1/bot/conversations/{conv}/handoff",
                            {"queue": self.handoff_queue,
                             "reason": f"customer asked for a human: {text[:200]}"})

    async def reply(self, conv: int, text: str, client_id: str) -> None:
        await self.call(f"/api/v1/bot/conversations/{conv}/messages",
                        {"text": text, "client_id": client_id})

    async def call(self, path: str, body: dict[str, Any]) -> None:
        r = await self.http.post(self.hub_url + path, json=body, headers=self.auth)
        if r.status_code >= 400:  # e.g. 403 not_held: an agent took it meanwhile
            log.warning("%s -> %s %s", path, r.status_code, r.text[:200])


def main() -> None:
    import uvicorn

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hub", default="http://127.0.0.1:8000")
    p.add_argument("--token", default=os.environ.get("OMNIHUB_BOT_TOKEN", ""))
    p.add_argument("--secret", default=os.environ.get("OMNIHUB_BOT_SECRET", ""))
    p.add_argument("--handoff-queue", default="support")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8088)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO)
    bot = WebhookBot(args.hub, args.token, args.secret, args.handoff_queue)
    uvicorn.run(bot.app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
