# make demo   — set up and run a live demo (throwaway redis-server unless $REDIS_URL answers)
# make test   — set up, lint, type-check, check the built wheel and run the whole test suite on
#               real redis-servers
# make bench  — rq_stream against arq, SAQ, streaq, taskiq-redis, pydocket and bullmq on one fresh redis-server

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint typecheck wheel-check pytest bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)
	@bash .ci/ensure-redis-server

demo: install
	$(BIN)/python -m workers.demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# Build the sdist and the wheel, install the wheel alone in .venv-wheel, run it end to end.
wheel-check: install
	$(BIN)/python tests/installed/check_wheel.py

pytest: install
	$(BIN)/pytest -q

# wheel-check before pytest: CI reads pytest's closing summary line, so pytest comes last.
test: lint typecheck wheel-check pytest

bench: install
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .venv-wheel .mypy_cache .ruff_cache .pytest_cache build dist src/*.egg-info
