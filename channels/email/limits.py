"""The bounds that make every inbound mail (within the size limit) cost bounded time and
memory, and the cheap pre-scan of the raw bytes that decides, *before* the stdlib parser
runs, whether the body may be handed to it at all. Pure; see docs/email.md "Limits".

Why a pre-scan: the stdlib feed parser checks every line against every enclosing
boundary (time ~ lines x nesting), keeps one string object per line until a part ends
(~60 bytes per short line) and recurses once per nested part (RecursionError at a few
hundred levels). Counting lines and boundary markers on the raw bytes is a handful of
C-speed passes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

MAX_DEPTH = 20  # nested MIME levels walked (and accepted by the pre-scan)
MAX_PARTS = 500  # MIME parts walked (and part separators accepted by the pre-scan)
MAX_PART_OBJECTS = 2 * MAX_PARTS + 10  # Message objects the stdlib parser may build
MAX_LINES = 2_000_000  # lines handed to the stdlib parser (one str object each)
MAX_PARSE_WORK = 10_000_000  # lines x (1 + possible boundary nesting): the parser's loop
MAX_HEADER_BYTES = 256 * 1024  # the top-level header block
MAX_HEADER_CHARS = 16 * 1024  # one header value given to the structured header parsers
MAX_MIME_PARAMS = 32  # ';'-separated parameters of a Content-* header that are read
MAX_TEXT_CHARS = 1_000_000  # text, HTML given to the sanitiser, the quoted part
MAX_QUOTE_DEPTH = 10  # "> " levels written for nested blockquotes (deeper share it)
MAX_HTML_DEPTH = 400  # element nesting given to the sanitiser (html5ever is O(n x depth))
MAX_HTML_OUT_CHARS = 4 * MAX_TEXT_CHARS  # sanitised HTML kept

# A boundary parameter's value; RFC 2231 forms (boundary*0=...) are counted in the
# nesting bound below but not recognised here (the part-object cap still holds).
# Matched on the lower-cased bytes (a literal prefix is fast to find, re.I is not);
# the value is then sliced from the original bytes at the same offsets.
_BOUNDARY_VALUE = re.compile(rb'boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))')


# A line the stdlib parser does not take for a header (its feedparser.headerRE): the
# headers end there even without a blank line (MissingHeaderBodySeparatorDefect).
_NOT_A_HEADER_LINE = re.compile(rb"\n(?!From |[\x21-\x39\x3b-\x7e]*:|[\t ])")


def header_block_end(raw: bytes) -> int:
    """Offset where the top-level headers end: the blank line, or the first line that is
    not a header when that comes within MAX_HEADER_BYTES (len(raw) if neither)."""
    if raw.startswith((b"\n", b"\r\n")):
        return 0
    end = len(raw)
    for sep in (b"\n\r\n", b"\n\n", b"\r\r"):  # each search stops at the best so far
        found = raw.find(sep, 0, end)
        if found >= 0:
            end = found + 1
    if end > MAX_HEADER_BYTES:
        stray = _NOT_A_HEADER_LINE.search(raw, 0, MAX_HEADER_BYTES + 1)
        if stray:
            end = stray.start() + 1
    return end


def count_lines(raw: bytes) -> int:
    """Lines as the feed parser splits them (\\r\\n, \\r and \\n all end one)."""
    return raw.count(b"\n") + raw.count(b"\r") - raw.count(b"\r\n") + 1


def nesting_bound(lowered: bytes) -> int:
    """An upper bound on the boundaries the stdlib parser can have open at once: each
    needs a ``boundary`` parameter (or a delivery-status part) spelled out in the bytes.
    ``lowered`` is ``raw.lower()``."""
    return lowered.count(b"boundary") + lowered.count(b"delivery-status")


def mime_shape(raw: bytes, lowered: bytes) -> tuple[int, int]:
    """(part separators, nesting depth) of the declared boundaries, read from the
    ``--boundary`` lines in order: a boundary first seen while another is open is
    nested in it; ``--b--`` closes b and everything opened inside it. Stops counting
    once a limit is passed (the caller only needs to know that)."""
    declared = {raw[slice(*(m.span(1) if m.group(1) else m.span(2)))]
                for m in _BOUNDARY_VALUE.finditer(lowered)}
    if not declared:
        return 0, 0
    stack: list[bytes] = []
    where: dict[bytes, int] = {}  # boundary -> its index in stack (O(1) membership)
    parts = depth = 0
    for line in _separator_lines(raw):
        closing = line.endswith(b"--") and line[:-2] in declared
        name = line[:-2] if closing else line
        if name not in declared:
            continue
        if name in where:  # back in an open boundary: what was opened inside it ended
            keep = where[name] + (0 if closing else 1)
            for gone in stack[keep:]:
                del where[gone]
            del stack[keep:]
        elif not closing:
            where[name] = len(stack)
            stack.append(name)
        if not closing:
            parts += 1
            depth = max(depth, len(stack))
            if parts > MAX_PARTS or depth > MAX_DEPTH:
                break
    return parts, depth


def _separator_lines(raw: bytes) -> Iterator[bytes]:
    """What follows "--" on every line starting with it, trailing blanks dropped."""
    pos = 0 if raw.startswith(b"--") else raw.find(b"\n--")
    while pos >= 0:
        start = pos + (2 if pos == 0 and raw.startswith(b"--") else 3)
        end = raw.find(b"\n", start, start + 1002)
        yield raw[start:end if end >= 0 else start + 1000].rstrip(b" \t\r")
        pos = raw.find(b"\n--", start)


def body_refusal(raw: bytes) -> str | None:
    """Why the body must not be handed to the stdlib parser, or None when it may be.
    The reason is a defect name plus the figures, shown to the agent."""
    if header_block_end(raw) > MAX_HEADER_BYTES:
        return f"HeadersTooLarge: header block over {MAX_HEADER_BYTES} bytes"
    lines = count_lines(raw)
    if lines > MAX_LINES:
        return f"TooManyLines: {lines} lines (limit {MAX_LINES})"
    lowered = raw.lower()
    nesting = nesting_bound(lowered)
    if not nesting:
        return None  # not multipart: one part, no boundary for any line to be checked on
    parts, depth = mime_shape(raw, lowered)
    if parts > MAX_PARTS:
        return f"TooManyParts: more than {MAX_PARTS} MIME parts"
    if depth > MAX_DEPTH:
        return f"TooDeep: MIME nesting deeper than {MAX_DEPTH} levels"
    if lines * (1 + nesting) > MAX_PARSE_WORK:
        return (f"TooComplex: {lines} lines x {nesting} boundary parameters"
                f" (limit {MAX_PARSE_WORK} line checks)")
    return None
