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

_SEPARATOR_LINE = re.compile(rb"^--([^\r\n]{0,1000})", re.M)
# A boundary parameter's value; RFC 2231 forms (boundary*0=...) are counted in the
# nesting bound below but not recognised here (the part-object cap still holds).
_BOUNDARY_VALUE = re.compile(
    rb'boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))', re.I)


def header_block_end(raw: bytes) -> int:
    """Offset of the blank line ending the top-level headers (len(raw) if none)."""
    ends = [i for i in (raw.find(b"\n\n"), raw.find(b"\n\r\n"), raw.find(b"\r\r"))
            if i >= 0]
    if raw.startswith((b"\n", b"\r\n")):
        return 0
    return min(ends) + 1 if ends else len(raw)


def count_lines(raw: bytes) -> int:
    """Lines as the feed parser splits them (\\r\\n, \\r and \\n all end one)."""
    return raw.count(b"\n") + raw.count(b"\r") - raw.count(b"\r\n") + 1


def nesting_bound(raw: bytes) -> int:
    """An upper bound on the boundaries the stdlib parser can have open at once: each
    needs a ``boundary`` parameter (or a delivery-status part) spelled out in the bytes."""
    lowered = raw.lower()
    return lowered.count(b"boundary") + lowered.count(b"delivery-status")


def mime_shape(raw: bytes) -> tuple[int, int]:
    """(part separators, nesting depth) of the declared boundaries, read from the
    ``--boundary`` lines in order: a boundary first seen while another is open is
    nested in it; ``--b--`` closes b and everything opened inside it. Stops counting
    once a limit is passed (the caller only needs to know that)."""
    declared = {m.group(1) or m.group(2) for m in _BOUNDARY_VALUE.finditer(raw)}
    if not declared:
        return 0, 0
    stack: list[bytes] = []
    where: dict[bytes, int] = {}  # boundary -> its index in stack (O(1) membership)
    parts = depth = 0
    for m in _SEPARATOR_LINE.finditer(raw):
        line = m.group(1).rstrip(b" \t")
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


def body_refusal(raw: bytes) -> str | None:
    """Why the body must not be handed to the stdlib parser, or None when it may be.
    The reason is a defect name plus the figures, shown to the agent."""
    if header_block_end(raw) > MAX_HEADER_BYTES:
        return f"HeadersTooLarge: header block over {MAX_HEADER_BYTES} bytes"
    lines = count_lines(raw)
    if lines > MAX_LINES:
        return f"TooManyLines: {lines} lines (limit {MAX_LINES})"
    parts, depth = mime_shape(raw)
    if parts > MAX_PARTS:
        return f"TooManyParts: more than {MAX_PARTS} MIME parts"
    if depth > MAX_DEPTH:
        return f"TooDeep: MIME nesting deeper than {MAX_DEPTH} levels"
    work = lines * (1 + nesting_bound(raw))
    if work > MAX_PARSE_WORK:
        return (f"TooComplex: {lines} lines x {nesting_bound(raw)} boundary parameters"
                f" (limit {MAX_PARSE_WORK} line checks)")
    return None
