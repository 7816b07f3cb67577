# recsys: run `make` (or `make help`) for the list of targets.
# Every target that needs Python creates .venv on first use and installs the project into it.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOT ?= python3.11
VENV        ?= .venv
PY          := $(VENV)/bin/python
RECSYS      := $(VENV)/bin/recsys
STAMP       := $(VENV)/.installed-stamp
HOST        ?= 127.0.0.1
PORT        ?= 8000
DEMO_LOANS  ?= 50000
# where the demo's widget links each suggested book: the demo's own record pages
DEMO_RECORD_URL ?= /demo/record/{book_id}
PYTEST_ARGS ?=
# the training engine of `make train` and `make nightly`: implicit or spark (empty: RECSYS_ENGINE)
ENGINE      ?=
ENGINE_ARG  := $(if $(ENGINE),--engine $(ENGINE),)
# on a cluster: the spark-submit command the nightly runs under (docs/scaling.md); empty: local
SPARK_SUBMIT ?=
NIGHTLY_CMD := $(if $(SPARK_SUBMIT),PYSPARK_DRIVER_PYTHON=$(PY) $(SPARK_SUBMIT) pipelines/cli.py,$(RECSYS))

export OPENBLAS_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export OMP_NUM_THREADS := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help install demo serve test test-fast lint bench notebooks sample keys \
        ingest validate train evaluate gate publish nightly rollback clean

help: ## Show this list of targets
	@echo "recsys: reading recommendations for libraries"
	@echo
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-11s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@command -v $(PYTHON_BOOT) >/dev/null 2>&1 || { echo "error: $(PYTHON_BOOT) not found; install Python 3.11 or run make PYTHON_BOOT=python3"; exit 1; }
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,dev,spark]"
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install recsys with its test and dev tools and the Spark engine

keys: $(STAMP) ## Create the local pseudonym key and demo API keys (0600 files under secrets/)
	$(RECSYS) keygen --api-keys

sample: $(STAMP) ## Generate the bundled sample library into data/inbox/ (DEMO_LOANS loans)
	$(RECSYS) sample --loans $(DEMO_LOANS)

demo: keys ## Install, generate the sample, ingest, train, publish and serve it (with a sample record page)
	@if [ -z "$$(ls -A data/inbox/loans 2>/dev/null)" ] && [ ! -f data/recsys.db ]; then $(RECSYS) sample --loans $(DEMO_LOANS); fi
	$(RECSYS) nightly || test $$? -eq 3
	@echo
	@echo "Demo is starting on http://$(HOST):$(PORT)  (API docs: http://$(HOST):$(PORT)/docs)"
	@echo "A sample catalog record page with the widget: http://$(HOST):$(PORT)/demo"
	@echo "Try the curl commands in README.md (section 'What make demo shows'). Ctrl-C stops it."
	RECSYS_DEMO_PAGES=true RECSYS_RECORD_URL_TEMPLATE='$(DEMO_RECORD_URL)' \
		$(RECSYS) serve --host $(HOST) --port $(PORT)

serve: $(STAMP) ## Serve the published model with uvicorn (HOST, PORT)
	$(RECSYS) serve --host $(HOST) --port $(PORT)

test: $(STAMP) ## Run the whole test suite (PostgreSQL tests run when RECSYS_TEST_POSTGRES_URL is set)
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP) ## Run the tests that are not marked slow
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP) ## ruff and mypy
	$(VENV)/bin/ruff check recsys pipelines tests benchmarks
	$(VENV)/bin/ruff format --check recsys pipelines tests benchmarks
	$(VENV)/bin/mypy

bench: $(STAMP) ## Benchmarks: ingest speed, model quality on ../shared/data, training, service, nightly, volume check
	$(PY) -m benchmarks

notebooks: $(STAMP) ## Execute the librarians' notebooks against the current model into reports/*.html
	$(RECSYS) notebooks --out reports

ingest: $(STAMP) ## Nightly step 1: ingest new exports from data/inbox/
	$(RECSYS) ingest-inbox

validate: $(STAMP) ## Nightly step 2: check the data window and apply retention
	$(RECSYS) validate

train: $(STAMP) ## Nightly step 3: train the default model into a new run directory (ENGINE=spark)
	$(RECSYS) train $(ENGINE_ARG)

evaluate: $(STAMP) ## Compare the candidate models on a temporal holdout of the stored data
	$(RECSYS) evaluate

gate: $(STAMP) ## Nightly step 5: check the newest run against the published model (RUN_ID=...)
	$(RECSYS) gate $(RUN_ID)

publish: $(STAMP) ## Nightly step 6: publish a run that passed the gate (RUN_ID=...)
	$(RECSYS) publish $(RUN_ID)

nightly: $(STAMP) ## All nightly steps: ingest, validate, train, evaluate, gate, publish (ENGINE=spark, SPARK_SUBMIT=...)
	$(NIGHTLY_CMD) nightly $(ENGINE_ARG)

rollback: $(STAMP) ## Return to the previously published model
	$(RECSYS) rollback

clean: ## Remove caches (keeps data/, models/, secrets/ and .venv)
	rm -rf .pytest_cache .mypy_cache .ruff_cache reports
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
