"""SQL lives in the stores (issue 12).

web/ and workers/: string literals carry no SQL statement, and asyncpg is imported at run
time only where pools and connections are made. hub/: SQL string literals and run-time
asyncpg imports only in store modules (STORE_PATTERNS: each subsystem's ``store`` room,
routing's Postgres gateways, the kernel). Type-only imports (under ``if TYPE_CHECKING:``)
are fine everywhere.

HUB_NOT_YET_MOVED names the hub/ modules whose statements still wait for their store;
the list may only shrink: a listed file that no longer has SQL or a run-time asyncpg
import fails the test too, so it is taken off."""

from __future__ import annotations

import ast
import re
from fnmatch import fnmatchcase
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SQL = re.compile(r"\b(SELECT |INSERT INTO|UPDATE |DELETE FROM)")

# Where pools and connections are created (the app, the worker, the CLI and dev runner).
ASYNCPG_RUNTIME = {"web/app.py", "workers/main.py", "web/cli.py", "web/devrun.py"}

# The modules of hub/ that may speak SQL (fnmatch patterns; ``*`` crosses ``/``).
STORE_PATTERNS = (
    "hub/*/store.py", "hub/*/store/*.py",
    # Routing's Postgres (and Redis) gateways.
    "hub/routing/store.py", "hub/routing/persist.py", "hub/routing/configstore.py",
    "hub/routing/atomic.py", "hub/routing/board_store.py",
    # The kernel: events leave through the outbox, state changes through the unit of
    # work; hub/db/ migrates, creates the database and holds the table-less probes.
    "hub/outbox.py", "hub/unit_of_work.py", "hub/db/*.py",
)

# Still holding their own SQL (or asyncpg) until their statements move to a store.
HUB_NOT_YET_MOVED: set[str] = set()


def is_store_module(rel: str) -> bool:
    return any(fnmatchcase(rel, pattern) for pattern in STORE_PATTERNS)


def _sources(*tops: str) -> list[tuple[str, ast.Module]]:
    out = []
    for top in tops or ("web", "workers"):
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


def test_no_sql_in_web_or_workers():
    offenders = {rel: lines for rel, tree in _sources() if (lines := _sql_lines(tree))}
    assert offenders == {}, f"SQL string literals outside the hub stores: {offenders}"


def test_asyncpg_is_imported_only_where_pools_are_made():
    offenders = {rel: lines for rel, tree in _sources()
                 if (lines := _runtime_asyncpg_imports(tree)) and rel not in ASYNCPG_RUNTIME}
    assert offenders == {}, f"asyncpg imported outside stores and pool creation: {offenders}"


def _hub_speakers() -> dict[str, list[int]]:
    """hub/ modules with an SQL literal or a run-time asyncpg import: the lines."""
    return {rel: lines for rel, tree in _sources("hub")
            if (lines := sorted(set(_sql_lines(tree)) | set(_runtime_asyncpg_imports(tree))))}


def test_hub_speaks_sql_only_in_store_modules():
    offenders = {rel: lines for rel, lines in _hub_speakers().items()
                 if not is_store_module(rel) and rel not in HUB_NOT_YET_MOVED}
    assert offenders == {}, (
        f"SQL or a run-time asyncpg import outside hub's store modules: {offenders}")


def test_the_hub_not_yet_moved_list_only_shrinks():
    speakers = _hub_speakers()
    done = sorted(HUB_NOT_YET_MOVED - speakers.keys())
    assert not done, f"no SQL or asyncpg left in {done}: take them off HUB_NOT_YET_MOVED"
    assert not {rel for rel in HUB_NOT_YET_MOVED if is_store_module(rel)}


def test_store_patterns_name_the_rooms():
    assert is_store_module("hub/agents/store.py")
    assert is_store_module("hub/contacts/store/context.py")
    assert is_store_module("hub/admin/store/demo_seed.py")
    assert is_store_module("hub/db/migrate.py")
    assert is_store_module("hub/routing/persist.py")
    assert not is_store_module("hub/conversations/actions.py")
    assert not is_store_module("hub/routing/service.py")
    assert not is_store_module("hub/schema.py")
    assert not is_store_module("hub/email/ingest.py")


def test_the_check_sees_sql_and_imports():
    tree = ast.parse('import asyncpg\nq = f"SELECT {x} FROM t"\n'
                     'def f():\n    """SELECT in a docstring is prose."""\n'
                     'if TYPE_CHECKING:\n    from asyncpg import Pool\n')
    assert _sql_lines(tree) == [2]
    assert _runtime_asyncpg_imports(tree) == [1]
