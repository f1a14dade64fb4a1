"""``/ws/bot``: the bot socket (docs/bots.md). The token is checked at the handshake
(``Authorization: Bearer`` or ``?token=``); a refused handshake closes with 1008. The bot
sees only the conversations it holds: the writer decodes each event and forwards the
held conversations' events, tracking holds from work item events."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
from starlette.websockets import WebSocket

from hub.bots import presence as bot_presence
from hub.bots.actions import bots
from hub.errors import HubError, Unauthorized
from hub.schema import (
    AnyEvent,
    BotChanged,
    ConversationStatusChanged,
    MessageCreated,
    WorkItemCreated,
    WorkItemUpdated,
    encode,
)
from hub.streamids import StreamId, parse_stream_id
from web.jobs import enqueue_delivery
from web.realtime.endpoints import _start_point, decode_frame, refuse
from web.realtime.fanout import Subscriber, event_frame
from web.realtime.session import SocketSession, parse_last_id
from web.routing_kit import bot_route
from web.state import HubState


class BotReply(msgspec.Struct, tag="reply", tag_field="type", forbid_unknown_fields=True):
    conversation_id: int
    client_id: str
    text: str


class BotHandoff(msgspec.Struct, tag="handoff", tag_field="type", forbid_unknown_fields=True):
    conversation_id: int
    queue: str
    reason: str


class BotPing(msgspec.Struct, tag="ping", tag_field="type", forbid_unknown_fields=True):
    pass


BotFrame = BotReply | BotHandoff | BotPing

class _EventFrame(msgspec.Struct):
    event: AnyEvent


_frame_decoder = msgspec.json.Decoder(_EventFrame)
_event_decoder = msgspec.json.Decoder(AnyEvent)


class BotSession(SocketSession):
    """A socket session whose writer forwards only the bot's own conversations."""

    def __init__(self, ws: WebSocket, state: HubState, sub: Subscriber, bot: bots.Bot,
                 held: set[int], token: str) -> None:
        super().__init__(ws, state.fanout, sub)
        self.state = state
        self.bot = bot
        self.held = held
        self.token = token
        self._timers: set[asyncio.Task[None]] = set()

    async def check_token(self) -> bool:
        """Is this socket's token still good? Closes the socket (1008) when not: the bot
        was disabled, or its token rotated (after the grace period)."""
        try:
            await bots.authenticate_bot(self.state.pool, self.token)
        except Unauthorized as exc:
            self.close_with(1008, "bot disabled" if exc.code == "bot_disabled"
                            else "token revoked")
            return False
        return True

    def _on_bot_changed(self, event: BotChanged) -> None:
        if event.bot_id != self.bot.id:
            return
        self._later(0.0)
        if event.recheck_at is not None:
            # The old token's grace period ends then; check again (a little after).
            self._later((event.recheck_at - datetime.now(UTC)).total_seconds() + 0.5)

    def _later(self, delay_s: float) -> None:
        async def run() -> None:
            await asyncio.sleep(max(0.0, delay_s))
            await self.check_token()
        task = asyncio.create_task(run())
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    def cancel_timers(self) -> None:
        for task in list(self._timers):
            task.cancel()

    def visible(self, event: AnyEvent) -> bool:
        if isinstance(event, BotChanged):
            self._on_bot_changed(event)
            return False
        if isinstance(event, WorkItemCreated | WorkItemUpdated):
            item = event.work_item
            mine = item.status == "bot" and item.bot_id == self.bot.id
            if mine:
                self.held.add(item.conversation_id)
                return True
            if item.conversation_id in self.held:
                self.held.discard(item.conversation_id)  # handed off, taken, or closed
                return True
            return False
        if isinstance(event, MessageCreated):
            return event.message.conversation_id in self.held and not event.message.private
        if isinstance(event, ConversationStatusChanged):
            return event.conversation_id in self.held
        return False

    async def _writer(self, after: StreamId, prelude: list[str]) -> None:
        ws = self.ws
        for text in prelude:
            await ws.send_text(text)
        last = after
        async for sid_raw, fields in self.fanout.backlog(after):
            last = parse_stream_id(sid_raw)
            try:
                event = _event_decoder.decode(fields[b"e"])
            except (msgspec.DecodeError, KeyError):
                continue
            if self.visible(event):
                await ws.send_text(event_frame(sid_raw, fields[b"e"]))
        queue = self.sub.queue
        while True:
            sid, text, _route = await queue.get()
            if sid is not None:
                if sid <= last:
                    continue
                last = sid
                try:
                    event = _frame_decoder.decode(text).event
                except msgspec.DecodeError:
                    continue
                if not self.visible(event):
                    continue
            await ws.send_text(text)


def _token(ws: WebSocket) -> str:
    scheme, _, value = ws.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return ws.query_params.get("token", "")


async def _keep_presence(state: HubState, bot_id: int, socket_id: str) -> None:
    """Tell the stuck-bot sweep this bot has a live socket (hub/bots/presence.py)."""
    while True:
        with contextlib.suppress(Exception):  # Redis down: the sweep sees us go
            await bot_presence.mark_live(state.redis, state.settings, bot_id, socket_id)
        await asyncio.sleep(bot_presence.REFRESH_S)


@bot_route()
async def bot_socket(ws: WebSocket) -> None:
    state: HubState = ws.app.state.hub
    token = _token(ws)
    try:
        bot = await bots.authenticate_bot(state.pool, token)
        last = parse_last_id(ws.query_params.get("last_id"))
    except HubError as exc:
        await refuse(ws, exc)
        return
    sub = Subscriber(queue_size=state.settings.ws_queue_size, inboxes=None)
    await ws.accept()
    state.fanout.add(sub)
    after, reset, tail = await _start_point(state, last)
    snapshot = await bots.held_conversations(state.pool, bot)
    held = {c["id"] for c in snapshot}
    hello = {"type": "hello", "bot": {"id": bot.id, "name": bot.name}, "last_id": tail,
             "reset": reset, "conversations": snapshot}
    session = BotSession(ws, state, sub, bot, held, token)
    last_check = time.monotonic()

    async def handle(data: bytes) -> dict[str, Any] | None:
        nonlocal last_check
        frame = decode_frame(BotFrame, data)
        if isinstance(frame, BotPing):
            # A socket whose bot.changed event was lost still finds out within a minute.
            if time.monotonic() - last_check > 60 and not await session.check_token():
                return None
            return {"type": "pong"}
        # Every write re-checks the token: a revoked one writes nothing, socket or not.
        if not await session.check_token():
            return None
        last_check = time.monotonic()
        if isinstance(frame, BotReply):
            try:
                message, created = await bots.post_bot_reply(
                    state.pool, state.publisher, bot, frame.conversation_id,
                    text=frame.text, client_id=frame.client_id)
            except HubError as exc:
                return {"type": "error", "code": exc.code, "reason": exc.reason,
                        "client_id": frame.client_id}
            if created:
                await enqueue_delivery(state.redis, state.settings, message)
            return {"type": "ack", "client_id": frame.client_id, "message_id": message.id}
        assert isinstance(frame, BotHandoff)
        try:
            item = await bots.hand_off(state.pool, state.publisher, bot, frame.conversation_id,
                                       queue=frame.queue, reason=frame.reason)
        except HubError as exc:
            return {"type": "error", "code": exc.code, "reason": exc.reason,
                    "conversation_id": frame.conversation_id}
        session.held.discard(frame.conversation_id)
        return {"type": "handed_off", "conversation_id": frame.conversation_id,
                "queue": item.queue, "work_item_id": item.id}

    socket_id = uuid.uuid4().hex
    presence = asyncio.create_task(_keep_presence(state, bot.id, socket_id))
    try:
        await session.run(after=after, prelude=[encode(hello).decode()], handle=handle)
    finally:
        presence.cancel()
        session.cancel_timers()
        with contextlib.suppress(BaseException):
            await presence
        with contextlib.suppress(Exception):
            await bot_presence.mark_gone(state.redis, state.settings, bot.id, socket_id)

