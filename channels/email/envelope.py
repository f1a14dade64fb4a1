"""ParsedEmail → hub Envelope (what the email adapter puts on the ingest stream)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from channels.email.autoreply import suppression_reason
from channels.email.limits import MAX_TEXT_CHARS
from channels.email.parse import ParsedEmail
from channels.email.trim import trim_reply
from hub.schema import Envelope, Identity, ThreadHints

CHANNEL: Literal["email"] = "email"
MAX_PROVIDER_ID = 500
MAX_ENVELOPE_REFERENCES = 50


def provider_id(parsed: ParsedEmail) -> str:
    """The Message-ID; a hash of the raw bytes when it is missing or absurdly long."""
    mid = parsed.message_id
    if mid and len(mid) <= MAX_PROVIDER_ID:
        return mid
    return f"sha256:{parsed.raw_sha256}"


def sender_identity(parsed: ParsedEmail) -> Identity:
    """The From address; a per-message external identity when there is none."""
    if parsed.from_addr:
        return Identity(kind="email", value=parsed.from_addr)
    return Identity(kind="external", value=f"email-unknown:{parsed.raw_sha256[:32]}")


def envelope_attributes(parsed: ParsedEmail, quoted: str,
                        our_domains: Sequence[str] = ()) -> dict[str, str]:
    # The pipeline only sees the envelope: the pure suppression verdict travels with it
    # ("" = an acknowledgement is allowed; the per-sender window is the worker's).
    attrs: dict[str, str] = {
        "email.ack_suppressed": suppression_reason(parsed, our_domains=our_domains) or "",
    }
    if quoted:
        attrs["email.quoted"] = quoted
    if parsed.malformed:
        attrs["email.malformed"] = "true"
        attrs["email.defects"] = ", ".join(parsed.defects[:20])
    if parsed.had_remote_images:
        attrs["email.remote_images"] = str(len(parsed.remote_images))
        # JSON list; <img src="cid:omnihub-remote-image-N"> in the HTML stands for item N.
        attrs["email.remote_image_urls"] = json.dumps(list(parsed.remote_images))
    if parsed.skipped_attachments:
        attrs["email.skipped_attachments"] = "; ".join(
            f"{s.filename} ({s.size} bytes, {s.reason})" for s in parsed.skipped_attachments)
    if parsed.reply_to and parsed.reply_to[0] != parsed.from_addr:
        attrs["email.reply_to"] = parsed.reply_to[0]
    if parsed.to:
        attrs["email.to"] = ", ".join(parsed.to[:50])
    inline = _inline_images(parsed)
    if inline:
        # JSON {content-id: attachment index}: <img src="cid:…"> in the HTML shows that file.
        attrs["email.inline_images"] = json.dumps(inline)
    if parsed.cc:
        attrs["email.cc"] = ", ".join(parsed.cc[:50])
    if parsed.is_bounce:
        attrs["email.bounce"] = "true"
        if parsed.bounce and parsed.bounce.original_message_id:
            attrs["email.bounce_of"] = parsed.bounce.original_message_id
            attrs["email.bounce_reason"] = parsed.bounce.reason
            attrs["email.bounce_permanent"] = "true" if parsed.bounce.permanent else "false"
    if parsed.auto_submitted not in ("", "no") or parsed.autoreply_headers:
        attrs["email.auto_submitted"] = parsed.auto_submitted or "yes"
    if parsed.list_headers or parsed.precedence in ("bulk", "list", "junk"):
        attrs["email.bulk"] = "true"
    if parsed.date:
        attrs["email.date"] = parsed.date.isoformat()
    return attrs


def _inline_images(parsed: ParsedEmail) -> dict[str, int]:
    index = {a.ref: i for i, a in reversed(list(enumerate(parsed.attachments)))}
    return {cid[:200]: index[ref] for cid, ref in parsed.inline_cids[:50]
            if ref in index and parsed.attachments[index[ref]].content_type.startswith("image/")}


def envelope_from_email(parsed: ParsedEmail, inbox: str, received_at: datetime,
                        *, raw_ref: str = "", our_domains: Sequence[str] = ()) -> Envelope:
    """The agent sees the trimmed reply; the quoted rest is in attributes["email.quoted"]."""
    trimmed, quoted = trim_reply(parsed.text)
    text = trimmed or parsed.text.strip()  # a bare forward keeps what was forwarded
    # Every derived text is bounded, whatever produced it (parse_email caps its text
    # too; this keeps the envelope bounded for any ParsedEmail).
    text, quoted = text[:MAX_TEXT_CHARS], quoted[:MAX_TEXT_CHARS] if trimmed else ""
    return Envelope(
        channel=CHANNEL,
        channel_account=inbox,
        provider_id=provider_id(parsed),
        sender=sender_identity(parsed),
        sender_name=parsed.from_name or (parsed.from_addr or "").split("@", 1)[0],
        recipients=tuple(Identity(kind="email", value=a) for a in parsed.to + parsed.cc),
        subject=parsed.subject,
        text=text,
        html=parsed.html,
        attachments=parsed.attachments,
        thread=ThreadHints(
            message_id=parsed.message_id,
            in_reply_to=parsed.in_reply_to[0] if parsed.in_reply_to else None,
            references=parsed.references[-MAX_ENVELOPE_REFERENCES:],
            reply_token=parsed.reply_tokens[0] if parsed.reply_tokens else None,
        ),
        received_at=received_at,
        raw_ref=raw_ref,
        attributes=envelope_attributes(parsed, quoted, our_domains),
    )
