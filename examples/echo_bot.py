"""A runnable example bot for omnihub (docs/bots.md).

It connects to ``/ws/bot`` with its token, greets every conversation its queue gives
it, answers a few FAQs, echoes anything else, and hands off to a human queue when the
customer asks for an agent. It resumes with ``last_id`` after a lost connection.

    python examples/echo_bot.py --url ws://127.0.0.1:8000/ws/bot --token ohb_... \\
        --handoff-queue support

Only the ``websockets`` client library is needed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import uuid
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

log = logging.getLogger("echo_bot")

GREETING = ("Hi! I'm the omnihub assistant. Ask me about opening hours, prices or your"
            " router, or type 'agent' to talk to a person.")
FAQ = [
    (("hour", "open"), "We're here Monday to Friday 8:00-20:00 and Saturday 9:00-16:00."),
    (("price", "cost", "how much"), "Fibre 300 is 34.99/month, Fibre 1 Gbit 49.99/month."),
    (("router", "wifi", "wi-fi", "internet"),
     "Please unplug your router for 30 seconds and plug it back in; that fixes most drops."),
]
HANDOFF_WORDS = ("agent", "human", "person", "someone")


def answer(text: str) -> str | None:
    """The bot's reply to a customer's text; None means: hand off to a human."""
    low = text.lower()
    if any(w in low for w in HANDOFF_WORDS):
        return None
    for words, reply in FAQ:
        if any(w in low for w in words):
            return reply
    return f"You said: {text.strip()[:500]}. Type 'agent' to talk to a person."


class EchoBot:
    def __init__(self, url: str, token: str, handoff_queue: str) -> None:
        self.url = url
        self.token = token
        self.handoff_queue = handoff_queue
        self.last_id: str | None = None
        self.greeted: set[int] = set()
        self.handed_off: set[int] = set()

    async def send(self, ws: ClientConnection, frame: dict[str, Any]) -> None:
        await ws.send(json.dumps(frame))

    async def reply(self, ws: ClientConnection, conversation_id: int, text: str) -> None:
        await self.send(ws, {"type": "reply", "conversation_id": conversation_id,
                             "client_id": str(uuid.uuid4()), "text": text})

    async def greet(self, ws: ClientConnection, conversation_id: int) -> None:
        if conversation_id not in self.greeted:
            self.greeted.add(conversation_id)
            await self.reply(ws, conversation_id, GREETING)

    async def on_customer(self, ws: ClientConnection, conversation_id: int, text: str) -> None:
        await self.greet(ws, conversation_id)
        reply = answer(text)
        if reply is not None:
            await self.reply(ws, conversation_id, reply)
        elif conversation_id not in self.handed_off:
            self.handed_off.add(conversation_id)
            await self.reply(ws, conversation_id, "Connecting you with a colleague now.")
            await self.send(ws, {"type": "handoff", "conversation_id": conversation_id,
                                 "queue": self.handoff_queue,
                                 "reason": f"customer asked for a human: {text.strip()[:200]}"})

    async def on_frame(self, ws: ClientConnection, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "hello":
            for conv in frame.get("conversations", []):
                msgs = conv.get("messages", [])
                if msgs and msgs[-1]["author"]["kind"] == "contact":
                    await self.on_customer(ws, conv["id"], msgs[-1]["text"])
                else:
                    await self.greet(ws, conv["id"])
        elif kind == "event":
            self.last_id = frame["id"]
            event = frame["event"]
            if event["type"] == "workitem.created" and event["work_item"]["status"] == "bot":
                await self.greet(ws, event["work_item"]["conversation_id"])
            elif event["type"] == "message.created" and event["message"]["author"]["kind"] == \
                    "contact":
                await self.on_customer(ws, event["message"]["conversation_id"],
                                       event["message"]["text"])
        elif kind == "error":
            log.warning("hub refused a frame: %s", frame)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Serve until ``stop`` is set, reconnecting with backoff."""
        stop = stop or asyncio.Event()
        delay = 0.2
        while not stop.is_set():
            url = self.url + (f"?last_id={self.last_id}" if self.last_id else "")
            try:
                async with connect(url, additional_headers={
                        "Authorization": f"Bearer {self.token}"}) as ws:
                    delay = 0.2
                    reader = asyncio.ensure_future(self._read(ws))
                    stopper = asyncio.ensure_future(stop.wait())
                    done, _ = await asyncio.wait({reader, stopper},
                                                 return_when=asyncio.FIRST_COMPLETED)
                    for task in (reader, stopper):
                        task.cancel()
                    if reader in done and not reader.cancelled() and reader.exception():
                        raise reader.exception()  # type: ignore[misc]
            except (OSError, ConnectionClosed) as exc:
                if getattr(exc, "rcvd", None) is not None and exc.rcvd.code == 1008:  # type: ignore[union-attr]
                    raise SystemExit(f"hub refused the bot: {exc.rcvd.reason}") from None  # type: ignore[union-attr]
                log.info("connection lost (%r); reconnecting in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            await self.on_frame(ws, json.loads(raw))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="ws://127.0.0.1:8000/ws/bot")
    parser.add_argument("--token", default=os.environ.get("OMNIHUB_BOT_TOKEN", ""))
    parser.add_argument("--handoff-queue", default="support")
    args = parser.parse_args()
    if not args.token:
        parser.error("--token (or OMNIHUB_BOT_TOKEN) is required")
    logging.basicConfig(level=logging.INFO)
    asyncio.run(EchoBot(args.url, args.token, args.handoff_queue).run())


if __name__ == "__main__":
    main()
