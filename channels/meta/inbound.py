"""Meta webhooks (Messenger ``object=page``, Instagram ``object=instagram``, WhatsApp Cloud
``object=whatsapp_business_account``) to envelopes, status reports and read/delivery
watermarks. Pure: no I/O.

Meta adds fields freely, so unknown fields are accepted; the fields we use are typed and
a wrong type is a 400. Unknown *objects* are a 400 (the app subscribed to something we
do not serve). Unknown event kinds inside a known object (reactions, standby, template
status, referrals ...) are skipped and counted: Meta retries non-2xx answers for hours
and then disables the subscription, which would also stop the messages we do serve.
Echoes of our own sends (``is_echo``) are dropped.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from channels.media import MAX_ATTACHMENTS, media_ref, split_media, with_notes
from channels.phones import to_e164
from hub.contacts.rules.identity import identity_key, normalise_identity
from hub.errors import BadInput, Forbidden
from hub.messaging.delivery_rules import StatusReport, Watermark
from hub.schema import AttachmentRef, Channel, Envelope, Identity
from hub.untrusted import decode_json

MAX_TEXT = 20_000
OBJECT_CHANNEL: dict[str, Channel] = {
    "page": "messenger", "instagram": "instagram", "whatsapp_business_account": "whatsapp",
}


class _Id(msgspec.Struct):
    id: str


class _AttachmentPayload(msgspec.Struct):
    url: str = ""


class _Attachment(msgspec.Struct):
    type: str
    payload: _AttachmentPayload | None = None


class _Message(msgspec.Struct):
    mid: str
    text: str = ""
    is_echo: bool = False
    is_deleted: bool = False
    attachments: list[_Attachment] = []


class _Delivery(msgspec.Struct):
    mids: list[str] = []
    watermark: int = 0


class _Read(msgspec.Struct):
    watermark: int = 0
    mid: str = ""


class _Postback(msgspec.Struct):
    title: str = ""
    payload: str = ""
    mid: str = ""


class _Messaging(msgspec.Struct):
    sender: _Id
    recipient: _Id
    timestamp: int = 0
    message: _Message | None = None
    delivery: _Delivery | None = None
    read: _Read | None = None
    postback: _Postback | None = None


class _Change(msgspec.Struct):
    field: str
    value: dict[str, Any] = {}


class _Entry(msgspec.Struct):
    id: str
    time: int = 0
    messaging: list[_Messaging] = []
    changes: list[_Change] = []
    standby: list[Any] = []


class _Payload(msgspec.Struct):
    object: str
    entry: list[_Entry]


class _WAMeta(msgspec.Struct):
    phone_number_id: str
    display_phone_number: str = ""


class _WAProfile(msgspec.Struct):
    name: str = ""


class _WAContact(msgspec.Struct):
    wa_id: str
    profile: _WAProfile | None = None


class _WAText(msgspec.Struct):
    body: str


class _WAMedia(msgspec.Struct):
    id: str
    mime_type: str = ""
    caption: str = ""
    filename: str = ""
    # Not in Meta's documented webhook (the size comes with the media URL lookup), but
    # honoured when present so an over-limit item is flagged at ingest.
    file_size: int | None = None


class _WAMessage(msgspec.Struct, rename={"sender": "from"}):
    sender: str
    id: str
    type: str
    timestamp: str = ""
    group_id: str = ""
    text: _WAText | None = None
    image: _WAMedia | None = None
    video: _WAMedia | None = None
    audio: _WAMedia | None = None
    document: _WAMedia | None = None
    sticker: _WAMedia | None = None
    interactive: dict[str, Any] | None = None
    button: dict[str, Any] | None = None
    location: dict[str, Any] | None = None


class _WAError(msgspec.Struct):
    code: int = 0
    title: str = ""
    message: str = ""


class _WAStatus(msgspec.Struct):
    id: str
    status: str
    recipient_id: str = ""
    timestamp: str = ""
    errors: list[_WAError] = []


class _WAValue(msgspec.Struct):
    metadata: _WAMeta
    messaging_product: str = "whatsapp"
    contacts: list[_WAContact] = []
    messages: list[_WAMessage] = []
    statuses: list[_WAStatus] = []


# Messenger/Instagram name a kind, not a MIME type; the CDN's Content-Type is the truth
# when the agent downloads it. The kind is enough for the inbox to pick a player.
_MESSENGER_TYPES = {"image": "image/*", "video": "video/*", "audio": "audio/*",
                    "file": "application/octet-stream"}
_WA_STATUS = {"sent": "sent", "delivered": "delivered", "read": "read", "played": "read",
              "failed": "failed"}


@dataclass(frozen=True, slots=True)
class MetaAccount:
    inbox: str
    channel: str  # messenger | instagram | whatsapp
    external_id: str  # page id, IG account id, or WhatsApp phone_number_id
    app_secret: str


@dataclass(slots=True)
class MetaBatch:
    envelopes: list[Envelope] = field(default_factory=list)
    reports: list[StatusReport] = field(default_factory=list)
    marks: list[Watermark] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def _ms(ts: int) -> datetime:
    return datetime.fromtimestamp(ts / 1000, UTC)


def _social(channel: str, account: str, user: str) -> Identity:
    if not user:
        raise BadInput("sender.id: missing")
    return normalise_identity(channel, f"{account}:{user}")


def _text(value: str) -> str:
    if len(value) > MAX_TEXT:
        raise BadInput(f"text: at most {MAX_TEXT} characters")
    return value.strip()


def _messaging_event(acc: MetaAccount, ev: _Messaging, now: datetime, limit: int,
                     out: MetaBatch) -> None:
    if ev.message is not None:
        msg = ev.message
        if msg.is_echo:
            out.ignored.append("echo")
            return
        if msg.is_deleted:
            out.ignored.append("deleted")
            return
        sender = _social(acc.channel, acc.external_id, ev.sender.id)
        if len(msg.attachments) > MAX_ATTACHMENTS:
            raise BadInput(f"attachments: at most {MAX_ATTACHMENTS}")
        items: list[AttachmentRef | str] = []
        for n, att in enumerate(msg.attachments):
            url = att.payload.url if att.payload else ""
            if url:
                ctype = _MESSENGER_TYPES.get(att.type, "application/octet-stream")
                items.append(media_ref("url:" + url, f"{att.type}{n}", ctype, None, limit))
            else:
                items.append(f"[{att.type} attachment]")
        refs, notes = split_media(items)
        text = with_notes(_text(msg.text), notes)
        if not text and not refs:
            out.ignored.append("empty message")
            return
        out.envelopes.append(Envelope(
            channel=acc.channel,  # type: ignore[arg-type]
            channel_account=acc.inbox, provider_id=msg.mid, sender=sender, text=text,
            attachments=refs, received_at=now,
        ))
    elif ev.postback is not None:
        pb = ev.postback
        sender = _social(acc.channel, acc.external_id, ev.sender.id)
        text = _text(pb.title or pb.payload)
        if not text:
            out.ignored.append("empty postback")
            return
        pid = "postback:" + (pb.mid or f"{ev.sender.id}:{ev.timestamp}")
        out.envelopes.append(Envelope(
            channel=acc.channel,  # type: ignore[arg-type]
            channel_account=acc.inbox, provider_id=pid, sender=sender, text=text,
            received_at=now, attributes={"postback_payload": pb.payload[:1000]},
        ))
    elif ev.delivery is not None:
        for mid in ev.delivery.mids:
            out.reports.append(StatusReport("meta", mid, "delivered"))
        if ev.delivery.watermark:
            who = identity_key(_social(acc.channel, acc.external_id, ev.sender.id))
            out.marks.append(Watermark(acc.inbox, who, "delivered", _ms(ev.delivery.watermark)))
    elif ev.read is not None:
        if ev.read.mid:  # Instagram names the message
            out.reports.append(StatusReport("meta", ev.read.mid, "read"))
        if ev.read.watermark:  # Messenger gives a time
            who = identity_key(_social(acc.channel, acc.external_id, ev.sender.id))
            out.marks.append(Watermark(acc.inbox, who, "read", _ms(ev.read.watermark)))
    else:
        out.ignored.append("messaging event kind")


def _wa_text(m: _WAMessage, limit: int) -> tuple[str, list[AttachmentRef | str]]:
    if m.type == "text" and m.text is not None:
        return m.text.body, []
    media = {"image": m.image, "video": m.video, "audio": m.audio, "document": m.document,
             "sticker": m.sticker}.get(m.type)
    if media is not None:
        ext = mimetypes.guess_extension(media.mime_type.split(";")[0].strip()) or ".bin"
        ref = media_ref("whatsapp-media:" + media.id, media.filename or f"{m.type}{ext}",
                        media.mime_type, media.file_size, limit)
        return media.caption, [ref]
    if m.type == "interactive" and m.interactive:
        reply = m.interactive.get("button_reply") or m.interactive.get("list_reply") or {}
        return str(reply.get("title", "")), []
    if m.type == "button" and m.button:
        return str(m.button.get("text", "")), []
    if m.type == "location" and m.location:
        loc = m.location
        return (f"[location {loc.get('latitude')},{loc.get('longitude')}"
                f" {loc.get('name', '')}]".strip()), []
    return f"[unsupported WhatsApp message type {m.type[:40]!r}]", []


def _whatsapp_change(accounts: Mapping[str, MetaAccount], secret: str, value: _WAValue,
                     now: datetime, limit: int, out: MetaBatch) -> None:
    acc = accounts.get(value.metadata.phone_number_id)
    if acc is None or acc.channel != "whatsapp":
        out.ignored.append("unknown phone_number_id")
        return
    if acc.app_secret != secret:
        raise Forbidden("event for an account of another app", code="bad_signature")
    names = {c.wa_id: c.profile.name for c in value.contacts if c.profile}
    for m in value.messages:
        if m.group_id:
            out.ignored.append("group message")
            continue
        if m.type in ("reaction", "system", "request_welcome", "ephemeral"):
            out.ignored.append(f"whatsapp {m.type}")
            continue
        if not m.id:
            raise BadInput("messages[].id: missing")
        sender = normalise_identity("whatsapp", to_e164(m.sender, field="messages[].from"))
        text, items = _wa_text(m, limit)
        refs, notes = split_media(items)
        out.envelopes.append(Envelope(
            channel="whatsapp", channel_account=acc.inbox, provider_id=m.id, sender=sender,
            sender_name=names.get(m.sender, "")[:200],
            text=with_notes(_text(text), notes), attachments=refs, received_at=now,
        ))
    for s in value.statuses:
        status = _WA_STATUS.get(s.status)
        if status is None:
            out.ignored.append(f"whatsapp status {s.status[:40]}")
            continue
        error = ""
        if s.errors:
            e = s.errors[0]
            error = f"WhatsApp {e.code}: {e.title or e.message}"[:500]
        elif status == "failed":
            error = "WhatsApp: failed"
        out.reports.append(StatusReport("meta", s.id, status, error))  # type: ignore[arg-type]


def parse_meta(body: bytes, accounts: Mapping[str, MetaAccount], secret: str,
               now: datetime, *, media_limit: int) -> MetaBatch:
    """Decode a verified webhook body. ``accounts``: external id -> account; ``secret``:
    the app secret that verified the signature (an entry may only name that app's
    accounts)."""
    # The customer's text is kept as sent (the ingest path makes it storable).
    payload = decode_json(body, _Payload, keep_text=True)
    channel = OBJECT_CHANNEL.get(payload.object)
    if channel is None:
        raise BadInput(f"unknown object {payload.object[:40]!r}", code="unknown_event")
    out = MetaBatch()
    for entry in payload.entry:
        if channel == "whatsapp":
            for change in entry.changes:
                if change.field != "messages":
                    out.ignored.append(f"field {change.field[:40]}")
                    continue
                try:
                    value = msgspec.convert(change.value, _WAValue)
                except msgspec.ValidationError as exc:
                    raise BadInput(f"invalid change value: {exc}", code="invalid_body") from None
                _whatsapp_change(accounts, secret, value, now, media_limit, out)
            continue
        acc = accounts.get(entry.id)
        if acc is None or acc.channel != channel:
            out.ignored.append(f"unknown {channel} account")
            continue
        if acc.app_secret != secret:
            raise Forbidden("event for an account of another app", code="bad_signature")
        for ev in entry.messaging:
            _messaging_event(acc, ev, now, media_limit, out)
        if entry.standby or entry.changes:
            out.ignored.append("standby/changes")
    return out
