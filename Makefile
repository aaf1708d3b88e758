# Two entry points for a fresh machine (Python 3.11+): `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make test-min`: the lowest dependency versions pyproject.toml allows, in their own venv
VENV_MIN := .venv-min
CORE_TESTS := tests/test_store.py tests/test_workspace.py tests/test_projects.py \
	tests/test_datasets.py tests/test_hashing.py tests/test_profiling.py tests/test_drift.py \
	tests/test_registry.py tests/test_runs.py tests/test_tracking.py tests/test_cli.py \
	tests/test_cli_data.py tests/test_import_hygiene.py tests/test_sample_projects.py \
	tests/test_dask_executor.py

.PHONY: demo test test-min lint install dist clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/dockyard demo demo-workspace

# The suite includes tests/test_wheel.py: it builds the wheel and the sdist, installs the
# wheel into a fresh venv outside the checkout and drives it there (about two minutes).
test: $(STAMP)
	@command -v tmux >/dev/null 2>&1 || { echo "installing tmux for the end-to-end test"; \
	  (apt-get update -qq && apt-get install -y -qq tmux) >/dev/null 2>&1 || \
	  (sudo apt-get update -qq && sudo apt-get install -y -qq tmux) >/dev/null 2>&1 || \
	  { echo "tmux is required by the end-to-end tests: install it and re-run"; exit 1; }; }
	@bash .ci/postgres.sh
	@# loadgroup: a module marked xdist_group runs on one worker (its template built once)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q --durations=25

test-min:
	rm -rf $(VENV_MIN)
	$(PYTHON) -m venv $(VENV_MIN)
	$(PYTHON) .ci/lowest_constraints.py > $(VENV_MIN)/lowest.txt
	$(VENV_MIN)/bin/python -m pip install --quiet --no-compile -c $(VENV_MIN)/lowest.txt -e '.[test]'
	@# byte-identical regeneration of the committed sample data is promised for the
	@# versions the suite pins, not for every allowed version (float formatting differs)
	$(VENV_MIN)/bin/python -m pytest -q $(CORE_TESTS) \
	  --deselect tests/test_sample_projects.py::test_make_data_regenerates_the_committed_files

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# dist/dockyard-VERSION-py3-none-any.whl and dist/dockyard-VERSION.tar.gz
dist: $(STAMP)
	$(BIN)/python -m build --outdir dist .

bench: $(STAMP)
	$(BIN)/python bench/startup.py

clean:
	rm -rf $(VENV) $(VENV_MIN) demo-workspace dist
