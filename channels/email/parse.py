"""Inbound mail → ParsedEmail. Stdlib ``email`` with ``policy.default`` (header values
bounded, see mime_read); never raises on bad input: whatever can be read is returned and
the result is flagged ``malformed`` with the reason in ``defects``. Every mail costs
bounded time and memory (limits.py): a body the pre-scan or the parser refuses leaves
the headers, and the raw bytes stay with the caller.

Attachments leave through the ``store_attachment(data, filename, content_type) -> ref``
callback (errors from the store propagate: that is I/O, not bad input).
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import Message

from channels.email import headers as H
from channels.email.bounce import Bounce, read_bounce
from channels.email.charsets import decode_text, fix_text
from channels.email.htmlbody import (
    SanitisedHtml,
    html_to_text,
    sanitise_html,
    strip_tags,
    too_deep,
)
from channels.email.limits import (
    MAX_DEPTH,
    MAX_HTML_DEPTH,
    MAX_HTML_OUT_CHARS,
    MAX_PARTS,
    MAX_TEXT_CHARS,
    body_refusal,
)
from channels.email.mime_read import BodyUnreadable, read_headers, read_message
from hub.schema import AttachmentRef

StoreAttachment = Callable[[bytes, str, str], str]

MAX_BODY_CHARS = MAX_TEXT_CHARS  # the name other modules know
# Defects that make a mail malformed besides the stdlib's structural ones: the
# reasons a body was not read (limits.body_refusal, mime_read) and a missing sender.
_FLAGGING = ("PayloadError", "TooManyParts", "TooDeep", "TooManyLines", "TooComplex",
             "HeadersTooLarge", "ParseError", "MissingFrom", "UnusableFrom", "BodyTruncated",
             "HtmlTooDeep", "HtmlTooLarge")
_STRUCTURAL = {
    "NoBoundaryInMultipartDefect", "StartBoundaryNotFoundDefect", "CloseBoundaryNotFoundDefect",
    "FirstHeaderLineIsContinuationDefect", "MisplacedEnvelopeHeaderDefect",
    "MissingHeaderBodySeparatorDefect", "MultipartInvariantViolationDefect",
    "InvalidMultipartContentTransferEncodingDefect", "InvalidBase64PaddingDefect",
    "InvalidBase64CharactersDefect", "InvalidBase64LengthDefect",
}
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (status|failure|has failed)|returned mail|failure notice|"
    r"mail delivery failed|unzustellbar|non remis|no entregado", re.I)


@dataclass(frozen=True, slots=True)
class SkippedAttachment:
    filename: str
    content_type: str
    size: int
    reason: str  # "too-large"


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    raw_sha256: str
    raw_size: int
    message_id: str | None = None  # "<id@host>", angle brackets included
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    reply_tokens: tuple[str, ...] = ()  # from reply+<token>@ recipients; NOT verified
    from_addr: str | None = None  # normalised (lower case)
    from_name: str = ""
    sender_addr: str | None = None  # the Sender: header
    reply_to: tuple[str, ...] = ()
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    delivered_to: tuple[str, ...] = ()
    return_path: str | None = None  # "" = null sender (<>), None = unknown
    subject: str = ""
    date: datetime | None = None
    text: str = ""
    html: str = ""  # sanitised
    remote_images: tuple[str, ...] = ()
    had_remote_images: bool = False
    attachments: tuple[AttachmentRef, ...] = ()
    inline_cids: tuple[tuple[str, str], ...] = ()  # (content-id, attachment ref)
    skipped_attachments: tuple[SkippedAttachment, ...] = ()
    auto_submitted: str = ""  # lower case, parameters dropped; "" when absent
    precedence: str = ""
    list_headers: tuple[str, ...] = ()  # names of List-* headers present
    auto_response_suppress: str = ""  # X-Auto-Response-Suppress
    autoreply_headers: tuple[str, ...] = ()  # X-Autoreply, X-Autorespond ... present
    x_loop: str = ""
    spam: bool = False
    report_type: str = ""  # multipart/report's report-type, e.g. "delivery-status"
    is_bounce: bool = False
    bounce: Bounce | None = None
    malformed: bool = False
    defects: tuple[str, ...] = ()


@dataclass
class _Walk:
    max_attachment_bytes: int
    store: StoreAttachment
    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    named_texts: list[str] = field(default_factory=list)  # inline text/plain with a filename
    attachments: list[AttachmentRef] = field(default_factory=list)
    cids: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[SkippedAttachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    report_type: str = ""
    parts: int = 0


def _payload_bytes(part: Message, w: _Walk) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:  # pragma: no cover - the stdlib is lenient here
        w.defects.append(f"PayloadError:{type(exc).__name__}")
        return b""
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def _safe_filename(name: str | None, content_type: str, n: int) -> str:
    name = fix_text(name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip().strip(".")[:200]
    if not name:
        ext = mimetypes.guess_extension(content_type) or ".bin"
        name = f"attachment-{n}{ext}"
    return name


def _add_attachment(w: _Walk, data: bytes, filename: str | None, ctype: str,
                    content_id: str | None) -> None:
    name = _safe_filename(filename, ctype, len(w.attachments) + len(w.skipped) + 1)
    if len(data) > w.max_attachment_bytes:
        w.skipped.append(SkippedAttachment(name, ctype, len(data), "too-large"))
        return
    ref = w.store(data, name, ctype)
    w.attachments.append(AttachmentRef(ref=ref, filename=name, content_type=ctype, size=len(data)))
    if content_id:
        w.cids.append((content_id, ref))


def _walk(part: Message, w: _Walk, depth: int) -> None:
    w.parts += 1
    if w.parts > MAX_PARTS or depth > MAX_DEPTH:
        if "TooManyParts" not in w.defects:
            w.defects.append("TooManyParts")
        return
    ctype = part.get_content_type()
    maintype, subtype = ctype.split("/", 1)
    if part.is_multipart():
        _note_defects(part, w)
        if ctype == "multipart/report" and not w.report_type:
            w.report_type = str(part.get_param("report-type") or "").lower()
        if maintype == "message":  # message/rfc822 and message/delivery-status
            if subtype == "rfc822":
                inner = part.get_payload()
                sub = inner[0] if isinstance(inner, list) and inner else None
                if isinstance(sub, Message):
                    subject = H.text_header(sub, "Subject")[0] or "message"
                    try:
                        data = sub.as_bytes(policy=policy.SMTP)
                    except RecursionError:  # forwards nested hundreds deep
                        w.defects.append("TooDeep: forwarded messages nested too deeply"
                                         " to keep as an attachment")
                        return
                    except Exception:
                        data = str(sub).encode("utf-8", "replace")
                    _add_attachment(w, data, f"{subject[:100]}.eml", ctype, None)
            return
        payload = part.get_payload()
        for child in payload if isinstance(payload, list) else ():
            if isinstance(child, Message):
                _walk(child, w, depth + 1)
        return
    disposition = part.get_content_disposition()
    try:
        filename = part.get_filename()
    except Exception:
        filename = None
    if ctype == "text/rfc822-headers" and w.report_type:
        _note_defects(part, w)
        return  # part of a bounce report; read by bounce.read_bounce
    data = _payload_bytes(part, w)
    _note_defects(part, w)  # after decoding: base64 defects are found while decoding
    if ctype in ("text/plain", "text/html") and disposition != "attachment":
        text, problems = decode_text(data, part.get_content_charset())
        w.defects.extend(problems)
        if not filename:
            (w.texts if subtype == "plain" else w.htmls).append(text)
            return
        if subtype == "plain":
            # A named inline text (Apple Mail, some phones): kept as the attachment the
            # sender named, and shown as the body when the mail has no other body.
            w.named_texts.append(text)
    content_id = H.message_ids(H.raw_header(part, "Content-ID"))
    _add_attachment(w, data, filename, ctype, content_id[0].strip("<>") if content_id else None)


def _note_defects(part: Message, w: _Walk) -> None:
    w.defects.extend(type(d).__name__ for d in getattr(part, "defects", ()))


def _cap(text: str, w: _Walk) -> str:
    if len(text) > MAX_BODY_CHARS:
        w.defects.append("BodyTruncated")
        return text[:MAX_BODY_CHARS]
    return text


def _looks_like_bounce(from_addr: str | None, return_path: str | None, subject: str,
                       report_type: str) -> bool:
    if report_type == "delivery-status":
        return True
    local = (from_addr or "").split("@", 1)[0]
    return local in ("mailer-daemon", "postmaster") and (
        return_path == "" or bool(_BOUNCE_SUBJECT.search(subject)))


def parse_email(
    raw: bytes,
    *,
    inbox: str,
    max_attachment_bytes: int,
    store_attachment: StoreAttachment,
    envelope_from: str | None = None,
    envelope_to: Sequence[str] = (),
) -> ParsedEmail:
    """Parse one raw message. ``envelope_from``/``envelope_to`` are the SMTP MAIL FROM and
    RCPT TO when the mail came through our SMTP/LMTP receiver (else taken from headers).
    ``inbox`` is accepted for symmetry with envelope_from_email; parsing does not use it.

    The body goes to the stdlib parser only when the pre-scan allows it; a body refused
    there, or one the parser gives up on (RecursionError, too many parts), leaves a
    headers-only result flagged with the reason."""
    digest = hashlib.sha256(raw).hexdigest()
    reason = body_refusal(raw)
    if reason is None:
        try:
            msg = read_message(raw)
            w = _Walk(max_attachment_bytes=max_attachment_bytes, store=store_attachment)
            _walk(msg, w, 0)
            return _result(msg, raw, digest, w, envelope_from, envelope_to)
        except BodyUnreadable as exc:
            reason = str(exc)
        except RecursionError:  # a stdlib reader recursing over hostile nesting
            reason = "TooDeep: nested beyond what the parser can follow"
    return unparsed_email(raw, reason, envelope_from=envelope_from, envelope_to=envelope_to)


def unparsed_email(raw: bytes, reason: str, *, envelope_from: str | None = None,
                   envelope_to: Sequence[str] = ()) -> ParsedEmail:
    """The headers of a mail whose body is not read, flagged with ``reason`` (the raw
    bytes stay with the caller). Also the ingest sink's last resort when parsing failed
    in a way nobody foresaw: such a mail is stored flagged, never refused for ever."""
    digest = hashlib.sha256(raw).hexdigest()

    def nothing_stored(data: bytes, filename: str, content_type: str) -> str:
        raise AssertionError("a headers-only mail has no attachments")

    w = _Walk(max_attachment_bytes=0, store=nothing_stored, defects=[reason, "BodyNotParsed"])
    try:
        return _result(read_headers(raw), raw, digest, w, envelope_from, envelope_to)
    except Exception:  # a header nested beyond the stdlib's reach: nothing readable
        return ParsedEmail(raw_sha256=digest, raw_size=len(raw), malformed=True,
                           defects=(reason, "BodyNotParsed", "HeadersNotParsed"))


def _bodies(w: _Walk) -> tuple[str, SanitisedHtml | None]:
    """(text, sanitised html) of the walked parts, each bounded."""
    text = _cap("\n\n".join(t for t in w.texts if t.strip()), w)
    if not text and not w.htmls:
        text = _cap("\n\n".join(t for t in w.named_texts if t.strip()), w)
    raw_html = _cap("\n".join(w.htmls), w)
    sanitised = None
    if raw_html.strip() and too_deep(raw_html):
        w.defects.append(f"HtmlTooDeep: elements nested over {MAX_HTML_DEPTH} levels")
    elif raw_html.strip():
        sanitised = sanitise_html(raw_html)
        if len(sanitised.html) > MAX_HTML_OUT_CHARS:
            w.defects.append(f"HtmlTooLarge: over {MAX_HTML_OUT_CHARS} characters sanitised")
            sanitised = None
    if not text and raw_html:
        text = html_to_text(sanitised.html) if sanitised else strip_tags(raw_html)
        text = _cap(text, w)
    return text, sanitised


def _from_defect(msg: Message) -> str:
    if not H.raw_header(msg, "From"):
        return "MissingFrom: missing From header"
    return "UnusableFrom: no valid address in the From header"


def _result(msg: Message, raw: bytes, digest: str, w: _Walk, envelope_from: str | None,
            envelope_to: Sequence[str]) -> ParsedEmail:
    header_defects: list[str] = []

    def addrs(*names: str) -> tuple[str, ...]:
        found: list[str] = []
        for name in names:
            values, problems = H.addresses(msg, name)
            header_defects.extend(problems)
            found += [addr for _, addr in values]
        return tuple(dict.fromkeys(found))

    from_list, problems = H.addresses(msg, "From")
    header_defects.extend(problems)
    from_name, from_addr = from_list[0] if from_list else ("", None)
    if from_addr is None:
        header_defects.insert(0, _from_defect(msg))
    subject, problems = H.text_header(msg, "Subject")
    header_defects.extend(problems)
    to, cc = addrs("To"), addrs("Cc")
    delivered = tuple(dict.fromkeys(
        addrs("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To")
        + tuple(H.normalise_address(a) or "" for a in envelope_to)))
    return_path = (H.bare_address(envelope_from) if envelope_from is not None
                   else H.return_path(msg))

    text, sanitised = _bodies(w)
    report_type = w.report_type
    is_bounce = _looks_like_bounce(from_addr, return_path, subject, report_type)
    bounce = read_bounce(msg) if is_bounce else None

    defects = tuple(dict.fromkeys(w.defects + header_defects))
    malformed = (any(d in _STRUCTURAL or d.startswith(_FLAGGING) for d in defects)
                 or from_addr is None)
    sender_list, _ = H.addresses(msg, "Sender")
    return ParsedEmail(
        raw_sha256=digest,
        raw_size=len(raw),
        message_id=H.first_message_id(msg, "Message-ID"),
        in_reply_to=H.all_message_ids(msg, "In-Reply-To"),
        references=H.all_message_ids(msg, "References"),
        reply_tokens=H.reply_tokens(to + cc + delivered),
        from_addr=from_addr,
        from_name=from_name,
        sender_addr=sender_list[0][1] if sender_list else None,
        reply_to=addrs("Reply-To"),
        to=to,
        cc=cc,
        delivered_to=delivered,
        return_path=return_path,
        subject=subject,
        date=_date(msg),
        text=text,
        html=sanitised.html if sanitised else "",
        remote_images=sanitised.remote_images if sanitised else (),
        had_remote_images=sanitised.had_remote_images if sanitised else False,
        attachments=tuple(w.attachments),
        inline_cids=tuple(w.cids),
        skipped_attachments=tuple(w.skipped),
        auto_submitted=H.token_header(msg, "Auto-Submitted"),
        precedence=H.token_header(msg, "Precedence"),
        list_headers=H.present(msg, H.LIST_HEADERS),
        auto_response_suppress=H.raw_header(msg, "X-Auto-Response-Suppress"),
        autoreply_headers=H.present(msg, H.AUTOREPLY_HEADERS),
        x_loop=H.raw_header(msg, "X-Loop"),
        spam=H.is_spam(msg),
        report_type=report_type,
        is_bounce=is_bounce,
        bounce=bounce,
        malformed=malformed,
        defects=defects,
    )


def _date(msg: Message) -> datetime | None:
    try:
        value = msg.get("Date")
        when = getattr(value, "datetime", None)
    except Exception:
        return None
    if not isinstance(when, datetime):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
