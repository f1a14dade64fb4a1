"""The two websocket endpoints. Handshakes check Origin and credentials before anything
is sent; a refused handshake is accepted only to be closed with 1008 and a reason, so
browsers can show why."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from starlette.websockets import WebSocket

from channels import chat
from channels.chat import (
    WidgetFrame,
    WidgetMessage,
    WidgetPing,
    WidgetTyping,
    envelope_from_widget,
    issue_visitor_token,
    new_visitor_identity,
    verify_user_hash,
    verify_visitor_token,
)
from hub import access as policy
from hub.contacts.actions.verification import answer_verification, verification_event
from hub.contacts.rules.identity import identity_key, normalise_identity
from hub.contacts.rules.prechat import public_form
from hub.contacts.store.verification import pending_for_conversation
from hub.conversations import actions
from hub.conversations.store.queries import get_conversation, list_messages, open_conversation_of
from hub.errors import BadInput, HubError, NotFound
from hub.schema import Agent, Author, Identity, encode
from hub.streamids import StreamId, parse_stream_id
from hub.untrusted import decode_json
from web.auth import agent_from_connection, check_same_origin, session_token_hash
from web.jobs import enqueue_delivery
from web.realtime.access import AgentSocket, visible_inboxes
from web.realtime.fanout import Subscriber
from web.realtime.presence import (
    HeartbeatThrottle,
    socket_closed,
    socket_heartbeat,
    socket_opened,
)
from web.realtime.session import SocketSession, parse_last_id
from web.routes_routing import answer_offer
from web.routing_kit import public_route, socket_route
from web.state import HubState
from web.widget_prechat import availability, form_to_show, inbox_form, visitor_is_known

_encoder = msgspec.json.Encoder()


class AgentReply(msgspec.Struct, tag="reply", tag_field="type", forbid_unknown_fields=True):
    conversation_id: int
    client_id: str
    text: str
    private: bool = False
    via: str | None = None  # channel account to reply on (hub/conversations/rules.py)


class AgentTyping(msgspec.Struct, tag="typing", tag_field="type", forbid_unknown_fields=True):
    conversation_id: int
    on: bool


class AgentPing(msgspec.Struct, tag="ping", tag_field="type", forbid_unknown_fields=True):
    pass


class AgentAccept(msgspec.Struct, tag="accept", tag_field="type", forbid_unknown_fields=True):
    work_item_id: int


class AgentDecline(msgspec.Struct, tag="decline", tag_field="type", forbid_unknown_fields=True):
    work_item_id: int


class WidgetVerifyCode(msgspec.Struct, tag="verify", tag_field="type",
                       forbid_unknown_fields=True):
    """The visitor's answer to a verification prompt (docs/identity.md)."""

    verification_id: int
    code: str


AgentFrame = AgentReply | AgentTyping | AgentPing | AgentAccept | AgentDecline
# The hub.access action each agent frame asks for, as the matching REST route does.
FRAME_ACTIONS: dict[type, str] = {
    AgentReply: "conversation.reply", AgentTyping: "conversation.view",
    AgentAccept: "routing.answer_offer", AgentDecline: "routing.answer_offer",
}
WidgetInbound = WidgetFrame | WidgetVerifyCode


def decode_frame(kind: Any, data: bytes) -> Any:
    """A client frame, decoded like every other input (hub.untrusted): malformed or too
    deep JSON is ``bad_json``; unstorable text, out-of-range integers and shape errors are
    ``bad_frame`` naming the field; an unknown ``type`` is ``unknown_type``."""
    try:
        return decode_json(data, kind, code="bad_frame")
    except BadInput as exc:
        if exc.code == "bad_frame" and "Invalid value" in exc.reason and "`$.type`" in exc.reason:
            raise BadInput(f"unknown frame type: {exc.reason}", code="unknown_type") from None
        raise


async def refuse(ws: WebSocket, exc: HubError) -> None:
    """Every refused handshake closes with 1008 (policy violation) and the reason."""
    await ws.accept()
    await ws.close(1008, exc.reason[:120])


def _state(ws: WebSocket) -> HubState:
    state: HubState = ws.app.state.hub
    return state


async def _start_point(state: HubState, last: StreamId | None) -> tuple[StreamId, bool, str]:
    """(after, reset, tail): where the gap starts and whether the client must reload."""
    tail = await state.fanout.tail_id()
    if last is None:
        return parse_stream_id(tail), False, tail
    if await state.fanout.gap_expired(last):
        return parse_stream_id(tail), True, tail
    return last, False, tail


@socket_route("socket.agent")
async def agent_socket(ws: WebSocket) -> None:
    state = _state(ws)
    try:
        check_same_origin(state, ws.headers.get("origin"))
        agent = await agent_from_connection(state, ws)
        last = parse_last_id(ws.query_params.get("last_id"))
    except HubError as exc:
        await refuse(ws, exc)
        return
    sub = Subscriber(queue_size=state.settings.ws_queue_size, inboxes=visible_inboxes(agent),
                     agent_id=agent.id)
    await ws.accept()
    state.fanout.add(sub)
    after, reset, tail = await _start_point(state, last)
    # limits: the composer counts against the server's own numbers (docs/frontend.md).
    prelude = [_encoder.encode({"type": "hello", "agent": agent, "last_id": tail,
                                "limits": {"text": actions.MAX_TEXT,
                                           "frame_bytes": state.settings.ws_max_frame}}).decode()]
    if reset:
        prelude.append('{"type":"reload","reason":"gap_expired"}')
    session = SocketSession(ws, state.fanout, sub)
    beat = HeartbeatThrottle()
    # The socket follows its agent's access from now on (web/realtime/access.py).
    access = state.access
    sock = AgentSocket(session, session_token_hash(ws), agent)

    async def handle(data: bytes) -> dict[str, Any] | None:
        frame = decode_frame(AgentFrame, data)
        if beat.due():  # any frame proves the socket alive; pings come every 20 s
            await socket_heartbeat(state.redis, state.settings, agent.id)
        if isinstance(frame, AgentPing):
            return {"type": "pong"}
        # Every action runs as the agent is now, exactly as a REST request would: a
        # removed inbox, a demotion or an ended session apply to the next frame.
        actor = await access.acting_agent(sock) if access else agent
        policy.require(actor, FRAME_ACTIONS[type(frame)])
        if isinstance(frame, AgentTyping):
            await _agent_typing(state, actor, frame)
            return None
        if isinstance(frame, AgentAccept | AgentDecline):
            # Same checks and atomic apply as the REST routes; errors become error frames.
            accepted = isinstance(frame, AgentAccept)
            if not 0 < frame.work_item_id < 2**63:
                raise BadInput("work_item_id: a work item id")
            try:
                await answer_offer(ws, state, actor, frame.work_item_id, accepted)
            except HubError as exc:
                return {"type": "error", "code": exc.code, "reason": exc.reason,
                        "work_item_id": frame.work_item_id}
            return {"type": "ack", "work_item_id": frame.work_item_id,
                    "outcome": "accepted" if accepted else "declined"}
        try:
            message, created = await actions.post_agent_reply(
                state.pool, state.publisher, actor, frame.conversation_id,
                text=frame.text, client_id=frame.client_id, private=frame.private,
                via=frame.via,
            )
        except HubError as exc:
            return {"type": "error", "code": exc.code, "reason": exc.reason,
                    "client_id": frame.client_id}
        if created:
            await enqueue_delivery(state.redis, state.settings, message)
        return {"type": "ack", "client_id": frame.client_id, "message_id": message.id}

    if access:
        access.register(sock)
        # A change announced between the handshake's read and registering was missed.
        await access.recheck([sock])
    # Presence: the socket's life is the agent's heartbeat (web/realtime/presence.py).
    await socket_opened(state.redis, state.settings, agent.id)
    try:
        await session.run(after=after, prelude=prelude, handle=handle)
    finally:
        if access:
            access.unregister(sock)
        await socket_closed(state.redis, state.settings, agent.id)


async def _agent_typing(state: HubState, agent: Agent, frame: AgentTyping) -> None:
    conv = await get_conversation(state.pool, agent, frame.conversation_id)
    author = Author(kind="agent", name=agent.name, agent_id=agent.id)
    await state.publisher.publish_ephemeral(actions.typing_event(conv, author, frame.on))


async def _widget_identity(state: HubState, ws: WebSocket, inbox_slug: str) -> Identity:
    q = ws.query_params
    inbox = await state.inbox(inbox_slug)
    if q.get("email") or q.get("hash"):
        return verify_user_hash(inbox.identity_secret, q.get("email", ""), q.get("hash", ""))
    token = q.get("token")
    if token:
        return verify_visitor_token(state.settings.secret_key, inbox_slug, token[:400])
    return new_visitor_identity()


def _prechat_claims(ws: WebSocket, identity: Identity) -> tuple[Identity, ...]:
    """A pre-chat email is an unverified claim: recorded for agents, never linked."""
    raw = ws.query_params.get("prechat_email", "")
    if not raw:
        return ()
    claim = normalise_identity("email", raw[:320])
    return () if claim == identity else (claim,)


async def _open_conversation(state: HubState, inbox: str, identity: Identity) -> int:
    return await open_conversation_of(state.pool, inbox, identity.kind, identity.value)


async def _pending_prompt(state: HubState, conv_id: int, identity: Identity
                         ) -> dict[str, Any] | None:
    if not conv_id:
        return None
    row = await pending_for_conversation(state.pool, conv_id, identity_key(identity))
    if row is None:
        return None
    prompt: dict[str, Any] = msgspec.to_builtins(verification_event(
        row, "sent" if row["delivery"] == "sent" else "requested"))
    return prompt


async def _answer_code(state: HubState, conv_id: int, identity: Identity,
                       frame: WidgetVerifyCode) -> dict[str, Any]:
    """Judge the typed code; refusals are error frames with the reason for the visitor."""
    try:
        if not conv_id or not 0 < frame.verification_id < 2**63:
            raise NotFound("no such verification", code="no_verification")
        return await answer_verification(
            state.pool, state.publisher, state.settings, verification_id=frame.verification_id,
            conversation_id=conv_id, claimant=identity_key(identity), code=frame.code)
    except HubError as exc:
        return {"type": "error", "code": exc.code, "reason": exc.reason,
                "verification_id": frame.verification_id}


@public_route("widget visitor; identity from a signed visitor token or user hash")
async def widget_socket(ws: WebSocket) -> None:
    state = _state(ws)
    slug = ws.query_params.get("inbox", "")
    try:
        inbox = await state.inbox(slug)
        if inbox.channel != "chat":
            raise BadInput("inbox is not a chat inbox")
        state.check_widget_origin(inbox, ws.headers.get("origin"))
        identity = await _widget_identity(state, ws, slug)
        claims = _prechat_claims(ws, identity)
        last = parse_last_id(ws.query_params.get("last_id"))
    except HubError as exc:
        await refuse(ws, exc)
        return
    bind_key = f"{slug}|{identity_key(identity)}"
    conv_id = await _open_conversation(state, slug, identity)
    sub = Subscriber(queue_size=state.settings.ws_queue_size, widget_bind_key=bind_key,
                     conversation_id=conv_id)
    await ws.accept()
    state.fanout.add(sub)
    after, reset, tail = await _start_point(state, last)
    # The open conversation may have been created between the lookup and registering.
    conv_id = conv_id or await _open_conversation(state, slug, identity)
    if conv_id:
        state.fanout.bind_widget(sub, conv_id)
    snapshot = None
    if last is None or reset:
        snapshot = (await list_messages(state.pool, conv_id, include_private=False)
                    if conv_id else [])
    # Pre-chat form and away state (docs/frontend.md): a new visitor of an inbox with an
    # enabled form must send their first message through POST /api/v1/widget/prechat.
    form = await inbox_form(ws.app, state, slug)
    avail = await availability(ws.app, state, slug)
    gate = form_to_show(form, avail)
    needs_form = (gate is not None and identity.kind == "visitor"
                  and not await visitor_is_known(state, slug, identity))
    hello = {
        "type": "hello",
        "limits": {"text": chat.MAX_TEXT},  # the composer's limit (docs/frontend.md)
        "visitor_token": issue_visitor_token(state.settings.secret_key, slug, identity),
        "conversation_id": conv_id or None,
        "inbox": {"slug": inbox.slug, "name": inbox.name, "greeting": inbox.greeting},
        "last_id": tail, "reset": reset, "messages": snapshot,
        "prechat": public_form(gate) if needs_form and gate is not None else None,
        "availability": avail,
        # A code prompt still open for this visitor (a reload must not lose it).
        "verification": await _pending_prompt(state, conv_id, identity),
    }
    session = SocketSession(ws, state.fanout, sub)

    async def handle(data: bytes) -> dict[str, Any] | None:
        frame = decode_frame(WidgetInbound, data)
        if isinstance(frame, WidgetPing):
            return {"type": "pong"}
        if isinstance(frame, WidgetTyping):
            if sub.conversation_id:
                conv = await get_conversation(state.pool, None, sub.conversation_id)
                await state.publisher.publish_ephemeral(actions.typing_event(
                    conv, Author(kind="contact", name=conv.contact_name), frame.on))
            return None
        if isinstance(frame, WidgetVerifyCode):
            return await _answer_code(state, sub.conversation_id, identity, frame)
        assert isinstance(frame, WidgetMessage)
        nonlocal needs_form
        if needs_form:  # unless the form was submitted meanwhile (another tab)
            needs_form = not await visitor_is_known(state, slug, identity)
        if needs_form:
            return {"type": "error", "code": "prechat_required", "client_id": frame.client_id,
                    "reason": "fill in the pre-chat form first (POST /api/v1/widget/prechat)"}
        try:
            env = envelope_from_widget(slug, identity, frame, datetime.now(UTC))
            if claims:
                env = msgspec.structs.replace(env, claims=claims)
        except HubError as exc:
            return {"type": "error", "code": exc.code, "reason": exc.reason,
                    "client_id": frame.client_id}
        stream_id = await state.ingest.submit(env)
        return {"type": "ack", "client_id": frame.client_id, "stream_id": stream_id}

    await session.run(after=after, prelude=[encode(hello).decode()], handle=handle)
