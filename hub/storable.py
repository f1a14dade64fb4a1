"""Strings Postgres can hold.

Python strings can carry two things Postgres (UTF-8 database) refuses:

- U+0000: a ``text`` column raises ``CharacterNotInRepertoireError`` and ``jsonb``
  refuses the ``\\u0000`` escape;
- lone surrogates (U+D800..U+DFFF), which ``json.loads`` lets through from a
  ``"\\ud800"`` escape: they cannot be UTF-8 encoded at all.

Both are replaced with U+FFFD (the replacement character) rather than stripped: the
reader sees that something was there, and two ids that differ only by a NUL stay
distinct, while a retry of the same payload still maps to the same (replaced) id, so
idempotency keys keep working. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

REPLACEMENT = "\ufffd"


def _has_lone_surrogate(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def storable_text(s: str) -> str:
    """``s`` with U+0000 and lone surrogates replaced by U+FFFD."""
    if "\x00" in s:
        s = s.replace("\x00", REPLACEMENT)
    if not s.isascii() and _has_lone_surrogate(s):
        s = "".join(REPLACEMENT if "\ud800" <= ch <= "\udfff" else ch for ch in s)
    return s


def storable(value: Any) -> Any:
    """``value`` (JSON-like builtins: str, list, tuple, dict, scalars) with every string,
    dict keys included, made storable. Other values are returned as they are."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(storable(v) for v in value)
    return value
