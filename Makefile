# omnihub developer entry points. `make dev` and `make test` work from a fresh clone
# with Python 3.11+ (override with PYTHON=python3.12); no Docker, Postgres or Redis needed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Re-install only when the dependency list changes.
STAMP := $(VENV)/.installed
# Whole-suite limit in seconds; pytest gets SIGINT (and prints its summary) when it expires.
TEST_TIMEOUT ?= 1800
PYTEST_ARGS ?=

.PHONY: dev test test-fast test-random lint frontend frontend-check frontend-deps bench bench-router bench-email bench-webhooks clean reset-dev venv

venv: $(STAMP)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "omnihub needs Python 3.11+, got " + sys.version.split()[0] + " (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

dev: $(STAMP)
	$(BIN)/omnihub dev

# Front-end tooling (docs/frontend.md "The build"): node is needed to build and check,
# never to run the hub (widget.js is committed). `npm ci` runs again only when the
# lock file changes.
NODE_STAMP := node_modules/.installed

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# Rebuild web/static/widget.js from web/static/src/widget/ and web/static/lib/.
# The tests check the committed widget bundle against a fresh build: they need node_modules
# where node is installed (nothing to do without node; the tests then skip, or fail in CI).
frontend-deps:
	@if command -v node >/dev/null && command -v npm >/dev/null; then \
		$(MAKE) -s --no-print-directory $(NODE_STAMP); fi

frontend: $(NODE_STAMP)
	node web/static/build.mjs

# The committed widget.js is the build of its sources, JSDoc types check, unit tests pass.
# Without node: skipped with a note locally, an error in CI (OMNIHUB_REQUIRE_SYSTEM_DEPS=1).
frontend-check:
	@if command -v node >/dev/null && command -v npm >/dev/null; then \
		$(MAKE) -s --no-print-directory $(NODE_STAMP) && \
		node web/static/build.mjs --check && \
		node_modules/.bin/tsc -p web/static/tsconfig.json && \
		node --test web/static/tests/; \
	elif [ "$$OMNIHUB_REQUIRE_SYSTEM_DEPS" = 1 ]; then \
		echo "frontend-check: node/npm not installed (apt-get install nodejs npm)" >&2; exit 1; \
	else \
		echo "frontend-check: skipped, node/npm not installed (apt-get install nodejs npm)" >&2; \
	fi

# The file order by default; `make test-random` shuffles it (pytest-randomly; the seed is
# printed at the top; rerun that order with `make test-random SEED=N`).
test: $(STAMP) frontend-deps
	timeout --foreground --signal=INT --kill-after=60 $(TEST_TIMEOUT) \
		$(BIN)/python -m pytest -q -p no:randomly $(PYTEST_ARGS)

# The unit tier only (tests/unit/: pure, no servers); well under a minute.
test-fast: $(STAMP) frontend-deps
	timeout --foreground --signal=INT --kill-after=60 $(TEST_TIMEOUT) \
		$(BIN)/python -m pytest -q -p no:randomly -m unit tests/unit $(PYTEST_ARGS)

# The seed is printed first (pytest -q hides pytest-randomly's header); SEED=N replays it.
ifndef SEED
SEED := $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
endif
test-random: $(STAMP) frontend-deps
	@echo "test-random: --randomly-seed=$(SEED)"
	timeout --foreground --signal=INT --kill-after=60 $(TEST_TIMEOUT) \
		$(BIN)/python -m pytest -q --randomly-seed=$(SEED) $(PYTEST_ARGS)

lint: $(STAMP) frontend-check
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench.core

bench-router: $(STAMP)
	$(BIN)/python -m bench.router

bench-email: $(STAMP)
	$(BIN)/python -m bench.email_inbound

bench-webhooks: $(STAMP)
	$(BIN)/python -m bench.webhooks

# Caches and build output. The dev data in ./.omnihub survives; see reset-dev.
clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache build *.egg-info test-artifacts
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

# Forget the dev database, Redis data and secret key (the next `make dev` reseeds).
reset-dev:
	rm -rf .omnihub
