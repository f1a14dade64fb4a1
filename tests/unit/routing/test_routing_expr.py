"""The queue filter language: parsing, evaluation, and errors that point at a column."""

from __future__ import annotations

import pytest

from hub.errors import ConfigError
from hub.routing.expr import ExprError, Value, matches, names, parse

VIP_CHAT = 'channel == "chat" and (tier == "vip" or topic in ["billing","upgrade"])'


def ok(text: str, **attrs: Value) -> bool:
    return matches(parse(text), attrs)


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"channel": "chat", "tier": "vip"}, True),
        ({"channel": "chat", "topic": "upgrade"}, True),
        ({"channel": "chat", "topic": "tv"}, False),
        ({"channel": "email", "tier": "vip"}, False),
        ({}, False),
    ],
)
def test_vip_chat_example(attrs: dict[str, Value], expected: bool) -> None:
    assert matches(parse(VIP_CHAT), attrs) is expected


def test_operators_and_literals() -> None:
    assert ok("priority >= 2 and priority < 5.5", priority=3)
    assert not ok("priority > 3", priority=3)
    assert ok("language != 'de'", language="en")
    assert ok("not vip", vip=False)
    assert ok("not not vip", vip=True)
    assert ok("vip == true and blocked == false", vip=True, blocked=False)
    assert ok("ivr == null")  # a missing attribute is null
    assert ok("ivr != null", ivr="2")
    assert ok('topic not in ["sales"]', topic="billing")
    assert ok('"tv" in tags', tags=["tv", "internet"])
    assert ok('"net" in product', product="internet")
    assert ok("-1 < score", score=0)
    assert ok('name == "a \\"quoted\\" name"', name='a "quoted" name')
    assert ok("customer.tier == 'gold'", **{"customer.tier": "gold"})
    assert ok("a or b and c", a=True, b=False, c=False)  # and binds tighter
    assert not ok("(a or b) and c", a=True, b=False, c=False)


def test_type_mismatch_is_false_not_an_error() -> None:
    assert not ok("tier > 3", tier="vip")
    assert not ok("count == 1", count=True)  # bools are not numbers
    assert not ok("x in 5", x=5)
    assert not ok("missing < 1")
    assert ok("1 == 1.0")


def test_functions() -> None:
    assert ok('has_skill("tv")', skills={"tv": 1})
    assert ok('has_skill("tv", 2)', skills={"tv": 3})
    assert not ok('has_skill("tv", 2)', skills={"tv": 1})
    assert ok('has_skill("tv")', skills=["tv"])
    assert not ok('has_skill("tv", 2)', skills=["tv"])
    assert not ok('has_skill("tv")')
    assert ok('lower(language) == "de"', language="DE")
    assert ok("len(tags) == 2", tags=["a", "b"])


def test_names_lists_every_attribute_read() -> None:
    assert names(parse(VIP_CHAT)) == {"channel", "tier", "topic"}
    assert names(parse('has_skill("x") and lower(y) == "z"')) == {"skills", "y"}


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ('channel == "chat" and', 22, "expected a value"),
        ('channel == "chat" and (tier == "vip"', 37, "expected ')'"),
        ("channel = 'chat'", 9, "unexpected character '='"),
        ('topic in ["a", "b"', 19, "expected ']'"),
        ("channel == 'chat", 12, "unterminated string"),
        ("tier == vip vip", 13, "unexpected 'vip'"),
        ("eval('1')", 1, "unknown function 'eval'"),
        ('__import__("os")', 1, "unknown function '__import__'"),
        ("lower()", 1, "lower() takes 1 arguments, got 0"),
        ("has_skill(tv)", 1, "has_skill() needs a skill name string"),
        ("a == 'x\\q'", 8, "unknown escape"),
        ("", 1, "empty expression"),
        ("a == 1 ;", 8, "unexpected character ';'"),
        ("()", 2, "expected a value"),
    ],
)
def test_parse_errors_point_at_the_column(text: str, column: int, fragment: str) -> None:
    with pytest.raises(ExprError) as info:
        parse(text)
    assert info.value.column == column, str(info.value)
    assert fragment in str(info.value)
    assert str(info.value).startswith(f"column {column}: ")
    assert isinstance(info.value, ConfigError)


def test_nesting_and_length_are_bounded() -> None:
    with pytest.raises(ExprError, match="nested too deeply"):
        parse("(" * 100 + "a" + ")" * 100)
    with pytest.raises(ExprError, match="nested too deeply"):
        parse("not " * 100 + "a")
    with pytest.raises(ExprError, match="longer than"):
        parse("a == 1 or " * 300 + "a == 1")
    assert ok("(" * 10 + "a" + ")" * 10, a=True)
