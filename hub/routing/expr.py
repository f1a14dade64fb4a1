"""A tiny, safe filter-expression language for queue filters.

Parsed to an AST (never ``eval``); evaluated against a flat attribute mapping.

Grammar::

    expr    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := operand [("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in") operand]
    operand := STRING | NUMBER | "true" | "false" | "null" | NAME | call | list | "(" expr ")"
    list    := "[" [operand ("," operand)*] "]"
    call    := NAME "(" [operand ("," operand)*] ")"

Names are attribute keys (letters, digits, ``_`` and ``.``, e.g. ``customer.tier``); a
missing attribute is ``null``. Evaluation never raises: comparing mismatched types is
false. Functions: ``has_skill(name[, min_level])`` (the item's ``skills`` attribute,
a mapping name -> level or a list of names), ``lower(x)``, ``len(x)``,
``language_matches(x, "en")`` (BCP 47 fallback, hub/languages.py: ``en-US`` is ``en``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from hub.errors import ConfigError
from hub.languages import language_matches

Value = str | int | float | bool | None | list[str] | dict[str, int]
Attrs = Mapping[str, Value]

MAX_LENGTH = 2000
MAX_DEPTH = 40

_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}
_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<num>-?\d+(?:\.\d+)?)
      | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
      | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


class ExprError(ConfigError):
    """A filter expression does not parse; ``column`` is 1-based."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column}: {message}")
        self.column = column
        self.message = message


@dataclass(frozen=True)
class Token:
    kind: str  # num | str | name | kw | op | end
    text: str
    col: int  # 1-based
    value: Value = None


# ---- AST --------------------------------------------------------------------------


@dataclass(frozen=True)
class Lit:
    value: Value


@dataclass(frozen=True)
class Name:
    name: str


@dataclass(frozen=True)
class ListLit:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    left: Node
    right: Node


@dataclass(frozen=True)
class Compare:
    op: str  # == != < <= > >= in notin
    left: Node
    right: Node


@dataclass(frozen=True)
class Call:
    fn: str
    args: tuple[Node, ...]


Node = Lit | Name | ListLit | Not | BoolOp | Compare | Call

# name -> (min args, max args)
FUNCTIONS: dict[str, tuple[int, int]] = {"has_skill": (1, 2), "lower": (1, 1), "len": (1, 1),
                                         "language_matches": (2, 2)}


def _unescape(raw: str, col: int) -> str:
    out: list[str] = []
    i = 1
    while i < len(raw) - 1:
        ch = raw[i]
        if ch == "\\":
            nxt = raw[i + 1]
            if nxt not in _ESCAPES:
                raise ExprError(f"unknown escape \\{nxt}", col + i)
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; an unknown character raises at its column."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            ch = text[pos]
            what = "unterminated string" if ch in "\"'" else f"unexpected character {ch!r}"
            raise ExprError(what, pos + 1)
        kind = m.lastgroup or ""
        raw = m.group()
        col = pos + 1
        pos = m.end()
        if kind == "ws":
            continue
        if kind == "num":
            tokens.append(Token("num", raw, col, float(raw) if "." in raw else int(raw)))
        elif kind == "str":
            tokens.append(Token("str", raw, col, _unescape(raw, col)))
        elif kind == "name" and raw in _KEYWORDS:
            tokens.append(Token("kw", raw, col))
        else:
            tokens.append(Token(kind, raw, col))
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def _is(self, kind: str, text: str | None = None) -> bool:
        return self.tok.kind == kind and (text is None or self.tok.text == text)

    def _expect(self, kind: str, text: str) -> Token:
        if not self._is(kind, text):
            raise ExprError(f"expected {text!r}, found {self._describe()}", self.tok.col)
        return self._take()

    def _describe(self) -> str:
        return "end of expression" if self.tok.kind == "end" else repr(self.tok.text)

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError("expression nested too deeply", self.tok.col)

    def parse(self) -> Node:
        node = self.or_()
        if not self._is("end"):
            raise ExprError(f"unexpected {self._describe()}", self.tok.col)
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self._is("kw", "or"):
            self._take()
            node = BoolOp("or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self._is("kw", "and"):
            self._take()
            node = BoolOp("and", node, self.not_())
        return node

    def not_(self) -> Node:
        if self._is("kw", "not"):
            self._take()
            self._enter()
            node: Node = Not(self.not_())
            self.depth -= 1
            return node
        return self.compare()

    def compare(self) -> Node:
        left = self.operand()
        if self._is("op") and self.tok.text in ("==", "!=", "<", "<=", ">", ">="):
            op = self._take().text
            return Compare(op, left, self.operand())
        if self._is("kw", "in"):
            self._take()
            return Compare("in", left, self.operand())
        if self._is("kw", "not") and self.tokens[self.i + 1].text == "in":
            self.i += 2
            return Compare("notin", left, self.operand())
        return left

    def operand(self) -> Node:
        tok = self.tok
        if tok.kind in ("num", "str"):
            self._take()
            return Lit(tok.value)
        if tok.kind == "kw" and tok.text in ("true", "false", "null"):
            self._take()
            return Lit({"true": True, "false": False, "null": None}[tok.text])
        if tok.kind == "name":
            self._take()
            if self._is("op", "("):
                return self.call(tok)
            return Name(tok.text)
        if self._is("op", "["):
            return self.list_()
        if self._is("op", "("):
            self._take()
            self._enter()
            node = self.or_()
            self.depth -= 1
            self._expect("op", ")")
            return node
        raise ExprError(f"expected a value, found {self._describe()}", tok.col)

    def _args(self, close: str) -> tuple[Node, ...]:
        args: list[Node] = []
        if not self._is("op", close):
            self._enter()
            args.append(self.operand())
            while self._is("op", ","):
                self._take()
                args.append(self.operand())
            self.depth -= 1
        self._expect("op", close)
        return tuple(args)

    def call(self, name: Token) -> Node:
        if name.text not in FUNCTIONS:
            known = ", ".join(sorted(FUNCTIONS))
            raise ExprError(f"unknown function {name.text!r} (known: {known})", name.col)
        self._take()  # "("
        args = self._args(")")
        lo, hi = FUNCTIONS[name.text]
        if not lo <= len(args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise ExprError(f"{name.text}() takes {want} arguments, got {len(args)}", name.col)
        if name.text == "has_skill" and not (isinstance(args[0], Lit)
                                             and isinstance(args[0].value, str)):
            raise ExprError("has_skill() needs a skill name string first", name.col)
        return Call(name.text, args)

    def list_(self) -> Node:
        self._take()  # "["
        return ListLit(self._args("]"))


def parse(text: str) -> Node:
    """Parse an expression; raises :class:`ExprError` pointing at the column."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters", MAX_LENGTH + 1)
    if not text.strip():
        raise ExprError("empty expression", 1)
    return _Parser(text).parse()


# ---- evaluation -------------------------------------------------------------------


def _is_num(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _equal(a: object, b: object) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return a == b


def _order(op: str, a: object, b: object) -> bool:
    if _is_num(a) and _is_num(b):
        x, y = float(a), float(b)  # type: ignore[arg-type]
    elif isinstance(a, str) and isinstance(b, str):
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    else:
        return False
    return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]


def _contains(item: object, container: object) -> bool:
    if isinstance(container, list):
        return any(_equal(item, c) for c in container)
    if isinstance(container, dict):
        return isinstance(item, str) and item in container
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    return False


def _call(fn: str, args: list[object]) -> object:
    if fn == "lower":
        return args[0].lower() if isinstance(args[0], str) else args[0]
    if fn == "len":
        return len(args[0]) if isinstance(args[0], str | list | dict) else None
    if fn == "language_matches":
        a, b = args
        return isinstance(a, str) and isinstance(b, str) and language_matches(a, b)
    # has_skill(name[, level]) against the attribute mapping's "skills" (args[-1]).
    name, skills = args[0], args[-1]
    level = args[1] if len(args) == 3 else 1
    if isinstance(skills, dict):
        have = skills.get(name)
        return _is_num(have) and _is_num(level) and have >= level  # type: ignore[operator]
    if isinstance(skills, list):
        return name in skills and _is_num(level) and level <= 1  # type: ignore[operator]
    return False


def evaluate(node: Node, attrs: Attrs) -> object:
    """Evaluate ``node`` against ``attrs``; never raises for any attribute values."""
    if isinstance(node, Lit):
        return node.value
    if isinstance(node, Name):
        return attrs.get(node.name)
    if isinstance(node, ListLit):
        return [evaluate(i, attrs) for i in node.items]
    if isinstance(node, Not):
        return not truthy(evaluate(node.operand, attrs))
    if isinstance(node, BoolOp):
        left = truthy(evaluate(node.left, attrs))
        if node.op == "and":
            return left and truthy(evaluate(node.right, attrs))
        return left or truthy(evaluate(node.right, attrs))
    if isinstance(node, Compare):
        a, b = evaluate(node.left, attrs), evaluate(node.right, attrs)
        if node.op == "==":
            return _equal(a, b)
        if node.op == "!=":
            return not _equal(a, b)
        if node.op == "in":
            return _contains(a, b)
        if node.op == "notin":
            return not _contains(a, b)
        return _order(node.op, a, b)
    args = [evaluate(a, attrs) for a in node.args]
    if node.fn == "has_skill":
        args.append(attrs.get("skills"))
    return _call(node.fn, args)


def truthy(value: object) -> bool:
    """Truth of a value: null, false, 0, "" and empty lists are false."""
    return bool(value)


def matches(node: Node, attrs: Attrs) -> bool:
    """Whether the expression holds for ``attrs``."""
    return truthy(evaluate(node, attrs))


def names(node: Node) -> set[str]:
    """Every attribute name the expression reads."""
    if isinstance(node, Name):
        return {node.name}
    if isinstance(node, Lit):
        return set()
    if isinstance(node, Not):
        return names(node.operand)
    if isinstance(node, BoolOp | Compare):
        return names(node.left) | names(node.right)
    out: set[str] = {"skills"} if isinstance(node, Call) and node.fn == "has_skill" else set()
    for child in node.items if isinstance(node, ListLit) else node.args:
        out |= names(child)
    return out
