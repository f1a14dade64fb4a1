"""Text decoding that never fails: declared charset (with the aliases mail clients
really use), then UTF-8, then Windows-1252 with replacement characters."""

from __future__ import annotations

import codecs
import re

# Labels seen in the wild that Python does not know, or knows too strictly.
_ALIASES = {
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "x-user-defined": "windows-1252",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "iso-8859-1": "windows-1252",
    "latin1": "windows-1252",
    "us-ascii": "ascii",
    "ansi_x3.4-1968": "ascii",
    "tis-620": "cp874",
}
_SURROGATES = re.compile(r"[\ud800-\udfff]+")


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().strip('"').lower()
    label = _ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def clean(text: str) -> str:
    """Newlines normalised; NUL and lone surrogates (unstorable) replaced."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return _SURROGATES.sub("\ufffd", text)


def decode_text(data: bytes, charset: str | None) -> tuple[str, list[str]]:
    """Decode a body part; returns (text, defects). Never raises."""
    problems: list[str] = []
    codec = _codec(charset)
    if charset and codec is None:
        problems.append(f"UnknownCharset:{charset[:40]}")
    candidates = [c for c in (codec, "utf-8") if c]
    for name in dict.fromkeys(candidates):
        try:
            return clean(data.decode(name)), problems
        except (UnicodeDecodeError, LookupError, ValueError):
            continue
    if codec not in (None, "ascii", "utf-8"):
        problems.append(f"CharsetMismatch:{codec}")
        try:
            return clean(data.decode(codec, "replace")), problems
        except (LookupError, ValueError):
            pass
    return clean(data.decode("windows-1252", "replace")), problems


def fix_text(value: str) -> str:
    """Header text that the email package left with surrogate-escaped raw bytes."""
    if not _SURROGATES.search(value):
        return clean(value)
    raw = value.encode("utf-8", "surrogateescape")
    for name in ("utf-8", "windows-1252"):
        try:
            return clean(raw.decode(name))
        except UnicodeDecodeError:
            continue
    return clean(raw.decode("utf-8", "replace"))
