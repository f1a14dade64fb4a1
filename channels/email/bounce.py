"""Bounces: read a delivery status notification (RFC 3464, multipart/report) or a
legacy text bounce, and say which of our messages failed and why. Pure."""

from __future__ import annotations

import email
import re
from dataclasses import dataclass
from email import policy
from email.message import Message

_MSG_ID = re.compile(r"<[^<>\s]{1,500}>")
_MSG_ID_LINE = re.compile(r"^[ \t>]*Message-ID:[ \t]*(<[^<>\s]{1,500}>)", re.I | re.M)
_DSN_ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")


@dataclass(frozen=True, slots=True)
class Bounce:
    """What a bounce says about one of our messages."""

    original_message_id: str | None
    recipients: tuple[str, ...] = ()
    action: str = "failed"  # RFC 3464 Action of the first recipient block
    status: str = ""  # e.g. "5.1.1"
    reason: str = ""  # Diagnostic-Code, or the start of the human-readable text

    @property
    def permanent(self) -> bool:
        """A permanent failure: mark the message failed (a "delayed" DSN is not one)."""
        if self.status:
            return self.status.startswith("5")
        return self.action == "failed"


def _one_line(value: str, limit: int = 500) -> str:
    return " ".join(value.split())[:limit]


def _field(block: Message, name: str) -> str:
    try:
        return _one_line(str(block.get(name, "") or ""))
    except Exception:
        return ""


def _first_message_id(text: str) -> str | None:
    m = _MSG_ID.search(text)
    return m.group(0) if m else None


def _original_message_id(part: Message) -> str | None:
    """Message-ID from a message/rfc822 or text/rfc822-headers part."""
    try:
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            inner_msg = inner[0] if isinstance(inner, list) and inner else None
            if isinstance(inner_msg, Message):
                raw = inner_msg.get("Message-ID")
                return _first_message_id(str(raw)) if raw else None
            return None
        payload = part.get_payload(decode=True)
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)
        headers = email.message_from_string(text, policy=policy.compat32)
        raw = headers.get("Message-ID")
        return _first_message_id(str(raw)) if raw else None
    except Exception:
        return None


def _leaves(msg: Message, limit: int = 50) -> list[Message]:
    """Parts in order, without descending into message/* parts."""
    out: list[Message] = []
    stack = [msg]
    while stack and len(out) < limit:
        part = stack.pop(0)
        out.append(part)
        if part.get_content_maintype() == "multipart" and isinstance(part.get_payload(), list):
            stack[0:0] = [p for p in part.get_payload() if isinstance(p, Message)]
    return out


def _text_of(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            return ""
        return payload.decode(part.get_content_charset() or "utf-8", "replace")
    except (LookupError, TypeError, ValueError):
        return ""


def read_bounce(msg: Message) -> Bounce | None:
    """The bounce report in ``msg``, or None when it is not recognisably a bounce report.

    Standard DSNs give recipients, action, status and diagnostic; for legacy text
    bounces (qmail, old Exim) only the original Message-ID found in the quoted text.
    """
    parts = _leaves(msg)
    original: str | None = None
    recipients: list[str] = []
    action = status = reason = ""
    human = ""
    seen_report = False
    for part in parts:
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            seen_report = True
            payload = part.get_payload()
            blocks = [b for b in payload if isinstance(b, Message)] if isinstance(payload, list) else []
            for block in blocks[1:] or blocks:
                recipient = _field(block, "Final-Recipient") or _field(block, "Original-Recipient")
                if recipient:
                    recipients.append(recipient.split(";", 1)[-1].strip().strip("<>"))
                if not action:
                    action = _field(block, "Action").lower()
                    status = _field(block, "Status")
                    reason = _field(block, "Diagnostic-Code").split(";", 1)[-1].strip()
        elif ctype in ("message/rfc822", "text/rfc822-headers"):
            original = original or _original_message_id(part)
        elif ctype == "text/plain" and not human:
            human = _text_of(part)
    if original is None:
        m = _MSG_ID_LINE.search(human)
        original = m.group(1) if m else None
    if not seen_report and original is None:
        return None
    if action not in _DSN_ACTIONS:
        action = "failed"
    return Bounce(
        original_message_id=original,
        recipients=tuple(dict.fromkeys(r for r in recipients if r))[:20],
        action=action,
        status=status if re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", status) else "",
        reason=reason or _one_line(human, 300),
    )
