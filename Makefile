# Lapor Aman: `make run` serves the product with demo accounts; `make test` runs every check.
# Both create .venv themselves; the machine needs Python 3.11+ (with venv) and make.

SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	2>/dev/null && { echo $$p; break; }; done)
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck unit format clean bench fuzz

run: $(VENV)/.installed
	$(BIN)/lapor serve --demo

test: $(VENV)/.installed-dev lint typecheck unit

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy .

unit: $(VENV)/.installed-dev
	$(BIN)/pytest

# The fuzz tests alone, 100,000 inputs each (20-40 minutes on a shared two-core machine).
fuzz: $(VENV)/.installed-dev
	LAPOR_HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -m fuzz -q --hypothesis-show-statistics tests/fuzz

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

$(BIN)/python:
	@if [ -z "$(PYTHON)" ]; then echo "make: Python 3.11 or newer is needed (python3 --version)"; exit 1; fi
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		echo "make: '$(PYTHON) -m venv' failed; on Debian/Ubuntu: apt-get install python3-venv"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/engine_bench.py
	$(BIN)/python bench/webhook_bench.py
	$(BIN)/python bench/peer_bench.py
	$(BIN)/python bench/sender_bench.py
