# Two commands set everything up on a fresh machine: `make run` (the local stack) and `make test` (the suite).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
# uv installs the pinned requirements in well under a minute where pip took about four, mostly by not compiling
# every module of every package up front: Python compiles what is imported, once, on first use. Some sandboxes
# set PYTHONDONTWRITEBYTECODE, which would make every process recompile on every start; not for these targets.
unexport PYTHONDONTWRITEBYTECODE
.PHONY: help venv run stop status test test-browser test-fast test-scaleout lint format lock bench clean drill headless \
	docs docs-serve docs-reference docs-screenshots traffic rehearse

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $$(grep '^uv==' requirements.txt)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

venv: $(STAMP) ## create .venv and install the pinned requirements + this package (editable)

run: $(STAMP) ## start Airflow (127.0.0.1:8080), MLflow (:5000), Evidently (:8000) under supervisord; seed, backfill, train
	$(BIN)/python -m tabular_mlops.stack up

stop: $(STAMP) ## stop what `make run` started (supervisorctl stop all + shutdown)
	$(BIN)/python -m tabular_mlops.stack down

status: $(STAMP) ## supervisorctl status, health, DAG runs and champion of the local stack
	$(BIN)/python -m tabular_mlops.stack status

# One pytest worker per core, a test module per worker (its module-scoped DAG timeline is built once), in the
# order tests/conftest.py gives (longest first; xdist would otherwise reorder modules by their number of tests).
# TEST_REPORT=path/junit.xml also writes a JUnit report (CI uploads it); unset, the command is unchanged.
TEST_WORKERS ?= auto
TEST_REPORT ?=
test: $(STAMP) ## run the whole test suite (unit, data, model, DAG integrity, end to end through Airflow)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(if $(TEST_REPORT),--junitxml=$(TEST_REPORT))

test-browser: $(STAMP) ## opt-in real-browser checks of the running stack (after make run + make drill; needs chromium)
	MLOPS_BROWSER_TESTS=1 $(BIN)/python -m pytest tests/browser -m browser -p no:cacheprovider

test-fast: $(STAMP) ## everything except the end-to-end Airflow runs
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not e2e"

test-scaleout: $(STAMP) ## the scale-out path for real: CeleryExecutor (2 workers) on PostgreSQL + Redis, MLflow basic-auth, S3
	$(BIN)/python -m pytest -m scaleout tests/scaleout

lint: $(STAMP) ## ruff lint + format check, mypy on the domain package
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

format: $(STAMP) ## ruff autofix + format
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

bench: $(STAMP) ## time each stage for 10k / 100k / 1M source rows per day
	$(BIN)/python benchmarks/bench_stages.py

lock: ## re-resolve requirements.in into requirements.txt (scratch venv)
	rm -rf /tmp/lock-venv && $(PYTHON) -m venv /tmp/lock-venv && /tmp/lock-venv/bin/pip install --quiet --upgrade pip \
	  && /tmp/lock-venv/bin/pip install --quiet -r requirements.in \
	  && /tmp/lock-venv/bin/pip freeze --exclude-editable > requirements.txt

clean: stop ## stop the stack and remove runtime state (var/, quarantine/, processed/, reports/)
	rm -rf var quarantine processed reports

SCENARIO ?= covariate_shift
NIGHTS ?= 5
drill: $(STAMP) ## fire drill on the local stack: make drill SCENARIO=covariate_shift NIGHTS=5
	$(BIN)/python scripts/drill.py --scenario $(SCENARIO) --nights $(NIGHTS)

# The deploy_model rehearsal (docs/deployment.md): on a stack started with
# MLOPS_PARAMS_OVERRIDE=deploy/rehearsal/params.override.yaml make run. OUTCOME=promote (covariate_harmful: the
# retrained challenger learns applicants beyond the champion's training range), then OUTCOME=rollback (the
# superseded champion proposed again). DRILL=<scenario> injects another drill from the first night.
OUTCOME ?= promote
MAX_NIGHTS ?= 20
CHALLENGER ?=
DRILL ?=
rehearse: $(STAMP) ## prove a challenger night by night: shadow -> canary -> full, or rolled back (make rehearse OUTCOME=promote|rollback DRILL=covariate_harmful)
	$(BIN)/python scripts/rehearse.py --outcome $(OUTCOME) --max-nights $(MAX_NIGHTS) $(if $(CHALLENGER),--version $(CHALLENGER)) $(if $(DRILL),--scenario $(DRILL))

RATE ?= 50
REQUESTS ?= 1000
traffic: $(STAMP) ## replay simulated applications against the local service: make traffic RATE=50 REQUESTS=1000
	$(BIN)/tabular-mlops traffic --rate $(RATE) --requests $(REQUESTS)

headless: $(STAMP) ## Airflow without make run: migrate var/airflow's DB, create the dvc_repo pool, print the env
	$(BIN)/tabular-mlops airflow-setup
	@echo 'next: eval "$$($(BIN)/tabular-mlops airflow-env)" && $(BIN)/airflow dags test ingest YYYY-MM-DD'

# The documentation site: MkDocs + Material + mkdocstrings, pinned in requirements-docs.txt (resolved against
# requirements.txt, so both install into .venv). The port is not Evidently's 8000.
DOCS_STAMP := $(VENV)/.docs-installed
DOCS_PORT ?= 8001
$(DOCS_STAMP): $(STAMP) requirements-docs.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements-docs.txt
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP) ## build the documentation site into site/ (mkdocs build --strict: a broken link fails it)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

docs-serve: $(DOCS_STAMP) ## serve the documentation site on 127.0.0.1:8001 (DOCS_PORT), rebuilt on save
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:$(DOCS_PORT)

docs-reference: $(STAMP) ## regenerate docs/reference/, params.schema.json and the API nav from the code
	$(BIN)/python scripts/gen_docs_reference.py

docs-screenshots: $(STAMP) ## screenshots of the stack's UIs into docs/img/ (after make run + make drill; needs chromium)
	$(BIN)/python scripts/docs_screenshots.py
