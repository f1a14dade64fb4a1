"""The regexes the trimmer runs over the line-kind string ("tteqqq..."), computed in
linear time. Upstream's regexes (quoted in each docstring) backtrack quadratically on
long mails; tests/unit/email/test_email_trim.py checks each function against its regex."""

from __future__ import annotations

import re

_TE_B = re.compile(r"te*b")
_HEADER_BLOCK = re.compile(r"t[eq]*+hhh")
_EQBH_RUN = re.compile(r"[eqbh]*")


def trailing_eq(p: str) -> int:
    """Start of ``[eq]+$``, or -1."""
    i = len(p.rstrip("eq"))
    return i if i < len(p) else -1


def trailing_text(p: str) -> int:
    """Start of ``t[et]*$``, or -1."""
    return p.find("t", len(p.rstrip("et")))


def reply_at_end(p: str) -> bool:
    """``^b[^t]+t[et]*$``."""
    first_t = p.find("t")
    return p.startswith("b") and first_t >= 2 and not p[first_t:].strip("et")


def marker_without_quote(p: str) -> int:
    """Start of ``te*b[^q]*$``, or -1."""
    m = _TE_B.search(p, p.rfind("q") + 1)
    return m.start() if m else -1


def marker_before_quote(p: str) -> tuple[int, str]:
    """Start of ``te*b[eqbh]*([te]*)$`` and its group, or (-1, "")."""
    last_qbh = max(p.rfind("q"), p.rfind("b"), p.rfind("h"))
    m = _TE_B.search(p, max(p.rfind("t", 0, last_qbh), 0)) if last_qbh >= 0 else None
    if not m:
        return -1, ""
    tail = p[_EQBH_RUN.match(p, m.end()).end():]  # type: ignore[union-attr]
    return (m.start(), tail) if not tail.strip("te") else (-1, "")


def quote_at_end(p: str) -> int:
    """Start of ``t?e*[qbe]+$``, or -1."""
    r = len(p.rstrip("qbe"))
    if r == len(p):
        return -1
    return r - 1 if r >= 1 and p[r - 1] == "t" else r


def multiline_headers(p: str) -> tuple[int, int]:
    """Span of ``h+[hte]+h+e``, or (-1, -1)."""
    for run in re.finditer(r"[hte]+", p):
        first_h = p.find("h", run.start(), run.end())
        last_he = p.rfind("he", run.start(), run.end())
        if first_h >= 0 and last_he >= first_h + 2:
            return first_h, last_he + 2
    return -1, -1


def header_block(p: str) -> int:
    """Start of ``t[eq]*h{3,}``, or -1."""
    m = _HEADER_BLOCK.search(p)
    return m.start() if m else -1
