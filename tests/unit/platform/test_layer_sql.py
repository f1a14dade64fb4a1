"""No SQL in web/ or workers/ outside the stores (issue 12): string literals there carry
no SQL statement, and asyncpg is imported at run time only where pools and connections
are made. Type-only imports (under ``if TYPE_CHECKING:``) are fine.

SQL_NOT_YET_MOVED names the files whose statements still wait for their store module
(docs/security.md, "Left to do"); the list may only shrink: a file on it that no longer
has SQL fails the test too, so it is taken off."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SQL = re.compile(r"\b(SELECT |INSERT INTO|UPDATE |DELETE FROM)")

# Where pools and connections are created (the app, the worker, the CLI and dev runner).
ASYNCPG_RUNTIME = {"web/app.py", "workers/main.py", "web/cli.py", "web/devrun.py"}

# Not moved yet: demo seeding (web/seed*.py) and the dev runner's database creation.
SQL_NOT_YET_MOVED = {
    "web/devrun.py", "web/seed.py", "web/seed_messaging.py", "web/seed_routing.py",
}


def _sources() -> list[tuple[str, ast.Module]]:
    out = []
    for top in ("web", "workers"):
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            out.append((rel, ast.parse(path.read_text(encoding="utf-8"), rel)))
    return out


def _strings(tree: ast.Module) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values
                           if isinstance(v, ast.Constant) and isinstance(v.value, str))
            found.append((node.lineno, text))
    return found


def _docstrings(tree: ast.Module) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = node.body[0] if node.body else None
            if isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant):
                lines.add(doc.value.lineno)
    return lines


def _sql_lines(tree: ast.Module) -> list[int]:
    docs = _docstrings(tree)
    return sorted({line for line, text in _strings(tree)
                   if line not in docs and SQL.search(text)})


def _runtime_asyncpg_imports(tree: ast.Module) -> list[int]:
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


def test_no_sql_in_web_or_workers_outside_the_stores():
    offenders = {rel: lines for rel, tree in _sources()
                 if (lines := _sql_lines(tree)) and rel not in SQL_NOT_YET_MOVED}
    assert offenders == {}, f"SQL string literals outside hub/store: {offenders}"


def test_the_not_yet_moved_list_only_shrinks():
    with_sql = {rel for rel, tree in _sources() if _sql_lines(tree)}
    assert SQL_NOT_YET_MOVED <= with_sql, (
        f"no SQL left in {sorted(SQL_NOT_YET_MOVED - with_sql)}: take them off the list")


def test_asyncpg_is_imported_only_where_pools_are_made():
    offenders = {rel: lines for rel, tree in _sources()
                 if (lines := _runtime_asyncpg_imports(tree))
                 and rel not in ASYNCPG_RUNTIME | SQL_NOT_YET_MOVED}
    assert offenders == {}, f"asyncpg imported outside stores and pool creation: {offenders}"


def test_the_check_sees_sql_and_imports():
    tree = ast.parse('import asyncpg\nq = f"SELECT {x} FROM t"\n'
                     'def f():\n    """SELECT in a docstring is prose."""\n'
                     'if TYPE_CHECKING:\n    from asyncpg import Pool\n')
    assert _sql_lines(tree) == [2]
    assert _runtime_asyncpg_imports(tree) == [1]
