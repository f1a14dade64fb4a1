"""hub/untrusted.py, the one decoder every edge uses: pure, no I/O."""

from __future__ import annotations

import msgspec
import pytest

from hub.errors import BadInput
from hub.untrusted import (
    MAX_JSON_DEPTH,
    decode_json,
    is_decimal,
    load_yaml,
    parse_int,
    storable_text,
)


class Body(msgspec.Struct, forbid_unknown_fields=True):
    id: int
    text: str = ""
    extra: dict[str, object] = {}


def _refused(fn, *args, **kw) -> BadInput:
    with pytest.raises(BadInput) as err:
        fn(*args, **kw)
    return err.value


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000, 50_000])
def test_deep_json_is_bad_json_never_recursion(depth):
    raw = b'{"id": 1, "extra": {"k": ' + b"[" * depth + b"]" * depth + b"}}"
    err = _refused(decode_json, raw, Body)
    assert err.code == "bad_json" and "nested" in err.reason and err.status == 400


def test_depth_at_the_limit_is_fine():
    raw = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    assert decode_json(raw) is not None


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30])
def test_integers_outside_bigint_are_refused_naming_the_field(value):
    err = _refused(decode_json, f'{{"id": {value}}}', Body)
    assert err.code == "invalid_body" and err.reason.startswith("$.id:")
    assert decode_json(f'{{"id": {2**63 - 1}}}', Body).id == 2**63 - 1


def test_nul_is_refused_naming_the_field_unless_kept():
    raw = '{"id": 1, "text": "a\\u0000b"}'
    err = _refused(decode_json, raw, Body)
    assert err.reason == "$.text: contains a NUL character"
    assert decode_json(raw, Body, keep_text=True).text == "a\x00b"  # webhooks: ingest cleans
    err = _refused(decode_json, '{"id": 1, "extra": {"a\\u0000": 1}}', Body, code="bad_frame")
    assert err.code == "bad_frame" and "key" in err.reason


def test_surrogates_invalid_utf8_and_non_objects():
    assert _refused(decode_json, '{"id": 1, "text": "\\ud800"}', Body).code == "bad_json"
    assert _refused(decode_json, b'{"id": 1, "text": "\xff"}', Body).code == "bad_json"
    assert _refused(decode_json, "[1]", Body).code == "invalid_body"
    assert _refused(decode_json, "1e400").code == "bad_json"  # out of range for a float
    assert "surrogate" in _refused(storable_text, "a\ud800", "name").reason


def test_yaml_is_bounded_like_json():
    assert load_yaml("a: [1, 2]") == {"a": [1, 2]}
    assert _refused(load_yaml, "a: " + "[" * 2000 + "]" * 2000).code == "bad_yaml"
    assert _refused(load_yaml, "a: [").code == "bad_yaml"
    assert _refused(load_yaml, 'a: "x\\0y"').reason.startswith("$.a:")
    # A "billion laughs": aliases naming a million values from 300 bytes.
    doc, prev = "a: &a [1,1,1,1,1,1,1,1,1,1]\n", "a"
    for name in "bcdefghi":
        doc += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]\n"
        prev = name
    assert "values in one document" in _refused(load_yaml, doc).reason


def test_decimal_text():
    assert is_decimal("42") and not is_decimal("²") and not is_decimal("-1")
    assert not is_decimal("")
    assert parse_int("9223372036854775807", "id") == 2**63 - 1
    for raw in ("²", "9223372036854775808", "0", "-1", " 1", "1e3", "99999999999999999999"):
        assert _refused(parse_int, raw, "id").reason.startswith("id:")
    assert parse_int("0", "If-Match", lo=0) == 0
