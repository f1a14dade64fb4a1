"""Inbound media, stored by reference. Pure.

The hub never puts media bytes in the ingest stream or Postgres: an attachment is an
``AttachmentRef`` naming where the provider keeps the file (``url:<https url>`` for
Twilio/Messenger/Instagram, ``whatsapp-media:<media id>`` for WhatsApp Cloud,
``telegram-file:<file_id>`` for Telegram). Fetching happens later, on demand, with the
inbox's credentials. A declared size over the limit is not referenced: the message keeps
a visible note instead, so the agent knows something was left out."""

from __future__ import annotations

from hub.schema import AttachmentRef

MAX_ATTACHMENTS = 10


def media_ref(ref: str, filename: str, content_type: str, size: int | None,
              limit: int) -> AttachmentRef | str:
    """The reference, or the note to add to the text when ``size`` is over ``limit``."""
    ctype = (content_type or "application/octet-stream")[:100]
    name = (filename or "attachment")[:200]
    if size is not None and size > limit:
        return (f"[attachment {name} ({ctype}, {size} bytes) not kept:"
                f" over the {limit} byte limit]")
    return AttachmentRef(ref=ref[:2000], filename=name, content_type=ctype, size=size or 0)


def split_media(items: list[AttachmentRef | str]) -> tuple[tuple[AttachmentRef, ...], str]:
    refs = tuple(i for i in items if isinstance(i, AttachmentRef))
    notes = "\n".join(i for i in items if isinstance(i, str))
    return refs, notes


def with_notes(text: str, notes: str) -> str:
    return f"{text}\n{notes}".strip() if notes else text
