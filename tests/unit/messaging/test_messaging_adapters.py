"""Pure tests of the messaging adapters: each provider's sample payload from
protocols.md (Twilio's captured inbound SMS, the Messenger text event, the WhatsApp Cloud
text message and statuses, Telegram's official test update) to envelopes; every
rejection path; echoes; media by reference with the size limit; status mapping and the
never-backwards rule; recipients; templates and the WhatsApp window. No I/O."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.meta.inbound import MetaAccount, parse_meta
from channels.phones import to_e164
from channels.recipients import recipient_for
from channels.telegram.inbound import update_from_telegram
from channels.twilio.inbound import (
    envelope_from_twilio,
    is_status_callback,
    parse_form,
    routing_address,
    single,
    status_from_twilio,
)
from hub.errors import BadInput, Forbidden
from hub.messaging.delivery_rules import StatusReport, best_status, may_move
from hub.messaging.reply_policy import render_template, window_open
from tests.fixtures.fake_providers import (
    instagram_event,
    messenger_event,
    telegram_message,
    whatsapp_status,
    whatsapp_text,
    whatsapp_value,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
LIMIT = 1_000_000
SID = "SM2f0c0000000000000000000000000010"
# protocols.md §1.1: real captured inbound payload (anonymised), SIDs filled to 34 chars.
TWILIO_SAMPLE = (
    b"ToCountry=GB&ToState=&SmsMessageSid=SM2f0c0000000000000000000000000010&NumMedia=0"
    b"&ToCity=&FromZip=&SmsSid=SM2f0c0000000000000000000000000010&FromState=&SmsStatus=received"
    b"&FromCity=&Body=Ack&FromCountry=GB&To=%2B447700900000&ToZip=&NumSegments=1"
    b"&MessageSid=SM2f0c0000000000000000000000000010&AccountSid=ACxxxx&From=%2B447700900513"
    b"&ApiVersion=2010-04-01"
)


def twilio(body: bytes, channel: str = "sms"):
    return envelope_from_twilio("sms", channel, parse_form(body), NOW, media_limit=LIMIT)


def test_twilio_captured_inbound_sample() -> None:
    params = parse_form(TWILIO_SAMPLE)
    p = single(params)
    assert not is_status_callback(p) and routing_address(p) == "+447700900000"
    msg = twilio(TWILIO_SAMPLE)
    env = msg.envelope
    assert (env.channel, env.channel_account, env.provider_id) == ("sms", "sms", SID)
    assert (env.sender.kind, env.sender.value, env.text) == ("phone", "+447700900513", "Ack")
    assert env.attributes["To"] == "+447700900000" and msg.account_sid == "ACxxxx"


def test_twilio_whatsapp_and_mms() -> None:
    body = ("MessageSid=MM" + "a" * 32 + "&From=whatsapp%3A%2B14155238886&To=whatsapp%3A%2B1555"
            "&Body=&NumMedia=2&ProfileName=Ana&WaId=14155238886"
            "&MediaUrl0=https%3A%2F%2Fapi.twilio.com%2Fm%2F0&MediaContentType0=image%2Fjpeg"
            "&MediaUrl1=https%3A%2F%2Fapi.twilio.com%2Fm%2F1&MediaContentType1=audio%2Fogg")
    env = twilio(body.encode(), "whatsapp").envelope
    assert (env.sender.kind, env.sender.value, env.sender_name) == (
        "whatsapp", "+14155238886", "Ana")
    assert [(a.ref, a.content_type) for a in env.attachments] == [
        ("url:https://api.twilio.com/m/0", "image/jpeg"),
        ("url:https://api.twilio.com/m/1", "audio/ogg")]
    with pytest.raises(BadInput):  # a WhatsApp sender on an SMS inbox
        twilio(body.encode(), "sms")


@pytest.mark.parametrize(("body", "why"), [
    (b"MessageSid=SM1&From=%2B447700900513&Body=x", "MessageSid"),
    (b"From=%2B447700900513&Body=x", "MessageSid"),
    (("MessageSid=SM" + "0" * 32 + "&Body=x").encode(), "From"),
    (("MessageSid=SM" + "0" * 32 + "&From=12&Body=x").encode(), "From"),
    (("MessageSid=SM" + "0" * 32 + "&From=%2B447700900513&Body=").encode(), "empty"),
    (("MessageSid=SM" + "0" * 32 + "&From=%2B447700900513&Body=x&NumMedia=two").encode(),
     "NumMedia"),
    (("MessageSid=SM" + "0" * 32 + "&From=%2B447700900513&Body=x&NumMedia=1").encode(),
     "MediaUrl0"),
    (("MessageSid=SM" + "0" * 32 + "&From=%2B447700900513&Body=" + "x" * 1601).encode(),
     "Body"),
    (("MessageSid=SM" + "0" * 32 + "&MessageSid=SM" + "1" * 32).encode(), "repeated"),
])
def test_twilio_rejections(body: bytes, why: str) -> None:
    with pytest.raises(BadInput, match=why):
        twilio(body)


@pytest.mark.parametrize("body", [b"a=1&b", b"a=1&&b=2", b"Body=%FF", b"\xff\xfe=1",
                                  "&".join(f"k{i}=v" for i in range(201)).encode()])
def test_twilio_malformed_form_encoding(body: bytes) -> None:
    with pytest.raises(BadInput) as err:
        parse_form(body)
    assert err.value.code == "bad_form"


def test_twilio_status_callbacks() -> None:
    base = "SmsSid={s}&SmsStatus={st}&MessageStatus={st}&To=%2B1555&MessageSid={s}" \
           "&AccountSid=AC1&From=%2B1666&ApiVersion=2010-04-01"
    sid = "SM" + "b" * 32
    for raw, ours in [("queued", "queued"), ("sent", "sent"), ("delivered", "delivered"),
                      ("read", "read"), ("undelivered", "failed"), ("accepted", "queued")]:
        params = parse_form(base.format(s=sid, st=raw).encode())
        assert is_status_callback(single(params)) and routing_address(single(params)) == "+1666"
        report = status_from_twilio(params)
        assert report is not None and report == StatusReport(
            "twilio", sid, ours, report.error)  # type: ignore[arg-type]
    failed = status_from_twilio(parse_form((base.format(s=sid, st="undelivered")
                                            + "&ErrorCode=30003").encode()))
    assert failed is not None and failed.error == "Twilio 30003: unreachable destination handset"
    assert status_from_twilio(parse_form(base.format(s=sid, st="received").encode())) is None
    with pytest.raises(BadInput):
        status_from_twilio(parse_form(base.format(s=sid, st="exploded").encode()))


PAGE, IG, WA = "100000000000001", "17841400000000001", "106540352242922"
ACCOUNTS = {PAGE: MetaAccount("messenger", "messenger", PAGE, "s3"),
            IG: MetaAccount("instagram", "instagram", IG, "s3"),
            WA: MetaAccount("whatsapp", "whatsapp", WA, "s3")}


def meta(payload: object, secret: str = "s3"):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return parse_meta(body, ACCOUNTS, secret, NOW, media_limit=LIMIT)


def test_messenger_sample_and_echo() -> None:
    batch = meta(messenger_event(PAGE, "PSID", "mid.1457764197618:41d102a3e1ae206a38",
                                 "hello, world!", quick_reply={"payload": "X"}))
    [env] = batch.envelopes
    assert (env.channel, env.channel_account, env.provider_id, env.text) == (
        "messenger", "messenger", "mid.1457764197618:41d102a3e1ae206a38", "hello, world!")
    assert (env.sender.kind, env.sender.value) == ("messenger", f"{PAGE}:PSID")
    echo = meta(messenger_event(PAGE, PAGE, "m_echo", "our own reply", is_echo=True,
                                app_id=1))
    assert echo.envelopes == [] and echo.ignored == ["echo"]


def test_messenger_delivery_read_postback_and_attachments() -> None:
    payload = messenger_event(PAGE, "PSID", "m_1", "", attachments=[
        {"type": "image", "payload": {"url": "https://cdn.example/1.jpg"}},
        {"type": "fallback"}])
    [env] = meta(payload).envelopes
    assert [a.ref for a in env.attachments] == ["url:https://cdn.example/1.jpg"]
    assert env.text == "[fallback attachment]"
    ev = {"sender": {"id": "PSID"}, "recipient": {"id": PAGE}, "timestamp": 1}
    batch = meta({"object": "page", "entry": [{"id": PAGE, "messaging": [
        {**ev, "delivery": {"mids": ["m_OUT1"], "watermark": 1700000000000}},
        {**ev, "read": {"watermark": 1700000001000}},
        {**ev, "postback": {"title": "Talk to a human", "payload": "HUMAN", "mid": "m_pb"}},
        {**ev, "reaction": {"reaction": "love", "action": "react", "mid": "m_1"}},
    ]}]})
    assert batch.reports == [StatusReport("meta", "m_OUT1", "delivered")]
    assert [(m.status, m.contact_identity) for m in batch.marks] == [
        ("delivered", f"messenger:{PAGE}:PSID"), ("read", f"messenger:{PAGE}:PSID")]
    assert [(e.provider_id, e.text) for e in batch.envelopes] == [
        ("postback:m_pb", "Talk to a human")]
    assert batch.ignored == ["messaging event kind"]


def test_instagram_message_and_read() -> None:
    [env] = meta(instagram_event(IG, "IGSID", "aWdfZAG1", "hi from IG")).envelopes
    assert (env.channel, env.sender.value) == ("instagram", f"{IG}:IGSID")
    batch = meta({"object": "instagram", "entry": [{"id": IG, "messaging": [
        {"sender": {"id": "IGSID"}, "recipient": {"id": IG}, "read": {"mid": "m_OUT2"}}]}]})
    assert batch.reports == [StatusReport("meta", "m_OUT2", "read")]


def test_whatsapp_sample_statuses_and_media() -> None:
    wamid = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    [env] = meta(whatsapp_text(WA, "16505551234", wamid,
                               "Does it come in another color?")).envelopes
    assert (env.channel, env.provider_id, env.sender.kind, env.sender.value,
            env.sender_name) == ("whatsapp", wamid, "whatsapp", "+16505551234", "Sheena Nelson")
    failed = meta(whatsapp_status(WA, "wamid.OUT", "failed", "16505551234", errors=[
        {"code": 131047, "title": "Re-engagement message"}]))
    assert failed.reports == [StatusReport("meta", "wamid.OUT", "failed",
                                           "WhatsApp 131047: Re-engagement message")]
    image = meta(whatsapp_value(WA, messages=[{
        "from": "16505551234", "id": "wamid.IMG", "type": "image", "timestamp": "1",
        "image": {"id": "MEDIA1", "mime_type": "image/jpeg", "caption": "broken router"}}]))
    [img] = image.envelopes
    assert img.text == "broken router" and img.attachments[0].ref == "whatsapp-media:MEDIA1"
    other = meta(whatsapp_value(WA, messages=[{"from": "16505551234", "id": "wamid.R",
                                               "type": "reaction", "reaction": {}}]))
    assert other.envelopes == [] and other.ignored == ["whatsapp reaction"]


@pytest.mark.parametrize(("payload", "error"), [
    (b"{not json", "bad_json"),
    ({"object": "page"}, "invalid_body"),                                  # missing entry
    ({"object": "page", "entry": "x"}, "invalid_body"),                    # wrong type
    ({"object": "page", "entry": [{"id": PAGE, "messaging": [
        {"sender": {"id": "P"}, "recipient": {"id": PAGE}, "timestamp": "soon"}]}]},
     "invalid_body"),
    ({"object": "page", "entry": [{"id": PAGE, "messaging": [
        {"sender": {"id": "P"}, "recipient": {"id": PAGE}, "message": {"text": "x"}}]}]},
     "invalid_body"),                                                       # no mid
    ({"object": "user", "entry": []}, "unknown_event"),
    (whatsapp_value(WA, messages=[{"from": "12", "id": "w", "type": "text",
                                   "text": {"body": "x"}}]), "bad_input"),  # bad phone
    (whatsapp_value(WA, statuses=[{"status": "sent"}]), "invalid_body"),    # no id
])
def test_meta_rejections(payload: object, error: str) -> None:
    with pytest.raises(BadInput) as err:
        meta(payload)
    assert err.value.code == error


def test_meta_event_for_another_apps_account_is_refused() -> None:
    with pytest.raises(Forbidden):
        meta(messenger_event(PAGE, "PSID", "m_x", "hi"), secret="other-app-secret")
    unknown = meta(messenger_event("999", "PSID", "m_x", "hi"))
    assert unknown.envelopes == [] and unknown.ignored == ["unknown messenger account"]


def test_telegram_official_test_update() -> None:
    body = (b'{"update_id":10000,"message":{"date":1441645532,"chat":{"last_name":"Test Lastname",'
            b'"id":1111111,"first_name":"Test","username":"Test"},"message_id":1365,"from":'
            b'{"last_name":"Test Lastname","id":1111111,"first_name":"Test","username":"Test"},'
            b'"text":"/start"}}')
    update = update_from_telegram("telegram", "7000000001", body, NOW, media_limit=LIMIT)
    env = update.envelope
    assert env is not None and update.update_id == 10000
    assert (env.provider_id, env.sender.kind, env.sender.value, env.sender_name, env.text) == (
        "update:10000", "telegram", "7000000001:1111111", "Test Test Lastname", "/start")


def test_telegram_kinds_media_and_limits() -> None:
    def parse(update: object):
        return update_from_telegram("telegram", "7000000001", json.dumps(update).encode(), NOW,
                                    media_limit=1000)
    group = telegram_message(1, 5, "hi")
    group["message"]["chat"]["type"] = "group"
    assert parse(group).envelope is None
    assert parse({"update_id": 2, "my_chat_member": {}}).ignored == "update kind"
    photo = telegram_message(3, 5, "", caption="look", photo=[
        {"file_id": "small", "file_size": 100}, {"file_id": "big", "file_size": 5000}])
    env = parse(photo).envelope
    assert env is not None and env.text == "look"
    assert [a.ref for a in env.attachments] == ["telegram-file:small"]  # big is over 1000
    doc = telegram_message(4, 5, "", document={"file_id": "d", "file_size": 2000,
                                              "file_name": "bill.pdf"})
    env = parse(doc).envelope
    # Over the limit: kept as a reference flagged too_large (never fetched), not dropped.
    assert env is not None and len(env.attachments) == 1
    big = env.attachments[0]
    assert (big.ref, big.filename, big.size, big.state) == (
        "telegram-file:d", "bill.pdf", 2000, "too_large")
    assert env.text == ""
    edited = {"update_id": 6, "edited_message": telegram_message(6, 5, "fixed")["message"]}
    env = parse(edited).envelope
    assert env is not None and env.text == "(edited) fixed" and env.attributes["edited"]
    for bad in (b"[]", b'{"update_id":"x"}', b'{"message":{}}', b"{",
                json.dumps(telegram_message(7, 5, "x" * 20_001)).encode()):
        with pytest.raises(BadInput):
            update_from_telegram("telegram", "7000000001", bad, NOW, media_limit=LIMIT)


def test_phones_e164() -> None:
    assert to_e164("+1 (202) 555-0143") == "+12025550143"
    assert to_e164("16505551234") == "+16505551234"
    for bad in ("", "+491", "hello", "+" + "9" * 30):
        with pytest.raises(BadInput):
            to_e164(bad)


STATUSES = ["queued", "sending", "sent", "delivered", "read", "failed"]


def test_never_backwards() -> None:
    assert may_move("sent", "delivered") and may_move("delivered", "read")
    assert not may_move("delivered", "sent") and not may_move("read", "delivered")
    assert may_move("sent", "failed") and not may_move("delivered", "failed")
    assert not any(may_move("failed", s) for s in STATUSES)
    assert not may_move("received", "read")  # inbound messages have no delivery status


@given(st.sampled_from(STATUSES[:3]), st.lists(st.sampled_from(STATUSES), max_size=6))
def test_reports_in_any_order_end_in_the_same_status(start: str, reports: list[str]) -> None:
    """Applying reports one at a time, in every order, ends where the batch rule ends."""
    finals = set()
    for order in itertools.permutations(reports):
        status = start
        for r in order:
            if may_move(status, r):
                status = r
        finals.add(status)
    batch = best_status(start, [(r, "") for r in reports])
    expected = batch[0] if batch else start
    # Sequential application can differ only when failed and a delivery proof race;
    # delivery proof wins in the batch rule and whenever it comes last or first.
    if not ({"failed"} <= set(reports) and {"delivered", "read"} & set(reports)):
        assert finals == {expected}
    assert expected in finals


def test_recipients() -> None:
    assert recipient_for("sms", "+1555", ["visitor:x", "phone:+447700900513"]) == "+447700900513"
    assert recipient_for("messenger", PAGE, [f"messenger:{PAGE}:PSID"]) == "PSID"
    with pytest.raises(BadInput):  # a PSID of another Page is useless here
        recipient_for("messenger", PAGE, ["messenger:999:PSID"])
    assert recipient_for("telegram", "7", ["email:a@b.c", "telegram:7:1111111"]) == "1111111"
    with pytest.raises(BadInput):  # another bot's chat
        recipient_for("telegram", "7", ["telegram:8:1111111"])
    assert recipient_for("whatsapp", WA, ["whatsapp:+16505551234"]) == "+16505551234"


def test_templates_and_window() -> None:
    assert render_template("Hi {{1}}, order {{2}}", ["Ana", "ORD-1"]) == "Hi Ana, order ORD-1"
    for params in ([], ["a"], ["a", "b", "c"], ["a", ""], ["a", "b\nc"]):
        with pytest.raises(BadInput):
            render_template("Hi {{1}}, order {{2}}", params)
    assert window_open(NOW - timedelta(hours=23, minutes=59), NOW)
    assert not window_open(NOW - timedelta(hours=24), NOW)
    assert not window_open(None, NOW)
