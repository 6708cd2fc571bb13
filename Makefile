# The README's two commands are `make run` and `make test`; everything else is a step of those.
SHELL := /bin/bash
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.deps-installed

.PHONY: setup native lint test test-rust test-python bench run demo clean artifacts browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Python dependencies (runtime + dev, from pyproject.toml) and the package itself, installed
# into the virtualenv as an editable install of lambda/; redone when pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "maturin>=1.7,<2"
	$(BIN)/maturin develop --release --extras dev
	touch $(STAMP)

# The native module, rebuilt in place (cargo keeps it incremental) when a Rust source, a
# manifest or the dependencies changed since it was built: checking with maturin each time
# cost every `make run` a second.
NATIVE := lambda/keyworker/_core.abi3.so
NATIVE_SOURCES := $(shell find rust -name '*.rs' -o -name Cargo.toml) Cargo.toml Cargo.lock pyproject.toml
$(NATIVE): $(STAMP) $(NATIVE_SOURCES)
	$(BIN)/maturin develop --release --skip-install --quiet
	$(BIN)/python -c "import keyworker._core"
	touch $(NATIVE)

native: $(NATIVE)

setup: native

lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m mypy.stubtest keyworker._core --mypy-config-file pyproject.toml
	@if [ -f infra/template.yaml ]; then $(BIN)/cfn-lint infra/template.yaml; fi

test-rust:
	cargo test -p keyworker-core --release --quiet

test-python: setup browser
	$(BIN)/python -m pytest

# The console's tests (tests/browser) drive Debian's chromium through its chromedriver, at the
# paths tests/browser/conftest.py uses. Installed when absent and this machine allows it
# (root, or sudo without a password); a failed install fails the run. Where it cannot be
# installed, the browser tests skip and say which binary is missing (README, "The console").
CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver
BROWSER_PACKAGES := chromium chromium-driver

browser:
	@if [ -x $(CHROMIUM) ] && [ -x $(CHROMEDRIVER) ]; then \
		exit 0; \
	elif ! command -v apt-get >/dev/null; then \
		echo "make browser: no apt-get: install chromium and chromedriver yourself, or tests/browser skips"; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES); \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then \
		sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES); \
	else \
		echo "make browser: $(BROWSER_PACKAGES) missing and no root or passwordless sudo: tests/browser skips"; \
	fi

test: lint test-rust test-python

# What AWS Lambda loads (docs/deploy.md): manylinux2014 layer and function zips in build/.
artifacts: $(STAMP)
	$(BIN)/python infra/build_artifacts.py

# The main job: the whole stack on this machine, the demo against it, then it keeps serving
# (Ctrl-C stops). Another shell can use it meanwhile (see README.md).
run: setup
	$(BIN)/keyworker local --demo

bench: setup
	$(BIN)/python bench/bulk_status.py
	$(BIN)/python bench/credentials.py
	$(BIN)/python bench/import_time.py
	$(BIN)/python bench/revocation_plan.py
	$(BIN)/python bench/revocation_run.py
	$(BIN)/python bench/hot_door.py

clean:
	rm -rf $(VENV) target
