"""The test suite's own layout (docs/running.md, "Tiers"): every test file sits in a tier
folder, and no module imports from a test module (shared helpers and fixtures live in
tests/fixtures/, so a test module can move or be deleted without breaking another)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[2]
TIERS = {"unit", "integration", "browser"}


def _python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found.extend((node.lineno, f"{node.module}.{a.name}") for a in node.names)
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
    return found


def _is_test_module(dotted: str) -> bool:
    parts = dotted.split(".")
    return parts[0] == "tests" and any(p.startswith("test_") for p in parts[1:])


def test_no_module_imports_from_a_test_module() -> None:
    offenders = [
        f"{path.relative_to(TESTS.parent)}:{line}: {module}"
        for path in _python_files()
        for line, module in _imported_modules(path)
        if _is_test_module(module)
    ]
    assert offenders == [], "import helpers from tests/fixtures/ instead:\n" + "\n".join(
        offenders)


def test_no_module_imports_from_a_test_module_even_as_text() -> None:
    # The AST check above misses strings handed to importlib; grep as well.
    offenders = [
        f"{path.relative_to(TESTS.parent)}:{n}"
        for path in _python_files() if path != Path(__file__).resolve()
        for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "from tests.test_" in text or "import tests.test_" in text
    ]
    assert offenders == []


def test_every_test_file_is_in_a_tier_and_fixtures_hold_no_tests() -> None:
    stray = [str(p.relative_to(TESTS)) for p in TESTS.rglob("test_*.py")
             if p.relative_to(TESTS).parts[0] not in TIERS]
    assert stray == [], "test files go under tests/unit|integration|browser/"
    for path in (TESTS / "fixtures").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        tests = [n.name for n in tree.body
                 if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                 and n.name.startswith("test_")]
        assert tests == [], f"{path.name} defines tests {tests}; tests go in a tier folder"
