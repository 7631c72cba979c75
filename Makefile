# flintcloud: the two commands a new machine needs are `make repro` and `make test`.
# Both install the pinned environment (.venv, requirements.lock) first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Neither DVC nor CML may phone home, here or in CI.
export DVC_NO_ANALYTICS := 1
export ITERATIVE_DO_NOT_TRACK := 1

.PHONY: install repro test test-slow test-all bench clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[test]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv with the locked dependencies

repro: install  ## run the whole DVC pipeline on the built-in demo
	$(BIN)/dvc repro

test: install  ## the default test suite (what .ci/run runs)
	$(BIN)/pytest -m "not slow" -n 2

test-slow: install  ## scale tests only
	$(BIN)/pytest -m slow

test-all: install
	$(BIN)/pytest

bench: install  ## speed and memory benchmarks: prints a table, writes benchmarks/results/*.json
	$(BIN)/python benchmarks/engine_speed.py

clean:
	rm -rf $(VENV) .pytest_cache
