"""Reply trimming: split an email body into the new reply and the quoted/signature rest.

A faithful Python port of Discourse's email_reply_trimmer 0.2.0 (MIT, Copyright (c)
Discourse). Each line is classified into one letter (e empty, d delimiter, s signature,
b embedded-email marker, h quoted header, q quote, t text) and the resulting string is
cut in upstream's order. Upstream's regexes that backtrack super-linearly are replaced by
equivalent linear-time code (trim_pre, trim_shape; tested against the literal regexes).
"""

from __future__ import annotations

import re
import secrets

from channels.email import trim_patterns as P
from channels.email import trim_pre as pre
from channels.email import trim_shape as S


def _ruby_split_lines(text: str) -> list[str]:
    """Ruby's ``split("\\n")``: trailing empty fields are dropped."""
    lines = text.split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    return lines


def classify_line(line: str) -> str:
    if P.is_empty(line):
        return "e"
    if P.is_delimiter(line):
        return "d"
    if P.is_signature(line):
        return "s"
    if P.is_embedded(line):
        return "b"
    if P.is_email_header(line):
        return "h"
    if P.is_quote(line):
        return "q"
    return "t"


_WRAPPED = re.compile(r"\n+\s*")


def _unwrap(text: str) -> str:
    return text if text.count("\n") > 4 else _WRAPPED.sub(" ", text)


def _preprocess(text: str) -> str:
    text = text.replace("\r\n", "\n")
    text = pre.remove_pgp(text)
    text = pre.remove_unsubscribe(text)
    text = pre.remove_alias_markers(text)
    text = pre.convert_enclosed_quotes(text)
    text = pre.normalise_quote_prefixes(text)
    # markers ("On <date>, <someone> wrote:") wrapped over a few lines are joined
    for marker in P.MULTILINE_MARKERS:
        if isinstance(marker, re.Pattern):
            text = marker.sub(lambda m: _unwrap(m.group(0)), text)
        else:
            text = marker.sub(_unwrap, text)
    return text.strip(pre.RUBY_WS)


def _hoist_code_blocks(text: str) -> tuple[str, dict[str, str]]:
    """Fenced code blocks are replaced by random tokens while lines are classified."""
    blocks: dict[str, str] = {}
    out, pos = [], 0
    for start, end in pre.code_block_spans(text):
        token = secrets.token_hex(16)
        blocks[token] = text[start:end]
        out += [text[pos:start], token]
        pos = end
    return "".join(out) + text[pos:], blocks


def _compute_elided(original: list[str], kept: list[str]) -> str:
    elided: list[str] = []
    t = k = 0
    while t < len(original):
        while k < len(kept) and t < len(original) and original[t] == kept[k]:
            t += 1
            k += 1
        elided.append(original[t] if t < len(original) else "")
        t += 1
    return "\n".join(elided).strip(pre.RUBY_WS)


def _cut(pattern: str, lines: list[str], end: int) -> tuple[str, list[str]]:
    return pattern[:end], lines[:end]


def _remove_all(pattern: str, lines: list[str], kind: str) -> tuple[str, list[str]]:
    # Lines past the end of the pattern (after "reply at the end") are never touched.
    keep = [i for i in range(len(lines)) if i >= len(pattern) or pattern[i] != kind]
    return pattern.replace(kind, ""), [lines[i] for i in keep]


def _trim_lines(pattern: str, lines: list[str]) -> list[str]:
    """Upstream's cuts, in upstream's order (see trim_shape for each regex)."""
    # everything after the first delimiter goes
    if (i := pattern.find("d")) >= 0:
        pattern, lines = _cut(pattern, lines, i)
    # mobile signatures go
    pattern, lines = _remove_all(pattern, lines, "s")
    # the reply is at the end of the email
    if S.reply_at_end(pattern):
        pattern, lines = "", lines[S.trailing_text(pattern):]
    # an embedded email marker not followed by a quote: keep up to the marker
    if (i := S.marker_without_quote(pattern)) >= 0:
        pattern, lines = _cut(pattern, lines, i + 1)
    # an embedded email marker followed by a huge quote: keep up to the marker
    i, tail = S.marker_before_quote(pattern)
    if i >= 0 and tail.count("t") < 7:
        pattern, lines = _cut(pattern, lines, i + 1)
    # text before a huge quote ending the email: drop the quote
    if (i := S.quote_at_end(pattern)) >= 0:
        pattern, lines = _cut(pattern, lines, i + 1)
    # remaining embedded email markers go
    pattern, lines = _remove_all(pattern, lines, "b")
    # email headers spanning several lines
    start, end = S.multiline_headers(pattern)
    if start >= 0:
        pattern = pattern[:start] + "h" * (end - start) + pattern[end:]
    # at least three consecutive email headers: keep up to them
    if (i := S.header_block(pattern)) >= 0:
        pattern, lines = _cut(pattern, lines, i + 1)
    # remaining email headers go
    pattern, lines = _remove_all(pattern, lines, "h")
    # trailing quotes go when there is at least one line of text
    if "t" in pattern and (i := S.trailing_eq(pattern)) >= 0:
        pattern, lines = _cut(pattern, lines, i)
    return lines


_TOKEN = re.compile(r"[0-9a-f]{32}")
# Past this many characters only the head is trimmed (the new reply is at the top of
# real mail); keeps the cost of a hostile body bounded (~1 s per 100 kB worst case).
MAX_TRIM_CHARS = 100_000


def _trim(text: str) -> tuple[str, str]:
    text, blocks = _hoist_code_blocks(_preprocess(text))
    original = _ruby_split_lines(text)
    pattern = "".join(classify_line(line) for line in original)
    kept = _trim_lines(pattern, original)
    trimmed = "\n".join(kept).strip(pre.RUBY_WS)
    elided = _compute_elided(original, kept)
    if blocks:
        def restore(m: re.Match[str]) -> str:
            return blocks.get(m.group(0), m.group(0))

        trimmed, elided = _TOKEN.sub(restore, trimmed), _TOKEN.sub(restore, elided)
    return trimmed, elided


def trim_reply(text: str) -> tuple[str, str]:
    """Return (new reply text, removed quoted/signature part), both stripped."""
    if not text or not text.strip():
        return "", ""
    if len(text) <= MAX_TRIM_CHARS:
        return _trim(text)
    cut = text.rfind("\n", 0, MAX_TRIM_CHARS)
    cut = cut if cut > 0 else MAX_TRIM_CHARS
    trimmed, elided = _trim(text[:cut])
    if not elided:  # no quote in the head: the whole body is the reply
        return (trimmed + text[cut:]).strip(pre.RUBY_WS), ""
    return trimmed, (elided + text[cut:]).strip(pre.RUBY_WS)
