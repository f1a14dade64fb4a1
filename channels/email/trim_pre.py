"""Preprocessing steps of the reply trimmer, each equal to one of upstream's regex
substitutions but computed in linear time (the literal regexes backtrack
quadratically on hostile input). tests/unit/email/test_email_trim.py checks each against the
literal upstream regex on random inputs."""

from __future__ import annotations

import bisect
import re

from channels.email.trim_patterns import ALPHA, BLANK

RUBY_WS = " \t\n\v\f\r\0"
_ASCII_WS = " \t\r\n\f\v"

_PGP_HEAD = re.compile(r"\A-----BEGIN PGP SIGNED MESSAGE-----\n(?:Hash: [a-zA-Z0-9_]+)?[ \t\r\n\f\v]+", re.I)
_PGP_SIG = re.compile(r"^-----BEGIN PGP SIGNATURE-----$[\s\S]+^-----END PGP SIGNATURE-----", re.M)
_PGP_END = "-----END PGP SIGNATURE-----"
_ALIAS_MIDDLE = re.compile(r'>{5} "[^"\n]+" == ')
_ALIAS_WRITES = " writes:"
_NAMED_OPEN = re.compile(r"^>>>.*>>>$", re.M)
_NAMED_CLOSE = re.compile(r"^<<<.*<<<$", re.M)
_PLAIN_OPEN = re.compile(rf"^>{{4,}}{BLANK}*$", re.M)
_PLAIN_CLOSE = re.compile(rf"^<{{4,}}{BLANK}*$", re.M)
_QUOTE_PREFIX = re.compile(rf"^((?:{BLANK}*{ALPHA}*[>|])+)", re.M)
_QUOTE_PREFIX_PART = re.compile(rf"({ALPHA}+>|\|)")
_CODE_OPEN = re.compile(r"^```[a-zA-Z0-9_]*$", re.M)
_CODE_CLOSE = re.compile(r"^```$", re.M)


def remove_pgp(text: str) -> str:
    """``\\A-----BEGIN PGP SIGNED MESSAGE-----...`` and the signature block."""
    text = _PGP_HEAD.sub("", text)
    last = text.rfind(_PGP_END)
    if last >= 0:  # the signature regex can only match up to the last END marker
        m = _PGP_SIG.search(text, 0, last + len(_PGP_END))
        if m:
            text = text[: m.start()] + text[m.end():]
    return text


def remove_unsubscribe(text: str) -> str:
    """``^Unsubscribe: .+@.+(\\n.+http:.+)?\\s*\\z`` (case-insensitive)."""
    body = text.rstrip(_ASCII_WS)
    last = body.rfind("\n") + 1
    starts = [last] if last == 0 else [body.rfind("\n", 0, last - 1) + 1, last]
    for start in starts:
        eol = text.find("\n", start)
        eol = len(text) if eol < 0 else eol
        line = text[start:eol]
        if not line.lower().startswith("unsubscribe: ") or "@" not in line[14:-1]:
            continue
        if start == last:  # nothing but whitespace follows
            return text[:start]
        end = text.find("\n", eol + 1)
        nxt = text[eol + 1: len(text) if end < 0 else end]
        if "http:" in nxt[1:-1].lower():
            return text[:start]
    return text


def remove_alias_markers(text: str) -> str:
    """``^.*>{5} "[^"\\n]+" == .+ writes:`` (a line prefix up to its last " writes:")."""
    if _ALIAS_WRITES not in text or '>>>>> "' not in text:
        return text
    out = []
    for line in text.split("\n"):
        w = line.rfind(_ALIAS_WRITES)
        if w > 0 and _ALIAS_MIDDLE.search(line, 0, w - 1):
            line = line[w + len(_ALIAS_WRITES):]
        out.append(line)
    return "\n".join(out)


def quote_all(block: str) -> str:
    """Ruby's ``block.gsub(/^/, "> ")`` (Ruby's ``^`` never matches at the very end)."""
    if block.endswith("\n"):
        return "> " + block[:-1].replace("\n", "\n> ") + "\n"
    return "> " + block.replace("\n", "\n> ")


def _named_keys(middle: str) -> list[str]:
    """The names a ``<<< ?NAME ?<<<`` line (given the part between the brackets) closes."""
    keys = {middle}
    if middle.startswith(" "):
        keys.add(middle[1:])
    if middle.endswith(" "):
        keys.add(middle[:-1])
        if middle.startswith(" ") and len(middle) >= 2:
            keys.add(middle[1:-1])
    return list(keys)


def _named_choices(line: str) -> list[str]:
    """Values of ``(.+)`` in ``^>>> ?(.+) ?>>>$``, in the regex engine's order."""
    choices = []
    for i in ((4, 3) if line[3:4] == " " else (3,)):
        for j in ((len(line) - 3, len(line) - 4) if line[-4:-3] == " " else (len(line) - 3,)):
            if j > i:
                choices.append(line[i:j])
    return choices


def _replace_enclosed(text: str, opens: re.Pattern[str], closes: re.Pattern[str],
                      named: bool) -> str:
    close_at: dict[str, list[int]] = {}
    for m in closes.finditer(text):
        for key in _named_keys(m.group(0)[3:-3]) if named else [""]:
            close_at.setdefault(key, []).append(m.start())
    if not close_at:
        return text
    out, pos = [], 0
    for m in opens.finditer(text):
        if m.start() < pos:
            continue
        body_start = m.end() + 1
        for key in _named_choices(m.group(0)) if named else [""]:
            starts = close_at.get(key, [])
            k = bisect.bisect_left(starts, body_start + 2)  # a body of at least one char
            if k < len(starts):
                close = starts[k]
                end = text.find("\n", close)
                end = len(text) if end < 0 else end
                out += [text[pos: m.start()], quote_all(text[body_start: close - 1])]
                pos = end
                break
    return "".join(out) + text[pos:]


def convert_enclosed_quotes(text: str) -> str:
    """``>>> name >>>`` ... ``<<< name <<<`` and ``>>>>`` ... ``<<<<`` blocks become "> " quotes."""
    if "<<<" not in text:
        return text
    text = _replace_enclosed(text, _NAMED_OPEN, _NAMED_CLOSE, named=True)
    return _replace_enclosed(text, _PLAIN_OPEN, _PLAIN_CLOSE, named=False)


def normalise_quote_prefixes(text: str) -> str:
    """``|`` and ``name>`` quote prefixes become ``>``."""
    return _QUOTE_PREFIX.sub(lambda m: _QUOTE_PREFIX_PART.sub(">", m.group(1)), text)


def code_block_spans(text: str) -> list[tuple[int, int]]:
    """``^```\\w*$\\n.*?^```$`` (dot-all) matches, non-overlapping, left to right."""
    closes = [m.start() for m in _CODE_CLOSE.finditer(text)]
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in _CODE_OPEN.finditer(text):
        if m.start() < pos:
            continue
        k = bisect.bisect_left(closes, m.end() + 1)
        if k == len(closes):
            break
        spans.append((m.start(), closes[k] + 3))
        pos = closes[k] + 3
    return spans
