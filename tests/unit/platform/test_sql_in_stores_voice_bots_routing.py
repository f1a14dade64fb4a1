"""Issue 12: the bots, voice and routing modules that change state or run the router
hold no SQL of their own; their statements live in the subsystem's store
(hub/bots/store/, hub/voice/store/) or routing's Postgres gateway
(hub/routing/persist.py). They import asyncpg only for types (under
``if TYPE_CHECKING:``). Adding a statement or a run-time asyncpg import to one of them
fails here; put it in the store instead."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SQL = re.compile(r"\b(SELECT |INSERT INTO|UPDATE |DELETE FROM)")

NO_SQL_HERE = [
    "hub/bots/actions/admin.py", "hub/bots/actions/bots.py", "hub/bots/presence.py",
    "hub/voice/actions/calls.py", "hub/voice/actions/callbacks.py", "hub/voice/ingest.py",
    "hub/routing/service.py", "hub/routing/reconcile.py",
]


def _tree(rel: str) -> ast.Module:
    return ast.parse((ROOT / rel).read_text(encoding="utf-8"), rel)


def _docstring_lines(tree: ast.Module) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = node.body[0] if node.body else None
            if isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant):
                lines.add(doc.value.lineno)
    return lines


def sql_lines(tree: ast.Module) -> list[int]:
    """Lines of string literals (f-strings: their literal parts) that hold a statement,
    docstrings aside."""
    docs = _docstring_lines(tree)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values
                           if isinstance(v, ast.Constant) and isinstance(v.value, str))
        else:
            continue
        if node.lineno not in docs and SQL.search(text):
            found.add(node.lineno)
    return sorted(found)


def runtime_asyncpg_imports(tree: ast.Module) -> list[int]:
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only |= {n.lineno for n in ast.walk(node) if hasattr(n, "lineno")}
    lines = []
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        if any(n == "asyncpg" or n.startswith("asyncpg.") for n in names) \
                and node.lineno not in type_only:
            lines.append(node.lineno)
    return lines


def test_bots_voice_and_routing_actions_hold_no_sql():
    offenders = {rel: lines for rel in NO_SQL_HERE if (lines := sql_lines(_tree(rel)))}
    assert offenders == {}, f"SQL string literals outside the store: {offenders}"


def test_bots_voice_and_routing_actions_import_asyncpg_only_for_types():
    offenders = {rel: lines for rel in NO_SQL_HERE
                 if (lines := runtime_asyncpg_imports(_tree(rel)))}
    assert offenders == {}, f"asyncpg imported at run time outside the store: {offenders}"


def test_the_stores_they_use_do_hold_the_statements():
    # The check is not vacuous: the statements went somewhere it can see.
    for rel in ("hub/bots/store/accounts.py", "hub/bots/store/holds.py",
                "hub/voice/store/callbacks.py", "hub/voice/store/call_records.py",
                "hub/voice/store/scripts.py", "hub/routing/persist.py"):
        assert sql_lines(_tree(rel)), rel


def test_the_check_sees_sql_and_imports():
    tree = ast.parse('import asyncpg\nq = f"SELECT {x} FROM t"\n'
                     'def f():\n    """UPDATE in a docstring is prose."""\n'
                     'if TYPE_CHECKING:\n    from asyncpg import Pool\n')
    assert sql_lines(tree) == [2]
    assert runtime_asyncpg_imports(tree) == [1]
