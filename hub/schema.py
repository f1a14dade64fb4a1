"""Typed, versioned wire schema: the envelope on the ingest stream, the domain
records, and the closed set of events on the events stream and the sockets.

One encoding (msgspec JSON) everywhere. Unknown fields are rejected.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from hub.access import Role, sees_inbox
from hub.channels_table import DEFAULT_CHANNEL, ChannelIdentityKind
from hub.channels_table import Channel as Channel  # re-exported: the wire type
from hub.storable import storable
from hub.voice.rules.callbacks import CallbackRequest, CallbackStatus
from hub.voice.rules.callstate import CallSignal, CallState

SCHEMA_VERSION = 1

Direction = Literal["in", "out"]
# Addresses (email, phone), the widget's visitors, API sources, and the channels whose
# senders have ids of their own (hub/channels_table.py).
IdentityKind = Literal["email", "phone", "visitor", "external", ChannelIdentityKind]
ConversationStatus = Literal["open", "pending", "resolved"]
# "ringing": an inbound PBX call ringing at agents' phones; the PBX distributes it, so
# the router leaves it alone until it is answered (assigned) or missed (a queued callback).
# "bot": held by a bot (``WorkItem.bot_id``); not routed until the bot hands it off
# (back to "queued" in the target queue). docs/bots.md.
WorkItemStatus = Literal["queued", "offered", "assigned", "wrapup", "completed", "cancelled",
                         "ringing", "bot"]
MessageStatus = Literal["received", "queued", "sending", "sent", "delivered", "read", "failed"]
AuthorKind = Literal["contact", "agent", "bot", "system"]
Presence = Literal["online", "away", "busy", "offline"]


class Base(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=False, kw_only=True):
    pass


class Identity(Base, kw_only=True):
    kind: IdentityKind
    value: str


# "too_large": over the media size limit (declared at ingest, or found while the agent
# media proxy streamed it); "expired": the provider no longer has it (404/410). Either
# way the reference is kept and the inbox shows a label instead of fetching it.
AttachmentState = Literal["available", "too_large", "expired"]


# omit_defaults: "available" is not written, so envelopes and rows stay readable by a
# process of the previous version (unknown fields are refused) during a rolling upgrade.
class AttachmentRef(Base, kw_only=True, omit_defaults=True):
    """An attachment stored out of band; the stream only carries the reference."""

    ref: str
    filename: str
    content_type: str
    size: int
    state: AttachmentState = "available"


class ThreadHints(Base, kw_only=True):
    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    reply_token: str | None = None
    # Set by hub actions for outbound items that target a known conversation.
    conversation_id: int | None = None


class Author(Base, kw_only=True):
    kind: AuthorKind
    name: str = ""
    agent_id: int | None = None


class PrechatConsent(Base, kw_only=True):
    given: bool
    text: str
    version: str
    at: datetime


class PrechatAnswers(Base, kw_only=True):
    """A widget visitor's validated pre-chat form (hub/contacts/rules/prechat.py). ``email``/``phone``
    are what the visitor TYPED: unverified claims, never identities that link."""

    name: str = ""
    email: str = ""
    phone: str = ""
    custom: dict[str, str | bool] = {}
    consent: PrechatConsent | None = None


class Envelope(Base, tag="envelope", tag_field="type", kw_only=True):
    """What every channel adapter produces; one entry on the ingest stream.

    Idempotency key: (channel, channel_account, provider_id).
    """

    v: int = SCHEMA_VERSION
    channel: Channel
    channel_account: str
    provider_id: str
    direction: Direction = "in"
    sender: Identity
    # Other identities of the same sender that the channel verified (a widget user's
    # validated email next to its visitor id, a WhatsApp number next to its id): linked.
    linked: tuple[Identity, ...] = ()
    # Identities the sender merely typed in (a pre-chat email): recorded, never linked.
    claims: tuple[Identity, ...] = ()
    sender_name: str = ""
    recipients: tuple[Identity, ...] = ()
    subject: str = ""
    text: str = ""
    html: str = ""
    attachments: tuple[AttachmentRef, ...] = ()
    thread: ThreadHints = msgspec.field(default_factory=ThreadHints)
    received_at: datetime
    raw_ref: str = ""
    attributes: dict[str, str] = {}
    # Voice: one call event (CTI / provider status callback) or a callback request.
    call: CallSignal | None = None
    callback: CallbackRequest | None = None
    # Widget pre-chat form answers sent with the visitor's first message.
    prechat: PrechatAnswers | None = None


class Agent(Base, kw_only=True):
    id: int
    name: str
    email: str
    role: Role
    inboxes: list[str] = []

    def may_see_inbox(self, inbox: str) -> bool:
        return sees_inbox(self.role, self.inboxes, inbox)


class Contact(Base, kw_only=True):
    id: int
    name: str
    email: str | None = None
    phone: str | None = None
    locale: str = "en"
    tier: str = "standard"
    identities: list[Identity] = []
    created_at: datetime


class Message(Base, kw_only=True):
    id: int
    conversation_id: int
    direction: Direction
    author: Author
    text: str
    html: str = ""
    private: bool = False
    channel: Channel
    provider_id: str
    status: MessageStatus = "received"
    # Why delivery failed (or is being retried), as the provider said it; shown to agents.
    status_error: str = ""
    attachments: list[AttachmentRef] = []
    created_at: datetime
    # Channel facts for the agent (email: "email.quoted", "email.malformed", ...).
    attributes: dict[str, str] = {}
    # The stored raw provider payload (email: the .eml), served by an authenticated route.
    raw_ref: str = ""


class Conversation(Base, kw_only=True):
    id: int
    inbox: str
    channel: Channel
    contact_id: int
    contact_name: str = ""
    # "kind:value" of the identity that opened it; binds a widget socket to it.
    contact_identity: str = ""
    status: ConversationStatus = "open"
    assignee_id: int | None = None
    # Who holds it, for display (agents see "Assigned to Maya", never an id).
    assignee_name: str = ""
    subject: str = ""
    created_at: datetime
    last_message_at: datetime | None = None


class WorkItem(Base, kw_only=True):
    id: int
    conversation_id: int
    queue: str
    channel: Channel
    status: WorkItemStatus = "queued"
    priority: int = 0
    agent_id: int | None = None
    created_at: datetime
    bot_id: int | None = None


# ---- events: a closed set, tagged by "type" -------------------------------------


class Event(Base, tag_field="type", kw_only=True):
    v: int = SCHEMA_VERSION


class MessageCreated(Event, tag="message.created", kw_only=True):
    inbox: str
    message: Message


class MessageStatusChanged(Event, tag="message.status", kw_only=True):
    inbox: str
    conversation_id: int
    message_id: int
    status: MessageStatus
    error: str = ""


class ConversationCreated(Event, tag="conversation.created", kw_only=True):
    conversation: Conversation


class ConversationAssigned(Event, tag="conversation.assigned", kw_only=True):
    inbox: str
    conversation_id: int
    agent_id: int | None
    by_agent_id: int | None = None
    agent_name: str = ""  # the new assignee's name, for display


class ConversationStatusChanged(Event, tag="conversation.status", kw_only=True):
    inbox: str
    conversation_id: int
    status: ConversationStatus
    by_agent_id: int | None = None


class WorkItemCreated(Event, tag="workitem.created", kw_only=True):
    inbox: str
    work_item: WorkItem


class WorkItemUpdated(Event, tag="workitem.updated", kw_only=True):
    inbox: str
    work_item: WorkItem


class TypingChanged(Event, tag="typing", kw_only=True):
    inbox: str
    conversation_id: int
    author: Author
    on: bool


class AgentPresenceChanged(Event, tag="agent.presence", kw_only=True):
    agent_id: int
    presence: Presence


class QueueStats(Event, tag="queue.stats", kw_only=True):
    """A queue's board numbers (supervisors only; coalesced, not per change)."""

    queue: str
    inbox: str
    depth: int  # waiting: queued or offered, nobody holds them
    oldest_wait_s: float
    offered: int = 0  # of the waiting, with a pending offer
    assigned: int = 0  # held by an agent, wrap-up included
    agents_available: int = 0  # online members with room for one more item
    agents_online: int = 0


OfferOutcome = Literal["accepted", "declined", "timed_out", "rescinded"]


class WorkItemOffered(Event, tag="workitem.offered", kw_only=True):
    """A work item is reserved for ``agent_id`` until ``expires_at`` (the countdown).
    Sent only to that agent and to supervisors."""

    inbox: str
    conversation_id: int
    work_item_id: int
    agent_id: int
    queue: str
    channel: Channel
    offered_at: datetime
    expires_at: datetime
    contact_name: str = ""
    subject: str = ""
    preview: str = ""


class WorkItemOfferEnded(Event, tag="workitem.offer_ended", kw_only=True):
    """An offer ended (the agent's countdown stops). Sent to that agent and supervisors."""

    inbox: str
    conversation_id: int
    work_item_id: int
    agent_id: int
    outcome: OfferOutcome


class WorkItemAccepted(Event, tag="workitem.accepted", kw_only=True):
    """An agent accepted an offer and now holds the item (the hook channels react to,
    e.g. voice bridges the callback)."""

    inbox: str
    conversation_id: int
    work_item_id: int
    agent_id: int
    queue: str
    channel: Channel


class WorkItemReassigned(Event, tag="workitem.reassigned", kw_only=True):
    """A held or waiting item went straight to ``to_agent_id``: a manual pick or a
    supervisor's reassign."""

    inbox: str
    conversation_id: int
    work_item_id: int
    from_agent_id: int | None
    to_agent_id: int
    reason: Literal["pick", "reassign"]
    by_agent_id: int | None = None
    channel: Channel = DEFAULT_CHANNEL


class WorkItemTransferred(Event, tag="workitem.transferred", kw_only=True):
    """The item went back to routing in ``to_queue`` (its escalation chain restarts)."""

    inbox: str
    conversation_id: int
    work_item_id: int
    from_queue: str
    to_queue: str
    from_agent_id: int | None
    reason: str
    by_agent_id: int | None = None


class WorkItemEscalated(Event, tag="workitem.escalated", kw_only=True):
    inbox: str
    conversation_id: int
    work_item_id: int
    queue: str
    step: int
    queues: list[str]


class CallInfo(Base, kw_only=True):
    """A call record as agents see it (docs/voice.md)."""

    id: int
    inbox: str
    call_id: str
    direction: Literal["in", "out"]
    state: CallState
    from_number: str = ""
    to_number: str = ""
    queue: str = ""
    cause: str = ""
    agent_id: int | None = None
    conversation_id: int | None = None
    contact_id: int | None = None
    ivr: dict[str, str] = {}
    started_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: int | None = None
    disposition: str = ""
    notes: str = ""


class CallPopped(Event, kw_only=True):
    """Screen pop: sent only to ``agent_id`` (and supervisors); ``agent_id`` None means
    the PBX named no known agent, so the voice inbox's agents get it."""

    inbox: str
    agent_id: int | None = None
    call: CallInfo
    # The caller's context: contact, accounts, orders, open conversations (or a
    # prefilled new-case form for an unknown caller; see docs/voice.md).
    context: dict[str, object] = {}
    known_caller: bool = False
    script: dict[str, object] | None = None


class CallRinging(CallPopped, tag="call.ringing", kw_only=True):
    pass


class CallAnswered(CallPopped, tag="call.answered", kw_only=True):
    pass


class CallUpdated(Event, tag="call.updated", kw_only=True):
    inbox: str
    call: CallInfo


class CallbackUpdated(Event, tag="callback.updated", kw_only=True):
    inbox: str
    callback_id: int
    conversation_id: int
    work_item_id: int | None = None
    status: CallbackStatus
    reason: str = ""          # a short message for agents (hub/voice/rules/callbacks.py)
    agent_id: int | None = None
    reason_code: str = ""     # its stable code, e.g. pbx_unreachable


class ContactMerged(Event, tag="contact.merged", kw_only=True):
    """``merged_id`` now points at ``survivor_id``; its conversations moved there."""

    survivor_id: int
    merged_id: int
    conversation_ids: list[int] = []
    by_agent_id: int | None = None


class ContactSplit(Event, tag="contact.split", kw_only=True):
    """Identities (and the conversations they opened) moved to ``new_contact_id``."""

    contact_id: int
    new_contact_id: int
    conversation_ids: list[int] = []
    by_agent_id: int | None = None


VerificationStatus = Literal["requested", "sent", "undeliverable", "verified", "wrong_code",
                             "expired", "locked", "superseded"]


class VerificationUpdated(Event, tag="verification.updated", kw_only=True):
    """A one-time-code verification of a claim changed (docs/identity.md "Verifying a
    claim"). Goes to the conversation's widget too, so it names nothing the visitor did
    not type: never whether the address belongs to a customer, nor who that is."""

    inbox: str
    conversation_id: int
    verification_id: int
    contact_id: int
    kind: str
    target: str  # masked: "a***@example.com"
    status: VerificationStatus
    attempts_left: int
    expires_at: datetime
    reason: str = ""
    by_agent_id: int | None = None


class BotChanged(Event, tag="bot.changed", kw_only=True):
    """A bot was disabled, enabled, updated or had its token rotated (docs/bots.md). Its
    sockets re-check their token now and again at ``recheck_at`` (the end of a rotation's
    grace period) and close when it is no longer valid. Supervisors only."""

    bot_id: int
    active: bool
    change: Literal["disabled", "enabled", "updated", "token_rotated", "secret_rotated"]
    recheck_at: datetime | None = None
    by_agent_id: int | None = None


AnyEvent = (
    MessageCreated
    | MessageStatusChanged
    | ConversationCreated
    | ConversationAssigned
    | ConversationStatusChanged
    | WorkItemCreated
    | WorkItemUpdated
    | TypingChanged
    | AgentPresenceChanged
    | QueueStats
    | WorkItemOffered
    | WorkItemOfferEnded
    | WorkItemAccepted
    | WorkItemReassigned
    | WorkItemTransferred
    | WorkItemEscalated
    | CallRinging
    | CallAnswered
    | CallUpdated
    | CallbackUpdated
    | ContactMerged
    | ContactSplit
    | BotChanged
    | VerificationUpdated
)

EVENT_TYPES: tuple[type[Event], ...] = (
    MessageCreated, MessageStatusChanged, ConversationCreated, ConversationAssigned,
    ConversationStatusChanged, WorkItemCreated, WorkItemUpdated, TypingChanged,
    AgentPresenceChanged, QueueStats, WorkItemOffered, WorkItemOfferEnded, WorkItemAccepted,
    WorkItemReassigned, WorkItemTransferred, WorkItemEscalated,
    CallRinging, CallAnswered, CallUpdated, CallbackUpdated,
    ContactMerged, ContactSplit, BotChanged, VerificationUpdated,
)

_event_decoder = msgspec.json.Decoder(AnyEvent)
_envelope_decoder = msgspec.json.Decoder(Envelope)
_encoder = msgspec.json.Encoder()


def encode(obj: object) -> bytes:
    return _encoder.encode(obj)


def decode_event(data: bytes | str) -> AnyEvent:
    event: AnyEvent = _event_decoder.decode(data)
    return event


def storable_envelope(env: Envelope) -> Envelope:
    """``env`` with every string, nested ones included, made storable (hub/storable.py:
    U+0000 and lone surrogates become U+FFFD)."""
    clean: Envelope = msgspec.convert(
        storable(msgspec.to_builtins(env, builtin_types=(datetime,))), Envelope)
    return clean


_NUL_ESCAPE = b"\\u0000"


def encode_envelope(env: Envelope) -> bytes:
    """The one encoding of an envelope for the ingest stream (every producer uses it).

    Every string in it is storable, so an entry acknowledged to a client can never be
    refused by Postgres for its characters and dead-lettered after the ack. The common
    case costs one substring search: msgspec writes U+0000 as ``\\u0000`` and refuses
    lone surrogates, and only then is the envelope cleaned and encoded again."""
    try:
        data = _encoder.encode(env)
    except UnicodeEncodeError:  # a lone surrogate (json.loads lets "\ud800" through)
        return _encoder.encode(storable_envelope(env))
    if _NUL_ESCAPE in data:
        return _encoder.encode(storable_envelope(env))
    return data


def decode_envelope(data: bytes | str) -> Envelope:
    """Strict decode. An entry written before encode_envelope existed (or replayed from
    the dead letters) may still hold ``\\u0000``: it is cleaned the same way."""
    envelope: Envelope = _envelope_decoder.decode(data)
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if _NUL_ESCAPE in raw:
        envelope = storable_envelope(envelope)
    return envelope


def event_inbox(event: AnyEvent) -> str:
    """The inbox an event belongs to ('' for hub-wide events)."""
    if isinstance(event, ConversationCreated):
        return event.conversation.inbox
    return getattr(event, "inbox", "")


def event_conversation(event: AnyEvent) -> int:
    """The conversation an event belongs to (0 when none)."""
    if isinstance(event, MessageCreated):
        return event.message.conversation_id
    if isinstance(event, ConversationCreated):
        return event.conversation.id
    if isinstance(event, WorkItemCreated | WorkItemUpdated):
        return event.work_item.conversation_id
    if isinstance(event, CallRinging | CallAnswered | CallUpdated):
        return event.call.conversation_id or 0
    return int(getattr(event, "conversation_id", 0) or 0)
