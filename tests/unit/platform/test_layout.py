"""The shape of hub/ (docs/architecture.md "Layout of hub/"): the generic conversation
pipeline names no channel (channel facts come from hub/channels_table.py, channel steps
from hub/ingest_steps.py), and the channel table covers every channel of the schema."""

from __future__ import annotations

import ast
import pathlib
import re
import typing

from hub.channels_table import CHANNELS
from hub.schema import Channel

ROOT = pathlib.Path(__file__).resolve().parents[3]
GENERIC = ROOT / "hub" / "conversations"
# "bot" is an author as much as a channel; the provider channels are what must not leak.
NAMES = sorted(set(typing.get_args(Channel)) - {"bot"})
# A person's address is data, not the channel: ``Agent(email=r["email"])`` is fine.
FIELDS = {"email"}


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _words(identifier: str) -> set[str]:
    """``SEND_EMAIL_ACK`` -> send, email, ack; ``EmailOptions`` -> email, options."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", identifier)
    return {w.lower() for w in re.split(r"[\s_.]+", spaced) if w}


def channel_mentions(source: str) -> list[str]:
    """Channel names in code: string literals (a name alone, or quoted in SQL) and words
    of identifiers and imported modules. Docstrings and comments may explain."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    quoted = re.compile(r"'(" + "|".join(NAMES) + r")'")
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                and node.slice.value in FIELDS:
            skip.add(id(node.slice))  # a record's column
        names: list[str] = []
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            if node.value.lower() in NAMES or quoted.search(node.value):
                found.append(f"line {node.lineno}: {node.value!r}")
            continue
        if isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Attribute):
            names = [node.attr] if node.attr not in FIELDS else []
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, ast.arg):
            names = [node.arg]
        elif isinstance(node, ast.keyword) and node.arg and node.arg not in FIELDS:
            names = [node.arg]
        elif isinstance(node, ast.alias):
            names = [node.name, node.asname or ""]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        for name in names:
            hit = _words(name) & set(NAMES)
            if hit:
                found.append(f"line {getattr(node, 'lineno', '?')}: {name} ({', '.join(sorted(hit))})")
    return found


def test_the_generic_pipeline_names_no_channel():
    files = sorted(GENERIC.rglob("*.py"))
    assert len(files) > 3  # the package exists: the check is not vacuous
    offenders = {}
    for path in files:
        hits = channel_mentions(path.read_text(encoding="utf-8"))
        if hits:
            offenders[path.relative_to(ROOT).as_posix()] = hits
    assert offenders == {}, ("hub/conversations/ names channels; ask hub/channels_table.py"
                             " or register a step in hub/ingest_steps.py: " + repr(offenders))


def test_the_check_sees_what_it_must():
    sample = (
        'from hub.email.store.cases import EmailOptions\n'
        'x = "whatsapp"\n'
        'q = "SELECT 1 WHERE channel = \'voice\'"\n'
        'SEND_EMAIL_ACK = 1\n'
        'def f():\n    """Replies on chat are live."""\n    return is_live(c)\n'
    )
    hits = channel_mentions(sample)
    assert len(hits) == 5, hits  # module, alias, literal, SQL literal, constant name
    # Column names and a person's address are data.
    assert channel_mentions('cols = "a.email, a.phone"\nAgent(email=r["email"], n=a.email)\n') == []
    assert len(channel_mentions('steps(email=options)\n')) == 0  # a bare field-like keyword
    assert channel_mentions('steps(email_options=o)\n') != []


def test_every_schema_channel_has_facts():
    assert set(typing.get_args(Channel)) == set(CHANNELS)
