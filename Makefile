# Every target sets up what it needs: a fresh clone only needs python3 (3.11+).
VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed
REPORTS ?= reports
SCENARIOS ?= scenarios

.PHONY: run scenario test unit lint interop bench soak schema clean

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[test]'
	@touch $@

## make run: set up and run the whole scenario catalogue (summary table, exit code)
run: $(STAMP)
	$(VENV)/bin/testbed run $(SCENARIOS) --report-dir $(REPORTS) --json $(REPORTS)/results.json --junit $(REPORTS)/junit.xml

## make scenario S=FILE: run one scenario, with its diagnosis and artefacts
scenario: $(STAMP)
	@test -n "$(S)" || { echo "usage: make scenario S=scenarios/…/file.yaml"; exit 2; }
	$(VENV)/bin/testbed run "$(S)" --verbose --report-dir $(REPORTS)

## make test: set up the venv and run the test suite and the catalogue (not the interop tests)
test: $(STAMP)
	$(PY) -m pytest -q

## make interop: the tests against real third-party peers (apt-get install: see README)
interop: $(STAMP)
	$(PY) -m pytest -q -m interop tests/interop

## make unit: only the sans-IO unit tests (seconds)
unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

## make lint: ruff, the import layers (import-linter) and the types (mypy)
lint: $(STAMP)
	$(VENV)/bin/ruff check testbed servers tests
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

## make bench: the benchmarks (figures printed and written to reports/bench.json; asserts nothing)
bench: $(STAMP)
	@command -v sipp >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null || \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends sip-tester
	@{ command -v dnsperf && { command -v nsd || test -x /usr/sbin/nsd; }; } >/dev/null 2>&1 || \
	  [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null || \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nsd dnsperf
	$(PY) -m testbed.bench --json $(REPORTS)/bench.json

## make soak: a million requests against testbed serve (RSS and rate over time) and the
## malformed-message barrage, UDP and TCP, two seeds (figures in reports/soak.json)
soak: $(STAMP)
	$(PY) -m testbed.bench --only soak,barrage --json $(REPORTS)/soak.json

## make schema: regenerate scenarios/schema.json (editors validate scenarios with it) and README's reference
schema: $(STAMP)
	$(VENV)/bin/testbed schema > scenarios/schema.json
	$(PY) -m testbed.scenario README.md

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info $(REPORTS)
