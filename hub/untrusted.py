"""Decoding and checking input from outside (request bodies, socket frames, query
strings, forms, provider webhooks) before anything acts on it. Every edge uses these, so
every edge refuses the same shapes with the same errors:

- JSON is decoded once untyped and walked: nesting deeper than ``MAX_JSON_DEPTH``, or so
  deep that the decoder itself gives up (``RecursionError``), is refused; so is any integer
  outside Postgres' ``bigint`` (ids are bigint; larger values would fail at the query).
- Text Postgres cannot store (NUL; an unpaired surrogate) is refused naming the field,
  unless the caller keeps it (provider webhooks: the customer's text is cleaned on the
  ingest path instead, because refusing would make the provider retry forever).
- YAML documents (admin configs) get the same walk (``load_yaml``).
- Then the typed decode; its validation error names the field (``$.text``).

Pure: raises ``BadInput`` (400) and never does I/O."""

from __future__ import annotations

import re
from typing import Any, TypeVar, overload

import msgspec
import yaml

from hub.errors import BadInput

MAX_JSON_DEPTH = 64
# Values walked per document. A 256 KiB body holds at most ~130,000; YAML aliases can make
# a small document name millions (a "billion laughs"), which must not cost a CPU-minute.
MAX_NODES = 250_000
BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1

T = TypeVar("T")


def unstorable(text: str) -> str | None:
    """Why Postgres cannot store this text, or None when it can."""
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired surrogate"
    return None


def storable_text(value: str, field: str, *, code: str = "bad_input") -> str:
    """``value`` unchanged, or BadInput naming ``field`` when Postgres cannot store it."""
    why = unstorable(value)
    if why is not None:
        raise BadInput(f"{field}: {why}", code=code)
    return value


def is_decimal(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also takes '²', which ``int()`` refuses."""
    return text.isascii() and text.isdigit()


def parse_int(raw: str, field: str, *, lo: int = 1, hi: int = BIGINT_MAX) -> int:
    """A decimal integer from text (query string, header, form) within [lo, hi] (default:
    an id, a positive bigint); else BadInput naming the field."""
    if not is_decimal(raw) or len(raw) > 19 or not lo <= int(raw) <= hi:
        raise BadInput(f"{field}: an integer {lo}-{hi}")
    return int(raw)


def check_tree(tree: Any, *, keep_text: bool = False, code: str = "invalid_body") -> None:
    """Walk decoded JSON (iteratively: depth is what we are bounding) and refuse what no
    handler or column can take. Field names in reasons follow msgspec's ``$.a[0].b``."""
    stack: list[tuple[Any, int, str]] = [(tree, 0, "$")]
    budget = MAX_NODES
    while stack:
        value, depth, path = stack.pop()
        budget -= 1
        if budget < 0:
            raise BadInput(f"more than {MAX_NODES} values in one document", code=code)
        if isinstance(value, str):
            if not keep_text:
                storable_text(value, path, code=code)
        elif isinstance(value, bool) or value is None or isinstance(value, float):
            continue
        elif isinstance(value, int):
            if not BIGINT_MIN <= value <= BIGINT_MAX:
                raise BadInput(f"{path}: integer out of range (64-bit)", code=code)
        elif isinstance(value, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise BadInput(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", code="bad_json")
            if isinstance(value, list):
                stack.extend((item, depth + 1, f"{path}[{i}]") for i, item in enumerate(value))
            else:
                for key, item in value.items():
                    if not keep_text and isinstance(key, str):  # YAML keys may be numbers
                        storable_text(key, f"{path} (a key)", code=code)
                    stack.append((item, depth + 1, f"{path}.{key}"))


@overload
def decode_json(raw: bytes | str, kind: type[T], *, keep_text: bool = ...,
                code: str = ...) -> T: ...
@overload
def decode_json(raw: bytes | str, kind: None = ..., *, keep_text: bool = ...,
                code: str = ...) -> Any: ...
def decode_json(raw: bytes | str, kind: Any = None, *, keep_text: bool = False,
                code: str = "invalid_body") -> Any:
    """Decode untrusted JSON into ``kind`` (any JSON value when None). Malformed or too
    deep JSON: BadInput ``bad_json``; a value that fails ``kind`` or the checks above:
    BadInput ``code`` with the field in the reason."""
    try:
        tree = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise BadInput(f"malformed JSON: {exc}", code="bad_json") from None
    except msgspec.ValidationError as exc:  # e.g. a number too large for a float
        raise BadInput(str(exc), code=code) from None
    except RecursionError:
        raise BadInput(f"JSON nested deeper than {MAX_JSON_DEPTH} levels",
                       code="bad_json") from None
    check_tree(tree, keep_text=keep_text, code=code)
    if kind is None:
        return tree
    try:
        return msgspec.json.decode(raw, type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadInput(str(exc), code=code) from None


_AT = re.compile(r"^(?P<msg>.*?)(?: - at (?:`key` in )?`\$(?P<path>[^`]*)`)?$", re.DOTALL)
_BOUND = re.compile(r"^Expected `[^`]+` (?P<op>[<>]=?) (?P<val>\S+)$")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<f>[^`]+)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<f>[^`]+)`$")
_TYPE = re.compile(r"^Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`$")


def field_problem(exc: msgspec.ValidationError) -> tuple[str, str]:
    """msgspec's validation error as (field path, problem) in the words of our 422s:
    ``targets.resolution.seconds``, ``must be >= 1``. Config documents name fields by path,
    not by msgspec's ``$.`` notation."""
    m = _AT.match(str(exc))
    msg, path = (m.group("msg"), m.group("path") or "") if m else (str(exc), "")
    path = path.lstrip(".")
    if b := _BOUND.match(msg):
        val = b.group("val")
        return path, f"must be {b.group('op')} {val[:-2] if val.endswith('.0') else val}"
    if u := _UNKNOWN.match(msg):
        return (f"{path}.{u.group('f')}" if path else u.group("f")), "unknown field"
    if r := _MISSING.match(msg):
        return (f"{path}.{r.group('f')}" if path else r.group("f")), "required"
    if t := _TYPE.match(msg):
        return path, f"expected {t.group('want')}, got {t.group('got')}"
    return path, msg[0].lower() + msg[1:] if msg else "invalid"


def load_yaml(text: str | bytes, *, code: str = "invalid_body") -> Any:
    """``yaml.safe_load`` (YAML is a superset of JSON) bounded and checked like JSON.
    Invalid YAML is BadInput ``bad_yaml`` with the line and column."""
    try:
        tree = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise BadInput(f"not valid YAML: {where}{problem}"[:400], code="bad_yaml") from None
    except RecursionError:
        raise BadInput(f"YAML nested deeper than {MAX_JSON_DEPTH} levels",
                       code="bad_yaml") from None
    check_tree(tree, code=code)
    return tree
