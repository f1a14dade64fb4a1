"""The front end's own checks, run from pytest so `make test` covers them.

- the pure modules' unit tests (`node --test web/static/tests/`: inbox-store, the socket's
  backoff/resume, stream ids, formatting, channel labels);
- the committed `web/static/widget.js` is exactly a fresh build of `web/static/src/widget/`
  and `web/static/lib/` (a source edit without `make frontend` fails here);
- tsc checks every module (kernel, widget sources, page scripts) and none opts out.

Node is a build/test tool only (the hub serves the committed files). Without node these
skip locally with the reason and fail in CI (``OMNIHUB_REQUIRE_SYSTEM_DEPS=1``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.fixtures.system_deps import require

ROOT = Path(__file__).resolve().parents[3]
STATIC = ROOT / "web" / "static"


def _node() -> str:
    node = shutil.which("node")
    require(node, "Debian package nodejs not installed (apt-get install nodejs npm)")
    assert node is not None
    return node


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def test_pure_frontend_modules_pass_their_unit_tests() -> None:
    node = _node()
    result = _run(node, "--test", "--test-reporter=tap", str(STATIC / "tests"))
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout, result.stdout[-2000:]
    assert "# pass 0" not in result.stdout, "no unit test ran"


def test_committed_widget_bundle_is_a_fresh_build_of_its_sources() -> None:
    node = _node()
    require((ROOT / "node_modules" / "esbuild").is_dir(),
            "node_modules missing: run `make frontend` (npm ci) to check the widget bundle")
    result = _run(node, str(STATIC / "build.mjs"), "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_widget_bundle_is_one_classic_script_without_imports() -> None:
    # Shop pages embed it with one plain <script> tag: no module syntax may survive.
    text = (STATIC / "widget.js").read_text(encoding="utf-8")
    assert text.startswith("/*! omnihub chat widget")
    assert '"use strict";\n(() => {' in text
    for line in text.splitlines():
        assert not line.startswith(("import ", "export ")), line
    assert "window.OmnihubWidget = {" in text


def _typed_modules() -> list[Path]:
    """Every front-end module tsc must check: the kernel, the widget's sources and the
    page scripts (not the generated bundle, not the node tests)."""
    pages = [p for p in STATIC.glob("*.js") if p.name != "widget.js"]
    return sorted([*pages, *STATIC.glob("lib/**/*.js"), *STATIC.glob("src/**/*.js")])


def test_no_front_end_module_opts_out_of_type_checking() -> None:
    # docs/frontend.md "Invariants": no module is exempt from tsc.
    exempt = [str(p.relative_to(STATIC)) for p in _typed_modules()
              if "@ts-nocheck" in p.read_text(encoding="utf-8")]
    assert not exempt, f"@ts-nocheck in {exempt}: type them instead (JSDoc, web/static/lib/types.js)"


def test_tsc_checks_every_front_end_module_and_passes() -> None:
    node = _node()
    tsc = ROOT / "node_modules" / "typescript" / "bin" / "tsc"
    require(tsc.is_file(), "node_modules missing: run `make frontend` (npm ci) to type-check")
    config = str(STATIC / "tsconfig.json")
    # One run: --listFiles prints the files it checked, then any type errors.
    result = _run(node, str(tsc), "-p", config, "--listFiles")
    checked = {Path(line).resolve() for line in result.stdout.splitlines() if line.endswith(".js")}
    missing = [str(p.relative_to(STATIC)) for p in _typed_modules() if p.resolve() not in checked]
    assert not missing, f"not type-checked (web/static/tsconfig.json include): {missing}"
    errors = [line for line in result.stdout.splitlines() if "error TS" in line]
    assert result.returncode == 0, "\n".join(errors)[-6000:] + result.stderr[-2000:]
