"""SQL stays in the subsystems' stores (issue 12, docs/architecture.md "Layout of hub/"):
the actions, runners and ingest steps named here hold no SQL string literal and import
asyncpg only for types (connections and pools are passed in as typed parameters). Their
statements live in the package's ``store``. The list may only grow: add a module once its
SQL has moved (docs/architecture.md, "SQL outside store", names the ones still to do)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.fixtures.sql_scan import runtime_asyncpg_imports, sql_lines

ROOT = Path(__file__).resolve().parents[3]

WITHOUT_SQL = [
    "hub/conversations/actions.py",
    "hub/conversations/pipeline.py",
    "hub/conversations/dead_letters.py",
    "hub/messaging/actions.py",
    "hub/messaging/reply_policy.py",
    "hub/contacts/actions/merge.py",
    "hub/contacts/actions/verification.py",
    "hub/contacts/ingest.py",
]


def _tree(rel: str) -> ast.Module:
    return ast.parse((ROOT / rel).read_text(encoding="utf-8"), rel)


@pytest.mark.parametrize("rel", WITHOUT_SQL)
def test_module_holds_no_sql(rel: str) -> None:
    assert sql_lines(_tree(rel)) == [], f"{rel}: move these statements into the store"


@pytest.mark.parametrize("rel", WITHOUT_SQL)
def test_module_imports_asyncpg_for_types_only(rel: str) -> None:
    assert runtime_asyncpg_imports(_tree(rel)) == [], (
        f"{rel}: import asyncpg under `if TYPE_CHECKING:`; driver calls belong in the store")


def test_the_scan_sees_sql_and_runtime_imports() -> None:
    tree = ast.parse('import asyncpg\nq = f"UPDATE t SET {x} = 1"\n'
                     'def f():\n    """DELETE FROM in a docstring is prose."""\n'
                     'if TYPE_CHECKING:\n    import asyncpg\n')
    assert sql_lines(tree) == [2]
    assert runtime_asyncpg_imports(tree) == [1]
