"""Telegram ``Update`` objects to envelopes. Pure: no I/O.

Only private chats are conversations (a group message answered to the user would be a
DM the user never asked for). ``message`` and ``edited_message`` become messages;
``callback_query`` (an inline button press) becomes a message with the button data.
Every other update kind is skipped with a 200: Telegram redelivers a refused update and
holds back every later one until it is accepted.

Idempotency key: ``update_id`` (Telegram's own; unique per bot, i.e. per inbox)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import msgspec

from channels.media import media_ref, split_media, with_notes
from hub.contacts.rules.identity import normalise_identity
from hub.errors import BadInput
from hub.schema import AttachmentRef, Envelope
from hub.untrusted import decode_json

MAX_TEXT = 20_000


class _User(msgspec.Struct):
    id: int
    is_bot: bool = False
    first_name: str = ""
    last_name: str = ""
    username: str = ""
    language_code: str = ""


class _Chat(msgspec.Struct):
    id: int
    type: str = "private"


class _File(msgspec.Struct):
    file_id: str
    file_unique_id: str = ""
    file_size: int | None = None
    file_name: str = ""
    mime_type: str = ""


class _Message(msgspec.Struct):
    message_id: int
    date: int
    chat: _Chat
    sender: _User | None = msgspec.field(default=None, name="from")
    text: str = ""
    caption: str = ""
    photo: list[_File] = []
    document: _File | None = None
    voice: _File | None = None
    audio: _File | None = None
    video: _File | None = None
    sticker: _File | None = None


class _Callback(msgspec.Struct):
    id: str
    sender: _User = msgspec.field(name="from")
    data: str = ""
    message: _Message | None = None


class _Update(msgspec.Struct):
    update_id: int
    message: _Message | None = None
    edited_message: _Message | None = None
    callback_query: _Callback | None = None


@dataclass(frozen=True, slots=True)
class TelegramUpdate:
    update_id: int
    envelope: Envelope | None
    ignored: str = ""


def _name(u: _User) -> str:
    full = f"{u.first_name} {u.last_name}".strip()
    return (full or (f"@{u.username}" if u.username else ""))[:200]


def _media(m: _Message, limit: int) -> list[AttachmentRef | str]:
    items: list[AttachmentRef | str] = []
    if m.photo:
        # Sizes ascend; keep the largest one within the limit (thumbnails are tiny).
        fitting = [p for p in m.photo if (p.file_size or 0) <= limit] or m.photo[:1]
        p = fitting[-1]
        items.append(media_ref("telegram-file:" + p.file_id, "photo.jpg", "image/jpeg",
                               p.file_size, limit))
    for kind, f in (("document", m.document), ("voice", m.voice), ("audio", m.audio),
                    ("video", m.video), ("sticker", m.sticker)):
        if f is not None:
            items.append(media_ref("telegram-file:" + f.file_id, f.file_name or kind,
                                   f.mime_type, f.file_size, limit))
    return items


def update_from_telegram(inbox: str, bot_id: str, body: bytes, now: datetime, *,
                         media_limit: int) -> TelegramUpdate:
    # The customer's text is kept as sent (the ingest path makes it storable).
    update = decode_json(body, _Update, keep_text=True)
    uid = update.update_id

    def skip(reason: str) -> TelegramUpdate:
        return TelegramUpdate(uid, None, reason)

    attrs: dict[str, str] = {}
    if update.callback_query is not None:
        cb = update.callback_query
        if cb.message is not None and cb.message.chat.type != "private":
            return skip("callback in a group chat")
        user, text, items = cb.sender, cb.data, []
        attrs["callback_query_id"] = cb.id[:100]
    else:
        m = update.message or update.edited_message
        if m is None:
            return skip("update kind")
        if m.chat.type != "private":
            return skip(f"{m.chat.type[:20]} chat")
        if m.sender is None:
            return skip("message without sender")
        user, text, items = m.sender, m.text or m.caption, _media(m, media_limit)
        attrs["message_id"] = str(m.message_id)
        if update.edited_message is not None:
            attrs["edited"] = "true"
            text = f"(edited) {text}"
    if user.is_bot:
        return skip("message from a bot")
    if len(text) > MAX_TEXT:
        raise BadInput(f"text: at most {MAX_TEXT} characters")
    refs, notes = split_media(items)
    text = with_notes(text.strip(), notes)
    if not text and not refs:
        return skip("message without text or media")
    if user.language_code:
        attrs["language"] = user.language_code[:20]
    return TelegramUpdate(uid, Envelope(
        channel="telegram", channel_account=inbox, provider_id=f"update:{uid}",
        # Scoped by bot like the other social ids (docs/identity.md); linking the same
        # user across two of our bots is the identity layer's decision.
        sender=normalise_identity("telegram", f"{bot_id}:{user.id}"),
        sender_name=_name(user), text=text, attachments=refs, received_at=now,
        attributes=attrs,
    ))
