# The two set-up commands: `make local` and `make test`. Both install what they need into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: local test lint sam-validate format unit integration e2e test-compat bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One stamp per extra, rebuilt when pyproject.toml changes.
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$*]"
	touch $@

local: $(VENV)/.installed-local
	$(BIN)/openlqs local

test: $(VENV)/.installed-dev lint sam-validate
	$(BIN)/python -m pytest

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
	$(BIN)/python -m pytest tests/unit

integration: $(VENV)/.installed-dev
	$(BIN)/python -m pytest tests/integration

e2e: $(VENV)/.installed-dev
	$(BIN)/python -m pytest tests/e2e

# The official LogQS client runs the documentation walkthrough against the local stack. It pins
# rosbags < 0.11, so it lives in its own venv (.venv-compat, scripts/compat-venv.sh); here a failed
# install fails the run instead of skipping the test.
test-compat: $(VENV)/.installed-dev
	OPENLQS_REQUIRE_COMPAT=1 PYTHON=$(PYTHON) $(BIN)/python -m pytest tests/e2e/test_official_client.py

# Benchmarks (docs/performance.md), at the sizes the figures were taken (~20 minutes on 2 cores, most
# of it generating the bags once, cached in the temp folder). Smaller, quicker:
# make bench BENCH_MESSAGES=300000 BENCH_RECORDS=200000 BENCH_FANOUT_MB=24
BENCH_MESSAGES ?= 2000000
BENCH_RECORDS ?= 1200000
BENCH_FANOUT_MB ?= 100
bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench.ingest --messages $(BENCH_MESSAGES)
	$(BIN)/python -m bench.queries --records $(BENCH_RECORDS)
	$(BIN)/python -m bench.storage --records $(BENCH_RECORDS)
	$(BIN)/python -m bench.memory
	$(BIN)/python -m bench.fanout --megabytes $(BENCH_FANOUT_MB)

clean:
	rm -rf $(VENV) .venv-sam .venv-compat .pytest_cache .mypy_cache .ruff_cache .aws-sam
