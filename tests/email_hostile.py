"""A battery of hostile mails of a chosen size, and a child-process runner that parses
one of them under an address-space limit (``python -m tests.email_hostile NAME BYTES``
prints one JSON line: what survived, the caps, peak memory). Used by
tests/test_email_hostile.py; run by hand with 31457280 (30 MiB, the default size limit)
for the figures in docs/email.md."""

from __future__ import annotations

import base64
import json
import resource
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

FROM = "Mallory <mallory@hostile.example>"
SUBJECT = "hostile mail"
ADDRESS_SPACE_LIMIT = 1024 * 1024 * 1024  # RLIMIT_AS of the child: 1 GiB

HEAD = (f"From: {FROM}\r\nTo: support@shop.test\r\nSubject: {SUBJECT}\r\n"
        "Message-ID: <hostile@hostile.example>\r\nMIME-Version: 1.0\r\n").encode()


def _fill(unit: bytes, size: int) -> bytes:
    return unit * max(1, size // len(unit))


def _html(body: bytes) -> bytes:
    return HEAD + b"Content-Type: text/html; charset=utf-8\r\n\r\n" + body


def deep_blockquote(size: int) -> bytes:
    n = size // 25
    return _html(b"<blockquote>x" * n + b"</blockquote>" * n)


def quotes_at_the_html_depth_limit(size: int) -> bytes:
    # Deep enough for the sanitiser to accept, with many lines at the deepest level:
    # the "> " prefix must not grow with the nesting.
    return _html(b"<blockquote>" * 390 + _fill(b"<p>quoted line</p>", size - 5000))


def deep_div_and_lists(size: int) -> bytes:
    return _html(_fill(b"<div><ul><li>x", size))


def html_parser_quadratic(size: int) -> bytes:
    return _html(b"<p>hi</p>" + _fill(b"</ ", size) + _fill(b"<![", size // 4))


def base64_deep_html(size: int) -> bytes:
    encoded = base64.encodebytes(_fill(b"<div>", size * 3 // 4))
    return (HEAD + b"Content-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + encoded)


def base64_text_bomb(size: int) -> bytes:
    encoded = base64.encodebytes(_fill(b"Hello again. ", size * 3 // 4))
    return (HEAD + b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + encoded)


def _nested(depth: int, boundary: Callable[[int], bytes], fill: bytes) -> bytes:
    heads = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; %s\r\n\r\n" % (i, boundary(i + 1))
                     for i in range(depth))
    tail = b"".join(b"\r\n--b%d--" % i for i in range(depth, -1, -1))
    return (HEAD + b"Content-Type: multipart/mixed; " + boundary(0) + b"\r\n\r\n" + heads
            + b"--b%d\r\nContent-Type: text/plain\r\n\r\n" % depth + fill + tail + b"\r\n")


def deep_multipart(size: int) -> bytes:
    return _nested(3000, lambda i: b'boundary="b%d"' % i, b"deep")


def multipart_at_the_depth_limit_with_short_lines(size: int) -> bytes:
    # The costliest structure the pre-scan lets through: the stdlib parser checks each
    # line against every open boundary (lines x nesting just under MAX_PARSE_WORK).
    from channels.email.limits import MAX_PARSE_WORK

    lines = min(size // 3, int(MAX_PARSE_WORK * 0.95) // 21)
    return _nested(19, lambda i: b'boundary="b%d"' % i, b"ab\n" * lines)


def deep_multipart_rfc2231_boundaries(size: int) -> bytes:
    # boundary*0=: the part scan does not recognise it; the nesting bound still does.
    return _nested(300, lambda i: b'boundary*0="b%d"' % i, _fill(b"ab\n", size - 30000))


def _many(part: bytes, size: int, boundary: bytes = b'boundary="p"') -> bytes:
    return (HEAD + b"Content-Type: multipart/mixed; " + boundary + b"\r\n\r\n"
            + _fill(part, size) + b"--p--\r\n")


def many_tiny_parts(size: int) -> bytes:
    return _many(b"--p\r\n\r\nx\r\n", size)


def many_parts_the_scan_cannot_see(size: int) -> bytes:
    return _many(b"--p\r\n\r\nx\r\n", size, b"boundary*0=p")


def many_parts_with_huge_content_types(size: int) -> bytes:
    ctype = b"Content-Type: text/plain; " + b"; ".join(b"p%d=v" % i for i in range(3000))
    return _many(b"--p\r\n" + ctype + b"\r\n\r\nx\r\n", size)


def unterminated_boundaries(size: int) -> bytes:
    unit = b"--u\r\nContent-Type: multipart/mixed; boundary=u\r\n\r\n"
    return HEAD + b"Content-Type: multipart/mixed; boundary=u\r\n\r\n" + _fill(unit, size)


def deep_message_rfc822(size: int) -> bytes:
    inner = b"From: inner@x.example\r\nContent-Type: message/rfc822\r\n\r\n" * 5000
    return HEAD + b"Content-Type: message/rfc822\r\n\r\n" + inner + b"\r\nbottom"


def delivery_status_blocks(size: int) -> bytes:
    return (HEAD + b"Content-Type: message/delivery-status\r\n\r\n"
            + _fill(b"Action: failed\r\n\r\n", size))


def huge_header_block(size: int) -> bytes:
    return HEAD + _fill(b"X-Filler: y\r\n", size) + b"\r\nbody"


def huge_address_and_subject_headers(size: int) -> bytes:
    # Within the header block limit: each value is what the header parsers must survive.
    to = b", ".join(b"u%d@x.example" % i for i in range(4000))
    subject = b" ".join([b"=?utf-8?q?ab?="] * 4000)
    return (f"From: {FROM}\r\nMessage-ID: <h@hostile.example>\r\n".encode() + b"To: " + to
            + b"\r\nCc: " + to + b"\r\nX-Subject: " + subject
            + f"\r\nSubject: {SUBJECT} ".encode() + subject + b"\r\n\r\nhi")


def nested_comments_in_from(size: int) -> bytes:
    return (b"From: " + b"(" * 5000 + b"mallory@hostile.example\r\n"
            + f"Subject: {SUBJECT}\r\n\r\nhi".encode())


def long_line_without_newline(size: int) -> bytes:
    return HEAD + b"Content-Type: text/plain\r\n\r\n" + _fill(b"a", size)


def short_lines(size: int) -> bytes:
    return HEAD + b"Content-Type: text/plain\r\n\r\n" + _fill(b"a\n", size)


def many_boundary_words_and_lines(size: int) -> bytes:
    return (HEAD + b"Content-Type: text/plain\r\n\r\n" + b"boundary " * 200
            + _fill(b"line\r\n", size))


def unparseable_mails() -> dict[str, bytes]:
    """Small hostile mails for the adapter tests (SMTP, IMAP), keyed by the reason each
    must be flagged with."""
    head = (b"From: Mallory <mallory@hostile.test>\r\nTo: support@shop.test\r\n"
            b"Subject: hostile\r\n")
    deep = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n"
                    % (i, i + 1) for i in range(500))
    return {
        # Both raised out of parse_email before (RecursionError): 451 for ever.
        "TooDeep: forwarded": head + b"Message-ID: <fwd@hostile.test>\r\n"
        b"Content-Type: message/rfc822\r\n\r\n"
        + b"From: inner@x.test\r\nContent-Type: message/rfc822\r\n\r\n" * 400 + b"bottom\r\n",
        "UnusableFrom": b"From: " + b"(" * 5000 + b"mallory@hostile.test\r\n"
        b"To: support@shop.test\r\nSubject: hostile\r\nMessage-ID: <cmt@hostile.test>\r\n"
        b"\r\nhello\r\n",
        # Used to lose From and Subject and show the raw MIME as the text.
        "TooDeep: MIME nesting": head + b"Message-ID: <deep@hostile.test>\r\n"
        b"Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n" + deep
        + b"--b500\r\n\r\nhello\r\n",
    }


BATTERY: dict[str, Callable[[int], bytes]] = {f.__name__: f for f in (
    deep_blockquote, quotes_at_the_html_depth_limit, deep_div_and_lists,
    html_parser_quadratic, base64_deep_html, base64_text_bomb, deep_multipart,
    multipart_at_the_depth_limit_with_short_lines, deep_multipart_rfc2231_boundaries,
    many_tiny_parts, many_parts_the_scan_cannot_see, many_parts_with_huge_content_types,
    unterminated_boundaries, deep_message_rfc822, delivery_status_blocks,
    huge_header_block, huge_address_and_subject_headers, nested_comments_in_from,
    long_line_without_newline, short_lines, many_boundary_words_and_lines,
)}


def run_one(name: str, size: int) -> dict[str, object]:
    """Parse one hostile mail the way the sink does (blobs aside); report what came out."""
    from channels.email import envelope_from_email, parse_email
    from hub.schema import encode

    raw = BATTERY[name](size)
    start = time.monotonic()
    parsed = parse_email(raw, inbox="mail", max_attachment_bytes=25 * 1024 * 1024,
                         store_attachment=lambda data, filename, ctype: "blob:x")
    env = envelope_from_email(parsed, "mail", datetime.now(UTC), raw_ref="blob:raw")
    return {
        "name": name, "raw_bytes": len(raw), "from": parsed.from_addr,
        "subject": parsed.subject, "malformed": parsed.malformed,
        "defects": list(parsed.defects), "text_chars": len(env.text),
        "quoted_chars": len(env.attributes.get("email.quoted", "")),
        "html_chars": len(env.html), "envelope_bytes": len(encode(env)),
        "seconds": round(time.monotonic() - start, 2),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
    sys.setrecursionlimit(1000)  # what the receiver runs with
    print(json.dumps(run_one(sys.argv[1], int(sys.argv[2]))), flush=True)
