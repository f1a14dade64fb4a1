"""Pure tests: the wire schema round-trips every event type, rejects unknown fields and
types; identity normalisation, tokens, stream ids and widget routing. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from channels.api import ApiInboundMessage, envelope_from_api, hash_api_token, verify_api_token
from channels.chat import (
    WidgetMessage,
    envelope_from_widget,
    issue_visitor_token,
    verify_user_hash,
    verify_visitor_token,
)
from hub.contacts.rules.identity import identity_key, normalise_identity
from hub.errors import BadInput, Unauthorized
from hub.outbox import widget_route
from hub.schema import (
    EVENT_TYPES,
    AgentPresenceChanged,
    Author,
    BotChanged,
    CallAnswered,
    CallbackUpdated,
    CallInfo,
    CallRinging,
    CallUpdated,
    ContactMerged,
    ContactSplit,
    Conversation,
    ConversationAssigned,
    ConversationCreated,
    ConversationStatusChanged,
    Envelope,
    Identity,
    Message,
    MessageCreated,
    MessageStatusChanged,
    PrechatAnswers,
    PrechatConsent,
    QueueStats,
    TypingChanged,
    VerificationUpdated,
    WorkItem,
    WorkItemAccepted,
    WorkItemCreated,
    WorkItemEscalated,
    WorkItemOffered,
    WorkItemOfferEnded,
    WorkItemReassigned,
    WorkItemTransferred,
    WorkItemUpdated,
    decode_envelope,
    decode_event,
    encode,
)
from hub.streamids import format_stream_id, parse_stream_id

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
MSG = Message(id=1, conversation_id=2, direction="in", author=Author(kind="contact", name="A"),
              text="hi", channel="chat", provider_id="p", created_at=NOW)
CONV = Conversation(id=2, inbox="web", channel="chat", contact_id=3, created_at=NOW,
                    contact_identity="visitor:abc")
ITEM = WorkItem(id=4, conversation_id=2, queue="support", channel="chat", created_at=NOW)

CALL = CallInfo(id=5, inbox="phone", call_id="c-1", direction="in", state="ringing",
                from_number="+493055571600", ivr={"account": "AC-1"}, started_at=NOW)

SAMPLES = [
    MessageCreated(inbox="web", message=MSG),
    MessageStatusChanged(inbox="web", conversation_id=2, message_id=1, status="failed",
                         error="HTTP 500"),
    ConversationCreated(conversation=CONV),
    ConversationAssigned(inbox="web", conversation_id=2, agent_id=None, by_agent_id=1),
    ConversationStatusChanged(inbox="web", conversation_id=2, status="resolved"),
    WorkItemCreated(inbox="web", work_item=ITEM),
    WorkItemUpdated(inbox="web", work_item=ITEM),
    TypingChanged(inbox="web", conversation_id=2, author=Author(kind="agent", agent_id=1),
                  on=True),
    AgentPresenceChanged(agent_id=1, presence="away"),
    QueueStats(queue="support", inbox="web", depth=3, oldest_wait_s=12.5),
    WorkItemOffered(inbox="web", conversation_id=2, work_item_id=4, agent_id=1,
                    queue="support", channel="chat", offered_at=NOW, expires_at=NOW,
                    contact_name="A", preview="hi"),
    WorkItemOfferEnded(inbox="web", conversation_id=2, work_item_id=4, agent_id=1,
                       outcome="timed_out"),
    WorkItemAccepted(inbox="web", conversation_id=2, work_item_id=4, agent_id=1,
                     queue="support", channel="voice"),
    WorkItemReassigned(inbox="web", conversation_id=2, work_item_id=4, from_agent_id=None,
                       to_agent_id=1, reason="pick", by_agent_id=1),
    WorkItemTransferred(inbox="web", conversation_id=2, work_item_id=4, from_queue="support",
                        to_queue="sales", from_agent_id=1, reason="supervisor"),
    WorkItemEscalated(inbox="web", conversation_id=2, work_item_id=4, queue="support", step=1,
                      queues=["support", "sales"]),
    CallRinging(inbox="phone", agent_id=1, call=CALL, context={"contact": {"id": 3}},
                known_caller=True, script={"id": 1, "name": "x"}),
    CallAnswered(inbox="phone", agent_id=None, call=CALL),
    CallUpdated(inbox="phone", call=CALL),
    CallbackUpdated(inbox="phone", callback_id=1, conversation_id=2, work_item_id=4,
                    status="dialing"),
    ContactMerged(survivor_id=3, merged_id=9, conversation_ids=[2, 5], by_agent_id=1),
    ContactSplit(contact_id=3, new_contact_id=11, conversation_ids=[5], by_agent_id=4),
    BotChanged(bot_id=2, active=True, change="token_rotated", recheck_at=NOW, by_agent_id=1),
    VerificationUpdated(inbox="web", conversation_id=2, verification_id=7, contact_id=3,
                        kind="email", target="a***@example.com", status="wrong_code",
                        attempts_left=3, expires_at=NOW, reason="", by_agent_id=1),
]


def test_samples_cover_every_event_type():
    assert {type(s) for s in SAMPLES} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_event_round_trip(event):
    data = encode(event)
    assert decode_event(data) == event
    assert msgspec.json.decode(data)["type"] == event.__struct_config__.tag


def test_unknown_event_type_and_unknown_fields_are_rejected():
    with pytest.raises(msgspec.ValidationError):
        decode_event(b'{"type":"message.exploded","v":1}')
    data = msgspec.json.decode(encode(SAMPLES[0]))
    data["surprise"] = 1
    with pytest.raises(msgspec.ValidationError):
        decode_event(msgspec.json.encode(data))
    data = msgspec.json.decode(encode(SAMPLES[0]))
    data["message"]["surprise"] = 1
    with pytest.raises(msgspec.ValidationError):
        decode_event(msgspec.json.encode(data))


def test_envelope_with_prechat_answers_round_trips():
    env = Envelope(channel="chat", channel_account="web", provider_id="x",
                   sender=Identity(kind="visitor", value="abc"), text="hi", received_at=NOW,
                   claims=(Identity(kind="email", value="a@b.io"),),
                   prechat=PrechatAnswers(name="A", email="a@b.io", custom={
                       "topic": "Billing", "newsletter": True}, consent=PrechatConsent(
                       given=True, text="ok", version="v1", at=NOW)))
    assert decode_envelope(encode(env)) == env


def test_envelope_round_trip_and_strictness():
    env = Envelope(channel="chat", channel_account="web", provider_id="x",
                   sender=Identity(kind="visitor", value="abc"), text="hi", received_at=NOW)
    assert decode_envelope(encode(env)) == env
    bad = msgspec.json.decode(encode(env))
    bad["channel"] = "pigeon"
    with pytest.raises(msgspec.ValidationError):
        decode_envelope(msgspec.json.encode(bad))


@pytest.mark.parametrize(("kind", "raw", "want"), [
    ("email", "  Anna@Example.COM ", "anna@example.com"),
    ("phone", "+49 (30) 1234-5678", "+493012345678"),
    ("visitor", "abc_DEF-1", "abc_DEF-1"),
])
def test_identity_normalisation(kind, raw, want):
    assert normalise_identity(kind, raw).value == want


@pytest.mark.parametrize(("kind", "raw"), [
    ("email", "no-at-sign"), ("phone", "030 1234"), ("phone", "+0123456789"),
    ("visitor", "has space"), ("fax", "123"), ("external", ""),
])
def test_identity_rejects(kind, raw):
    with pytest.raises(BadInput):
        normalise_identity(kind, raw)


def test_visitor_token_round_trip_and_forgery():
    ident = Identity(kind="visitor", value="abc123")
    token = issue_visitor_token("k" * 32, "web", ident)
    assert verify_visitor_token("k" * 32, "web", token) == ident
    with pytest.raises(Unauthorized):
        verify_visitor_token("k" * 32, "other", token)  # bound to its inbox
    with pytest.raises(Unauthorized):
        verify_visitor_token("x" * 32, "web", token)  # other key
    _body, _, sig = token.partition(".")
    forged = issue_visitor_token("x" * 32, "web", Identity(kind="visitor", value="victim"))
    with pytest.raises(Unauthorized):
        verify_visitor_token("k" * 32, "web", forged.split(".")[0] + "." + sig)
    with pytest.raises(Unauthorized):
        verify_visitor_token("k" * 32, "web", "!!!.???")


def test_user_hash_identity_validation():
    import hashlib
    import hmac

    good = hmac.new(b"s3cret", b"anna@example.com", hashlib.sha256).hexdigest()
    assert verify_user_hash("s3cret", "Anna@example.com", good).value == "anna@example.com"
    with pytest.raises(Unauthorized):
        verify_user_hash("s3cret", "eve@example.com", good)
    with pytest.raises(Unauthorized):
        verify_user_hash(None, "anna@example.com", good)


def test_widget_envelope_scopes_provider_id_per_visitor():
    a = Identity(kind="visitor", value="a")
    b = Identity(kind="visitor", value="b")
    frame = WidgetMessage(client_id="same", text=" hi ")
    ea = envelope_from_widget("web", a, frame, NOW)
    eb = envelope_from_widget("web", b, frame, NOW)
    assert ea.provider_id != eb.provider_id and ea.text == "hi"
    assert ea.sender_name.startswith("Visitor ")
    with pytest.raises(BadInput):
        envelope_from_widget("web", a, WidgetMessage(client_id="x", text=" "), NOW)


def test_api_token_and_envelope():
    h = hash_api_token("tok")
    verify_api_token(h, "Bearer tok")
    for header in ("", "Bearer", "Basic tok", "Bearer nope"):
        with pytest.raises(Unauthorized):
            verify_api_token(h, header)
    env = envelope_from_api("api", ApiInboundMessage(source_id="c1", text="x", message_id="m1",
                                                     phone="+4930123456"), NOW)
    assert identity_key(env.sender) == "phone:+4930123456" and env.provider_id == "m1"


def test_stream_ids():
    assert parse_stream_id("1700000000000-5") == (1700000000000, 5)
    assert parse_stream_id(b"12") == (12, 0)
    assert format_stream_id((1, 2)) == "1-2"
    assert parse_stream_id("10-1") > parse_stream_id("9-99")  # numeric, not lexical
    for bad in ("", "x-1", "1-x", "-1", "1-2-3", "9" * 50):
        with pytest.raises(BadInput):
            parse_stream_id(bad)


def test_widget_route_hides_private_and_internal_events():
    assert widget_route(SAMPLES[0]) == "c"
    private = MessageCreated(inbox="web", message=msgspec.structs.replace(MSG, private=True))
    assert widget_route(private) == ""
    assert widget_route(ConversationCreated(conversation=CONV)) == "b:web|visitor:abc"
    assert widget_route(SAMPLES[3]) == ""  # assignment is internal
    customer_typing = TypingChanged(inbox="web", conversation_id=2,
                                    author=Author(kind="contact"), on=True)
    assert widget_route(customer_typing) == ""
    assert widget_route(SAMPLES[7]) == "c"


def test_audience_routes_keep_offers_to_their_agent_and_supervisors():
    offered = next(s for s in SAMPLES if isinstance(s, WorkItemOffered))
    assert widget_route(offered) == "a:1"
    ended = next(s for s in SAMPLES if isinstance(s, WorkItemOfferEnded))
    assert widget_route(ended) == "a:1"
    assert widget_route(next(s for s in SAMPLES if isinstance(s, QueueStats))) == "a:"
