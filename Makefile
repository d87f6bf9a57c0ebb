# Everything runs in a project-local virtualenv so a fresh machine needs only python3, java and mvn.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-fast test-under-load test-oldest test-versions lint docs docs-serve bench dist clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Stamp files: a target reinstalls only when what it installs from has changed (pyproject.toml for the packages,
# the jar fetcher for the Kafka jars), so `make docs` or `make test` run again start at once.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,docs]'
	touch $@

$(VENV)/.kafka-jars: $(VENV)/.installed kafkalog/testing/_jars.py
	$(PY) -m kafkalog.testing --fetch-only
	touch $@

setup: $(VENV)/.installed $(VENV)/.kafka-jars

demo: setup
	$(PY) examples/demo.py

# The whole suite on $(VENV)'s Python; meanwhile, one after the other, the unit tests on every other supported
# Python (test-versions), the sdist and wheel (dist) and the oldest kafka-python's tests (test-oldest), whose
# output is shown when the suite ends. The suite mostly waits (for brokers, child processes, deadlines) and is
# green on a busy machine, so these runs fill its idle time instead of adding theirs.
OTHER_VERSIONS = $(filter-out $(MAIN_VERSION),$(PYTHON_VERSIONS))
test: setup lint docs
	@mkdir -p build; \
	$(MAKE) --no-print-directory -k test-versions dist test-oldest PYTHON_VERSIONS="$(OTHER_VERSIONS)" \
		> build/test-others.log 2>&1 & \
	others=$$!; trap 'kill $$others 2>/dev/null || true' INT TERM; \
	$(PY) -m pytest; suite=$$?; \
	wait $$others; rest=$$?; \
	echo "== meanwhile: unit tests on Python $(OTHER_VERSIONS), dist, test-oldest (build/test-others.log)"; \
	cat build/test-others.log; \
	[ $$suite -eq 0 ] || { echo "error: the suite failed" >&2; exit 1; }; \
	[ $$rest -eq 0 ] || { echo "error: test-versions, dist or test-oldest failed (above)" >&2; exit 1; }

# An sdist and a wheel into dist/, and twine's check that their metadata (the README included) renders.
dist: $(VENV)/.installed
	rm -rf dist
	$(PY) -m build -q --outdir dist . >/dev/null
	$(PY) -m twine check --strict dist/*

# `make test` while two CPU-bound processes keep both cores of a 2-core machine busy: the check that the suite
# is green on a busy machine (LOAD_RUNS=3 for "three green runs in a row"; it stops at the first red run).
# The burners are started here and killed on every way out: pass, fail, or interrupt.
LOAD_RUNS ?= 1
# A burner spins until its parent (this shell) is gone, so even a SIGKILLed run leaves none behind.
BURN = import os; p = os.getppid()\nwhile os.getppid() == p:\n    for _ in range(1000000): pass
test-under-load: setup lint
	@$(PYTHON) -c "$$(printf '$(BURN)')" & b1=$$!; \
	$(PYTHON) -c "$$(printf '$(BURN)')" & b2=$$!; \
	trap 'kill $$b1 $$b2 2>/dev/null || true' EXIT; \
	trap 'exit 130' INT TERM; \
	echo "CPU burners running: pids $$b1 $$b2"; \
	for run in $$(seq 1 $(LOAD_RUNS)); do \
		echo "== run $$run of $(LOAD_RUNS) under load"; \
		$(PY) -m pytest $(PYTEST_ARGS) || exit 1; \
	done

test-fast: setup
	$(PY) -m pytest -m "not slow and not integration"

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m mypy

bench: setup
	$(PY) bench/run_all.py

# The documentation site, built into site/ with warnings as errors: a broken link, a missing page in the nav or
# an option of KafkaLogConfig without a description fails it. `make docs-serve` previews it with live reload.
docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

docs-serve: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve

clean:
	rm -rf $(VENV) $(OLDEST_VENV) $(VERSION_VENVS) build dist site *.egg-info .pytest_cache .mypy_cache .ruff_cache

# The kafka-python transport against the oldest supported kafka-python (the pyproject range's floor).
# A light venv: its own kafka-python, everything else borrowed from $(VENV) through a .pth (seconds to build).
OLDEST_KAFKA_PYTHON ?= 3.0.0
OLDEST_VENV ?= .venv-oldest
OLDEST_TESTS ?= tests/unit/test_config.py tests/unit/test_lifecycle.py tests/integration/test_stdlib.py \
	tests/integration/test_exit.py tests/integration/test_lifecycle.py tests/integration/test_consume_volume.py
# kafka-python 3.0.0's *consumer* (the tests' reader) rejects fetch responses over 1 MB ("Invalid frame length"),
# so the tests' reader asks for at most 512 KiB per fetch; the producer side is not affected.
# OLDEST_DESELECT='expression' leaves tests out (pytest -k).
OLDEST_DESELECT ?=

test-oldest: $(OLDEST_VENV)/installed
	$(OLDEST_VENV)/bin/python -m pytest -q $(if $(OLDEST_DESELECT),-k '$(OLDEST_DESELECT)') $(OLDEST_TESTS)

# Rebuilt only when the pin or $(VENV) changes.
$(OLDEST_VENV)/installed: $(VENV)/.installed Makefile
	rm -rf $(OLDEST_VENV)
	$(PYTHON) -m venv $(OLDEST_VENV)
	$(PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" > \
		"$$($(OLDEST_VENV)/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/base-venv.pth"
	$(OLDEST_VENV)/bin/python -m pip install -q --no-deps 'kafka-python==$(OLDEST_KAFKA_PYTHON)'
	$(OLDEST_VENV)/bin/python -c "import kafka; assert kafka.__version__ == '$(OLDEST_KAFKA_PYTHON)', kafka.__version__"
	touch $@

# The unit tests (everything not marked integration) on each supported Python, each in a light venv of its own
# (.venv-3.10 ...) holding only the `unit` extra; rebuilt when pyproject.toml changes. The interpreter is
# $(PYTHON_3_10) etc. if set, else ~/.pyenv/versions/3.10.*/bin/python3.10, else a working python3.10 on PATH.
# A version that cannot be found is reported as "not run" and skipped, except under CI=true (CI sets it) or
# REQUIRE_ALL_PYTHONS=1, where it fails the target: CI runs every supported version.
PYTHON_VERSIONS ?= 3.10 3.11 3.12 3.13
MAIN_VERSION = $(shell $(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
VERSION_VENVS = $(addprefix .venv-,$(PYTHON_VERSIONS))
REQUIRE_ALL_PYTHONS ?= $(if $(filter true 1 yes,$(CI)),1,)

test-versions: $(addprefix test-py,$(PYTHON_VERSIONS))
.PRECIOUS: .venv-%/installed .venv-%/python

# The interpreter's path, or "none" (then the version's tests are not run: see above).
.venv-%/python: FORCE
	@mkdir -p .venv-$*; python="$(PYTHON_$(subst .,_,$*))"; \
	for candidate in $$(ls -d $(HOME)/.pyenv/versions/$*.*/bin/python$* 2>/dev/null | sort -V -r) python$*; do \
		[ -n "$$python" ] && break; \
		"$$candidate" -c "" 2>/dev/null && python="$$candidate"; \
	done; \
	if [ -z "$$python" ]; then \
		if [ -n "$(REQUIRE_ALL_PYTHONS)" ]; then \
			echo "error: no Python $* found (set PYTHON_$(subst .,_,$*)=/path/to/python$*, or install it:" \
				"pyenv install $*)" >&2; exit 1; \
		fi; \
		python=none; \
	else \
		found="$$("$$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"; \
		if [ "$$found" != "$*" ]; then echo "error: $$python is Python $$found, not $*" >&2; exit 1; fi; \
	fi; \
	[ "$$(cat $@ 2>/dev/null)" = "$$python" ] || echo "$$python" > $@

test-py%: .venv-%/installed
	@if [ "$$(cat .venv-$*/python)" = none ]; then \
		echo "== unit tests on Python $*: NOT RUN (no Python $* found; set PYTHON_$(subst .,_,$*)=/path/to/python$*" \
			"or install it: pyenv install $*)"; \
	else \
		echo "== unit tests on Python $*"; \
		.venv-$*/bin/python -m pytest -q -m "not integration" -p no:cacheprovider; \
	fi

.venv-%/installed: pyproject.toml .venv-%/python
	@python="$$(cat .venv-$*/python)"; \
	if [ "$$python" = none ]; then exit 0; fi; \
	echo "== building .venv-$* with $$python"; \
	rm -rf .venv-$*/bin .venv-$*/lib .venv-$*/include .venv-$*/pyvenv.cfg && "$$python" -m venv .venv-$* && \
	.venv-$*/bin/python -m pip install -q --upgrade pip && \
	.venv-$*/bin/python -m pip install -q -e '.[unit]' && touch $@

FORCE:
