# The two set-up commands: `make local` and `make test`. Both install what they need into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: local test test-fast skip-summary-reset test-tools lint sam-validate format unit static integration local-tier e2e test-console fuzz official-client test-compat bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One stamp per extra, rebuilt when pyproject.toml changes.
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$*]"
	touch $@

local: $(VENV)/.installed-local
	$(BIN)/openlqs local

# Each tier is a step, on both cores (pytest-xdist; --dist loadfile keeps a module's tests, and the moto
# tables it builds once, on one worker). The slow end-to-end pieces are steps of their own.
PYTEST := $(BIN)/python -m pytest -p no:cacheprovider
PARALLEL := -n 2 --dist loadfile

# Each pytest run adds how many tests it skipped for want of the real files (shared/fixtures, or
# $$OPENLQS_FIXTURES_DIR) to this file; test and test-fast end with one line that says so.
SKIP_SUMMARY := $(CURDIR)/.real-file-skips
REPORT_SKIPS = @$(BIN)/python -m tests.support.real_files $(SKIP_SUMMARY)

test: export OPENLQS_SKIP_SUMMARY_FILE := $(SKIP_SUMMARY)
test: skip-summary-reset $(VENV)/.installed-dev test-tools lint sam-validate unit static integration local-tier e2e fuzz official-client
	$(REPORT_SKIPS)

# What to run while working (~2 minutes): everything without a local stack.
test-fast: export OPENLQS_SKIP_SUMMARY_FILE := $(SKIP_SUMMARY)
test-fast: skip-summary-reset $(VENV)/.installed-dev lint unit static integration
	$(REPORT_SKIPS)

skip-summary-reset:
	@rm -f $(SKIP_SUMMARY)

# Debian's chromium (the API docs and console tests), firefox-esr (the console tests), jq, curl and the
# AWS CLI (the README's examples), when missing.
test-tools:
	@bash scripts/test-tools.sh

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# SAM CLI pins an older boto3, so it lives in its own venv (.venv-sam), created on first use.
sam-validate:
	PYTHON=$(PYTHON) bash scripts/sam-validate.sh

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

unit: $(VENV)/.installed-dev
	$(PYTEST) $(PARALLEL) tests/unit

static: $(VENV)/.installed-dev
	$(PYTEST) $(PARALLEL) tests/static

integration: $(VENV)/.installed-dev
	$(PYTEST) $(PARALLEL) tests/integration

local-tier: $(VENV)/.installed-dev
	$(PYTEST) $(PARALLEL) tests/local

e2e: $(VENV)/.installed-dev test-tools
	$(PYTEST) $(PARALLEL) tests/e2e --deselect tests/e2e/test_fuzz_api.py --deselect tests/e2e/test_official_client.py

# The web console in Debian's Chromium and Firefox against a local stack (also part of e2e, where it is skipped when
# no browser can be found); here a missing browser fails the run.
test-console: $(VENV)/.installed-dev test-tools
	OPENLQS_REQUIRE_BROWSER=1 $(PYTEST) tests/e2e/test_console.py

fuzz: $(VENV)/.installed-dev
	$(PYTEST) tests/e2e/test_fuzz_api.py

# The official LogQS client runs the documentation walkthrough against the local stack. It pins
# rosbags < 0.11, so it lives in its own venv (.venv-compat, scripts/compat-venv.sh). make test reports
# a skip when that install fails (no network); test-compat fails instead.
official-client: $(VENV)/.installed-dev
	PYTHON=$(PYTHON) $(PYTEST) tests/e2e/test_official_client.py

test-compat: $(VENV)/.installed-dev
	OPENLQS_REQUIRE_COMPAT=1 PYTHON=$(PYTHON) $(PYTEST) tests/e2e/test_official_client.py

# Benchmarks (docs/performance.md, docs/reliability.md), at the sizes the figures were taken (~35 minutes
# on 2 cores, most of it generating the logs once, cached in the temp folder). Smaller, quicker:
# make bench BENCH_MESSAGES=300000 BENCH_RECORDS=200000 BENCH_FANOUT_MB=24
BENCH_MESSAGES ?= 2000000
BENCH_RECORDS ?= 1200000
BENCH_FANOUT_MB ?= 100
bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench.ingest --messages $(BENCH_MESSAGES)
	$(BIN)/python -m bench.mcap --messages $(BENCH_MESSAGES)
	$(BIN)/python -m bench.digest --messages $(BENCH_MESSAGES)
	$(BIN)/python -m bench.queries --records $(BENCH_RECORDS)
	$(BIN)/python -m bench.storage --records $(BENCH_RECORDS)
	$(BIN)/python -m bench.memory
	$(BIN)/python -m bench.fanout --megabytes $(BENCH_FANOUT_MB)
	$(BIN)/python -m bench.parts
	$(BIN)/python -m bench.reliability
	$(BIN)/python -m bench.rosbag2 --messages $(BENCH_MESSAGES)

clean:
	rm -rf $(VENV) .venv-sam .venv-compat .pytest_cache .mypy_cache .ruff_cache .aws-sam $(SKIP_SUMMARY)
