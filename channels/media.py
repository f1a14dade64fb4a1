"""Inbound media, stored by reference. Pure.

The hub never puts media bytes in the ingest stream or Postgres: an attachment is an
``AttachmentRef`` naming where the provider keeps the file (``url:<https url>`` for
Twilio/Messenger/Instagram, ``whatsapp-media:<media id>`` for WhatsApp Cloud,
``telegram-file:<file_id>`` for Telegram). Fetching happens later, on demand, with the
inbox's credentials (web/routes_media.py, channels/media_fetch.py). A declared size over
the limit is kept as a reference flagged ``state="too_large"``: the inbox labels it and
the proxy never fetches it."""

from __future__ import annotations

from typing import Literal

from hub.schema import AttachmentRef

MAX_ATTACHMENTS = 10
RefKind = Literal["url", "whatsapp-media", "telegram-file"]
_KINDS: tuple[RefKind, ...] = ("url", "whatsapp-media", "telegram-file")


def media_ref(ref: str, filename: str, content_type: str, size: int | None,
              limit: int) -> AttachmentRef:
    """The reference; flagged ``too_large`` when the provider declared ``size`` over
    ``limit`` (``size`` 0 means not declared)."""
    ctype = (content_type or "application/octet-stream")[:100]
    name = (filename or "attachment")[:200]
    over = size is not None and size > limit
    return AttachmentRef(ref=ref[:2000], filename=name, content_type=ctype, size=size or 0,
                         state="too_large" if over else "available")


def parse_ref(ref: str) -> tuple[RefKind, str] | None:
    """``(kind, value)`` of a provider media reference; None for anything else (e.g. the
    ``blob:sha256:`` refs of email attachments)."""
    kind, sep, value = ref.partition(":")
    for k in _KINDS:
        if sep and kind == k and value:
            return k, value
    return None


def split_media(items: list[AttachmentRef | str]) -> tuple[tuple[AttachmentRef, ...], str]:
    refs = tuple(i for i in items if isinstance(i, AttachmentRef))
    notes = "\n".join(i for i in items if isinstance(i, str))
    return refs, notes


def with_notes(text: str, notes: str) -> str:
    return f"{text}\n{notes}".strip() if notes else text
