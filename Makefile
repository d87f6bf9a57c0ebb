# Everything runs in a project-local virtualenv so a fresh machine needs only python3, java and mvn.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-fast test-under-load lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

setup: $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m kafkalog.testing.broker --fetch-only

demo: setup
	$(PY) examples/demo.py

test: setup lint
	$(PY) -m pytest

# `make test` while two CPU-bound processes keep both cores of a 2-core machine busy: the check that the suite
# is green on a busy machine (LOAD_RUNS=3 for "three green runs in a row"; it stops at the first red run).
# The burners are started here and killed on every way out: pass, fail, or interrupt.
LOAD_RUNS ?= 1
test-under-load: setup lint
	@$(PYTHON) -c 'while True: pass' & b1=$$!; \
	$(PYTHON) -c 'while True: pass' & b2=$$!; \
	trap 'kill $$b1 $$b2 2>/dev/null || true' EXIT; \
	trap 'exit 130' INT TERM; \
	echo "CPU burners running: pids $$b1 $$b2"; \
	for run in $$(seq 1 $(LOAD_RUNS)); do \
		echo "== run $$run of $(LOAD_RUNS) under load"; \
		$(PY) -m pytest $(PYTEST_ARGS) || exit 1; \
	done

test-fast: setup
	$(PY) -m pytest -m "not slow and not integration"

lint: $(PY)
	$(PY) -m ruff check .
	$(PY) -m mypy

bench: setup
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
