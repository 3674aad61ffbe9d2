# Every target sets up what it needs: a fresh clone only needs python3 (3.11+).
VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: test unit lint clean

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[test]'
	@touch $@

## make test: set up the venv and run the whole test suite (exit 5 "no tests" fails too)
test: $(STAMP)
	$(PY) -m pytest -q tests

## make unit: only the sans-IO unit tests (seconds)
unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

## make lint: ruff over the code and the tests
lint: $(STAMP)
	$(VENV)/bin/ruff check testbed servers tests

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
