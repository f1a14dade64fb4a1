"""``/ws/bot``: the bot socket (docs/bots.md). The token is checked at the handshake
(``Authorization: Bearer`` or ``?token=``); a refused handshake closes with 1008. The bot
sees only the conversations it holds: the writer decodes each event and forwards the
held conversations' events, tracking holds from work item events."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.websockets import WebSocket

from hub import bots
from hub.errors import HubError
from hub.schema import (
    AnyEvent,
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
_bot_decoder = msgspec.json.Decoder(BotFrame)


class _EventFrame(msgspec.Struct):
    event: AnyEvent


_frame_decoder = msgspec.json.Decoder(_EventFrame)
_event_decoder = msgspec.json.Decoder(AnyEvent)


class BotSession(SocketSession):
    """A socket session whose writer forwards only the bot's own conversations."""

    def __init__(self, ws: WebSocket, state: HubState, sub: Subscriber, bot: bots.Bot,
                 held: set[int]) -> None:
        super().__init__(ws, state.fanout, sub)
        self.bot = bot
        self.held = held

    def visible(self, event: AnyEvent) -> bool:
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
            sid, text = await queue.get()
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


async def bot_socket(ws: WebSocket) -> None:
    state: HubState = ws.app.state.hub
    try:
        bot = await bots.authenticate_bot(state.pool, _token(ws))
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
    session = BotSession(ws, state, sub, bot, held)

    async def handle(data: bytes) -> dict[str, Any] | None:
        frame = decode_frame(_bot_decoder, data)
        if isinstance(frame, BotPing):
            return {"type": "pong"}
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

    await session.run(after=after, prelude=[encode(hello).decode()], handle=handle)

