"""Twilio Messaging webhooks: strict form decoding, inbound SMS/MMS/WhatsApp messages to
envelopes, status callbacks to status reports. Pure: no I/O.

Twilio adds parameters without notice, so unknown parameters are accepted (and signed
over); the ones we use are checked. ``MessageStatus`` present means a status callback;
otherwise an inbound message (``SmsStatus=received``)."""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl

from channels.media import MAX_ATTACHMENTS, media_ref, split_media, with_notes
from channels.phones import to_e164
from hub.contacts.rules.identity import normalise_identity
from hub.errors import BadInput
from hub.messaging.delivery_rules import StatusReport
from hub.schema import AttachmentRef, Envelope, Identity, MessageStatus
from hub.untrusted import is_decimal

MAX_FIELDS = 200
MAX_BODY = 1600  # Twilio concatenates at most 1600 characters
_SID = re.compile(r"^(SM|MM|IM)[0-9a-fA-F]{32}$")
_URL = re.compile(r"^https?://[^\s]{1,1900}$")

# MessageStatus -> our status. Inbound-only values (receiving/received) are not reports.
STATUS_MAP: dict[str, MessageStatus] = {
    "accepted": "queued", "scheduled": "queued", "queued": "queued",
    "sending": "sending", "sent": "sent",
    "delivered": "delivered", "partially_delivered": "delivered", "read": "read",
    "undelivered": "failed", "failed": "failed", "canceled": "failed",
}
# The codes agents meet most; others are shown as the bare code.
ERROR_TEXT = {
    "21211": "invalid 'To' phone number", "21408": "region not enabled for this account",
    "21610": "recipient has unsubscribed (STOP)", "21614": "'To' is not a mobile number",
    "30003": "unreachable destination handset", "30004": "message blocked",
    "30005": "unknown destination handset", "30006": "landline or unreachable carrier",
    "30007": "filtered by the carrier", "30008": "unknown error",
    "63016": "outside the WhatsApp 24-hour window: send a template",
}


def parse_form(body: bytes) -> list[tuple[str, str]]:
    """Decode ``application/x-www-form-urlencoded`` strictly; malformed -> BadInput."""
    try:
        text = body.decode("utf-8")
        return parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text),
                         errors="strict", max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadInput(f"malformed form encoding: {exc}", code="bad_form") from None


def single(params: list[tuple[str, str]]) -> dict[str, str]:
    """Name -> value; a repeated name we rely on is ambiguous and refused."""
    out: dict[str, str] = {}
    for name, value in params:
        if name in out and out[name] != value:
            raise BadInput(f"{name}: repeated with different values")
        out[name] = value
    return out


def is_status_callback(p: dict[str, str]) -> bool:
    return "MessageStatus" in p


def routing_address(p: dict[str, str]) -> str:
    """Our number, which names the inbox: ``To`` of an inbound message, ``From`` of a
    status callback (the message went from us)."""
    return p.get("From", "") if is_status_callback(p) else p.get("To", "")


@dataclass(frozen=True, slots=True)
class TwilioMessage:
    envelope: Envelope
    account_sid: str


def _sid(p: dict[str, str]) -> str:
    sid = p.get("MessageSid") or p.get("SmsMessageSid") or p.get("SmsSid") or ""
    if not _SID.match(sid):
        raise BadInput("MessageSid: missing or not a Twilio message SID")
    return sid


def _sender(channel: str, raw: str) -> Identity:
    if not raw:
        raise BadInput("From: missing")
    if channel == "whatsapp":
        if not raw.startswith("whatsapp:"):
            raise BadInput("From: a WhatsApp inbox expects whatsapp:+E164")
        return normalise_identity("whatsapp", to_e164(raw[9:], field="From"))
    if raw.startswith("whatsapp:"):
        raise BadInput("From: a WhatsApp sender on an SMS inbox")
    return normalise_identity("phone", to_e164(raw, field="From"))


def _media(p: dict[str, str], media_limit: int) -> list[AttachmentRef | str]:
    raw = p.get("NumMedia", "0") or "0"
    if not is_decimal(raw) or int(raw) > MAX_ATTACHMENTS:
        raise BadInput(f"NumMedia: an integer 0-{MAX_ATTACHMENTS}")
    items: list[AttachmentRef | str] = []
    for n in range(int(raw)):
        url = p.get(f"MediaUrl{n}", "")
        if not _URL.match(url):
            raise BadInput(f"MediaUrl{n}: missing or not an http(s) URL")
        ctype = p.get(f"MediaContentType{n}", "")
        # Twilio does not declare sizes; MMS carriers cap at ~5 MB, WhatsApp at 16 MB.
        ext = mimetypes.guess_extension(ctype.split(";")[0].strip()) or ""
        items.append(media_ref("url:" + url, f"media{n}{ext}", ctype, None, media_limit))
    return items


def envelope_from_twilio(inbox: str, channel: str, params: list[tuple[str, str]],
                         now: datetime, *, media_limit: int) -> TwilioMessage:
    """An inbound SMS/MMS/WhatsApp message. ``channel`` is the inbox's (sms|whatsapp)."""
    p = single(params)
    sid = _sid(p)
    sender = _sender(channel, p.get("From", ""))
    body = p.get("Body", "")
    if len(body) > MAX_BODY:
        raise BadInput(f"Body: at most {MAX_BODY} characters")
    attachments, notes = split_media(_media(p, media_limit))
    text = with_notes(body.strip(), notes)
    if not text and not attachments:
        raise BadInput("Body: empty message without media")
    attrs = {k: p[k][:100] for k in ("To", "NumSegments", "FromCountry", "WaId")
             if p.get(k)}
    return TwilioMessage(
        envelope=Envelope(
            channel=channel,  # type: ignore[arg-type]
            channel_account=inbox,
            provider_id=sid,
            sender=sender,
            sender_name=p.get("ProfileName", "")[:200],
            text=text,
            attachments=attachments,
            received_at=now,
            attributes=attrs,
        ),
        account_sid=p.get("AccountSid", ""),
    )


def status_from_twilio(params: list[tuple[str, str]]) -> StatusReport | None:
    """A status callback as a report; None for statuses that are not about delivery."""
    p = single(params)
    sid = _sid(p)
    raw = p.get("MessageStatus", "")
    if raw in ("receiving", "received"):
        return None
    status = STATUS_MAP.get(raw)
    if status is None:
        raise BadInput(f"MessageStatus: unknown value {raw[:40]!r}")
    error = ""
    code = p.get("ErrorCode", "")
    if status == "failed" or code:
        if code and not code.isdigit():
            raise BadInput("ErrorCode: not a number")
        reason = ERROR_TEXT.get(code, p.get("ErrorMessage", "")[:200])
        error = f"Twilio {code}: {reason}" if code and reason else (
            f"Twilio {code}" if code else f"Twilio: {raw}")
    return StatusReport(provider="twilio", provider_ref=sid, status=status, error=error)
