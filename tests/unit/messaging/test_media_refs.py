"""Media references at ingest (pure): the ref kinds, the size limit flagging instead of
dropping, and what each adapter records (file names, types, declared sizes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import msgspec

from channels.media import media_ref, parse_ref
from channels.meta.inbound import MetaAccount, parse_meta
from channels.twilio.inbound import envelope_from_twilio, parse_form
from hub.schema import AttachmentRef
from tests.fixtures.fake_providers import messenger_event, whatsapp_value

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
WA, PAGE = "106540352242922", "100000000000001"
ACCOUNTS = {WA: MetaAccount("whatsapp", "whatsapp", WA, "s"),
            PAGE: MetaAccount("messenger", "messenger", PAGE, "s")}


def test_parse_ref_kinds_and_non_provider_refs() -> None:
    assert parse_ref("url:https://api.twilio.com/x") == ("url", "https://api.twilio.com/x")
    assert parse_ref("whatsapp-media:123") == ("whatsapp-media", "123")
    assert parse_ref("telegram-file:AgAD") == ("telegram-file", "AgAD")
    for other in ("blob:sha256:abcd", "url:", "whatsapp-media", "", "ftp:x", "URL:x"):
        assert parse_ref(other) is None, other


def test_media_ref_flags_a_declared_size_over_the_limit() -> None:
    ok = media_ref("telegram-file:a", "", "", 10, 100)
    assert (ok.state, ok.size, ok.filename, ok.content_type) == (
        "available", 10, "attachment", "application/octet-stream")
    big = media_ref("telegram-file:b", "x.pdf", "application/pdf", 101, 100)
    assert (big.state, big.size) == ("too_large", 101)
    assert media_ref("url:https://x/y", "n", "image/png", None, 100).state == "available"


def test_attachment_state_round_trips_and_defaults_for_old_rows() -> None:
    old = msgspec.json.decode(b'[{"ref":"url:https://x","filename":"a","content_type":'
                              b'"image/png","size":0}]', type=list[AttachmentRef])
    assert old[0].state == "available"
    ref = AttachmentRef(ref="r", filename="f", content_type="c", size=1, state="expired")
    assert msgspec.json.decode(msgspec.json.encode(ref), type=AttachmentRef) == ref
    # "available" is not written: a previous version's process can still read the ref.
    ok = AttachmentRef(ref="r", filename="f", content_type="c", size=1)
    assert b"state" not in msgspec.json.encode(ok)


def test_twilio_media_names_carry_an_extension() -> None:
    body = ("MessageSid=MM" + "a" * 32 + "&From=%2B14155550100&To=%2B15555550199&Body="
            "&NumMedia=2&MediaUrl0=https%3A%2F%2Fapi.twilio.com%2Fm%2F0"
            "&MediaContentType0=image%2Fjpeg&MediaUrl1=https%3A%2F%2Fapi.twilio.com%2Fm%2F1"
            "&MediaContentType1=application%2Fx-unknown")
    env = envelope_from_twilio("twilio-sms", "sms", parse_form(body.encode()), NOW,
                               media_limit=1000).envelope
    assert [a.filename for a in env.attachments] == ["media0.jpg", "media1"]
    assert all(a.state == "available" and a.size == 0 for a in env.attachments)


def test_whatsapp_declared_file_size_and_messenger_kinds() -> None:
    body = json.dumps(whatsapp_value(WA, messages=[{
        "from": "16505551234", "id": "wamid.V", "type": "video", "timestamp": "1",
        "video": {"id": "M1", "mime_type": "video/mp4", "file_size": 5000}}])).encode()
    [env] = parse_meta(body, ACCOUNTS, "s", NOW, media_limit=1000).envelopes
    assert (env.attachments[0].state, env.attachments[0].size) == ("too_large", 5000)
    assert env.text == ""
    body = json.dumps(messenger_event(PAGE, "P", "m_1", "", attachments=[
        {"type": "audio", "payload": {"url": "https://cdn.example/a.mp4"}},
        {"type": "file", "payload": {"url": "https://cdn.example/f"}}])).encode()
    [env] = parse_meta(body, ACCOUNTS, "s", NOW, media_limit=1000).envelopes
    assert [a.content_type for a in env.attachments] == ["audio/*", "application/octet-stream"]
