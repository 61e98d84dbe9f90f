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

# HTTP throughput and latency against a one-statement baseline app, statements per request
# (a few minutes; its own throwaway PostgreSQL). Prints a table, writes bench/results/latest.json.
# Then rebuild speed on 100,000- and 1,000,000-event logs (a few more minutes), added to the same JSON.
bench: install
	$(BIN)/python bench/http_bench.py
	$(BIN)/python -m bench.rebuild_speed

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy --strict domain projections
	$(BIN)/mypy api workers eventmart
	$(BIN)/mypy tests

clean:
	rm -rf $(VENV) var .pytest_cache
