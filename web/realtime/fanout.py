"""One events-stream reader per process, fanning frames out to local sockets.

Each socket is a ``Subscriber`` with a bounded queue drained by its own writer task.
The reader never awaits a socket: a full queue marks the subscriber overflowed and
its connection is closed with 1013 (it resumes with ``last_id``). A frame is built
once per event and shared by every socket that gets it.

An agent socket's inboxes can change while it is open (``Fanout.resubscribe``, driven by
``web/realtime/access.py``); each queued item keeps its route so the writer drops what
the socket may no longer see.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable

import redis.asyncio as aioredis

from hub.streamids import StreamId, parse_stream_id

log = logging.getLogger("omnihub.fanout")

# (inbox, conversation id, widget route) of an event: the fields ``route_of`` reads.
Route = tuple[str, int, str]
# (stream id, frame, route); control frames (ack, error, pong) have neither id nor route.
Item = tuple[StreamId | None, str, Route | None]
# Events read per XREAD; socket queues should hold a few chunks.
READ_CHUNK = 64


class Subscriber:
    __slots__ = ("agent_id", "bind_key", "conversation_id", "inboxes", "is_widget",
                 "on_overflow", "overflowed", "queue")

    def __init__(self, *, queue_size: int, inboxes: frozenset[str] | None = None,
                 widget_bind_key: str = "", conversation_id: int = 0,
                 on_overflow: Callable[[], None] | None = None, agent_id: int = 0) -> None:
        self.queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=queue_size)
        # Agents: None = every inbox (supervisors). Widgets: inboxes unused.
        self.inboxes = inboxes
        self.is_widget = bool(widget_bind_key)
        self.bind_key = widget_bind_key
        self.conversation_id = conversation_id
        # Agent sockets: whose socket it is ('a:' events name their agents).
        self.agent_id = agent_id
        self.overflowed = False
        self.on_overflow = on_overflow

    def wants(self, inbox: str, conv: int, widget_route: str) -> bool:
        if self.is_widget:
            if widget_route == "c":
                return conv == self.conversation_id and conv != 0
            if widget_route.startswith("b:"):
                return widget_route[2:] == self.bind_key
            return False
        if widget_route.startswith("a:"):
            return self.inboxes is None or str(self.agent_id) in widget_route[2:].split(",")
        return self.inboxes is None or inbox == "" or inbox in self.inboxes

    def still_wants(self, route: Route | None) -> bool:
        """Re-check a queued item at write time: an agent's access may have narrowed since
        it was queued. Widgets' routes were settled at dispatch (a rebind must not drop
        the old conversation's queued frames)."""
        return route is None or self.is_widget or self.wants(*route)

    def offer(self, item: Item) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True
            if self.on_overflow:
                self.on_overflow()


def event_frame(sid: bytes, payload: bytes) -> str:
    return '{"type":"event","id":"' + sid.decode() + '","event":' + payload.decode() + "}"


def route_of(fields: dict[bytes, bytes]) -> Route:
    return (fields.get(b"i", b"").decode(), int(fields.get(b"c", b"0") or 0),
            fields.get(b"w", b"").decode())


class Fanout:
    def __init__(self, redis: aioredis.Redis, stream: str) -> None:
        self._redis = redis
        self._stream = stream
        self._agents_all: set[Subscriber] = set()
        self._agents_by_inbox: defaultdict[str, set[Subscriber]] = defaultdict(set)
        self._agents_by_id: defaultdict[int, set[Subscriber]] = defaultdict(set)
        self._widgets_by_conv: defaultdict[int, set[Subscriber]] = defaultdict(set)
        self._widgets_by_bind: defaultdict[str, set[Subscriber]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        # This process's server-side socket closes by code, and how many of them had to
        # reset a peer that would not take the close frame (web/realtime/transport.py).
        self.closes: Counter[int] = Counter()
        self.resets = 0

    # ---- registry -------------------------------------------------------------------

    def add(self, sub: Subscriber) -> None:
        if sub.is_widget:
            self._widgets_by_bind[sub.bind_key].add(sub)
            if sub.conversation_id:
                self._widgets_by_conv[sub.conversation_id].add(sub)
        elif sub.inboxes is None:
            self._agents_all.add(sub)
        else:
            self._agents_by_id[sub.agent_id].add(sub)
            for inbox in sub.inboxes:
                self._agents_by_inbox[inbox].add(sub)

    def remove(self, sub: Subscriber) -> None:
        if sub.is_widget:
            _discard(self._widgets_by_bind, sub.bind_key, sub)
            _discard(self._widgets_by_conv, sub.conversation_id, sub)
        elif sub.inboxes is None:
            self._agents_all.discard(sub)
        else:
            _discard(self._agents_by_id, sub.agent_id, sub)
            for inbox in sub.inboxes:
                _discard(self._agents_by_inbox, inbox, sub)

    def resubscribe(self, sub: Subscriber, inboxes: frozenset[str] | None) -> None:
        """Move an agent socket to new inboxes (None = all: supervisors and admins)."""
        if sub.is_widget or sub.inboxes == inboxes:
            return
        if sub not in self._agents_all and sub not in self._agents_by_id.get(sub.agent_id, ()):
            sub.inboxes = inboxes  # already removed (the socket is closing): stay out
            return
        self.remove(sub)
        sub.inboxes = inboxes
        self.add(sub)

    def bind_widget(self, sub: Subscriber, conversation_id: int) -> None:
        if sub.conversation_id == conversation_id:
            return
        _discard(self._widgets_by_conv, sub.conversation_id, sub)
        sub.conversation_id = conversation_id
        self._widgets_by_conv[conversation_id].add(sub)

    @property
    def socket_count(self) -> int:
        agents = len(self._agents_all) + sum(len(s) for s in self._agents_by_id.values())
        return agents + sum(len(s) for s in self._widgets_by_bind.values())

    # ---- reading --------------------------------------------------------------------

    def dispatch(self, sid_raw: bytes, fields: dict[bytes, bytes]) -> None:
        sid = parse_stream_id(sid_raw)
        frame = event_frame(sid_raw, fields[b"e"])
        inbox, conv, route = routed = route_of(fields)
        item: Item = (sid, frame, routed)
        for sub in self._agents_all:
            sub.offer(item)
        if route.startswith("a:"):
            # Agent-addressed (offers, supervisor boards): never a widget, never the inbox.
            for ident in filter(None, route[2:].split(",")):
                for sub in self._agents_by_id.get(int(ident), ()):
                    sub.offer(item)
            return
        if inbox:
            for sub in self._agents_by_inbox.get(inbox, ()):
                sub.offer(item)
        else:  # hub-wide: every agent socket, members of no inbox included
            for subs in self._agents_by_id.values():
                for sub in subs:
                    sub.offer(item)
        if route == "c":
            for sub in self._widgets_by_conv.get(conv, ()):
                sub.offer(item)
        elif route.startswith("b:"):
            for sub in list(self._widgets_by_bind.get(route[2:], ())):
                self.bind_widget(sub, conv)
                sub.offer(item)

    async def tail_id(self) -> str:
        """The newest id the stream ever generated (even if trimmed away since)."""
        last = await self._redis.xrevrange(self._stream, count=1)
        if last:
            return str(last[0][0].decode())
        try:
            info = await self._redis.xinfo_stream(self._stream)
        except aioredis.ResponseError:
            return "0-0"
        generated = info.get("last-generated-id") or b"0-0"
        return generated.decode() if isinstance(generated, bytes) else str(generated)

    async def gap_expired(self, last_id: StreamId) -> bool:
        """True when events after ``last_id`` may have been trimmed away."""
        try:
            info = await self._redis.xinfo_stream(self._stream)
        except aioredis.ResponseError:
            return last_id != (0, 0)
        generated = parse_stream_id(info.get("last-generated-id") or b"0-0")
        if last_id > generated:
            return True  # the stream was reset under the client
        if not info.get("length"):
            return last_id < generated  # everything up to the last id was trimmed
        # Trimming removes from the front: an id older than the first retained entry may
        # have been followed by trimmed entries (conservative: reload is always correct).
        first = info.get("first-entry")
        first_id = parse_stream_id(first[0]) if first else generated
        deleted = parse_stream_id(info.get("max-deleted-entry-id") or b"0-0")
        return last_id < first_id or last_id < deleted

    async def backlog(self, after: StreamId) -> AsyncIterator[tuple[bytes, dict[bytes, bytes]]]:
        """Every entry after ``after``, oldest first, in chunks."""
        start = f"({after[0]}-{after[1]}"
        while True:
            chunk = await self._redis.xrange(self._stream, min=start, count=500)
            if not chunk:
                return
            for sid, fields in chunk:
                yield sid, fields
            start = "(" + chunk[-1][0].decode()

    async def run(self) -> None:
        last = await self.tail_id()
        self.ready.set()
        while True:
            try:
                resp = await self._redis.xread({self._stream: last}, count=READ_CHUNK,
                                               block=5000)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("events reader failed, retrying: %r", exc)
                await asyncio.sleep(0.5)
                continue
            if not resp:
                continue
            for sid, fields in resp[0][1]:
                try:
                    self.dispatch(sid, fields)
                except (KeyError, ValueError) as exc:
                    log.error("skipping malformed event %s: %s", sid, exc)
                last = sid.decode()
            # Let socket writers drain before the next chunk: a burst must not look like
            # a slow client to a queue sized for steady state.
            await asyncio.sleep(0)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="events-fanout")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass


def _discard(index: defaultdict, key: object, sub: Subscriber) -> None:  # type: ignore[type-arg]
    subs = index.get(key)
    if subs is not None:
        subs.discard(sub)
        if not subs:
            del index[key]
