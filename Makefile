VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: install run test soak bench lint clean

# Re-install only when the dependency list changes.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/eventmart serve

test: install
	$(BIN)/pytest

# The money and stock state machine with many more and longer random interleavings, and the
# API fuzz with many more examples per operation and role.
soak: install
	EVENTMART_SOAK=1 $(BIN)/pytest tests/test_money_invariants.py tests/test_fuzz.py

# Every figure as a ratio to its baseline in the same run, each bench in its own section of
# bench/results/latest.json (each bench its own throwaway PostgreSQL; about half an hour):
# HTTP at 1 and 2 server processes against a one-statement app, statements per request, lag from
# commit to read-model row; appends (commands against a raw INSERT, 1 and 8 writers);
# aggregate load time by history length; catalog search on 100k products; rebuild speed on
# 100,000- and 1,000,000-event logs against the raw scan.
bench: install
	$(BIN)/python bench/http_bench.py
	$(BIN)/python bench/append_bench.py
	$(BIN)/python bench/aggregate_load.py
	$(BIN)/python bench/catalog_search.py
	$(BIN)/python -m bench.rebuild_speed

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy --strict domain projections
	$(BIN)/mypy api workers eventmart identity adapters runtime
	$(BIN)/lint-imports
	$(BIN)/mypy tests

clean:
	rm -rf $(VENV) var .pytest_cache
