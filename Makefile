# The README's two commands: `make run` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.stamp-run
DEV_STAMP := $(VENV)/.stamp-dev
PIP := $(BIN)/python -m pip
PYTEST_ARGS ?=
# `make fuzz`: generated requests per operation (the suite's own run uses 20 and 10)
FUZZ_EXAMPLES ?= 300
FUZZ_NEGATIVE_EXAMPLES ?= 150

.PHONY: run test lint typecheck pytest fmt bench bench-chat bench-experiments bench-budgets bench-knowledge bench-smoke bench-journal clean services browser audit fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install -q -e .
	@touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install -q -e '.[dev]'
	@touch $@ $(RUN_STAMP)

# PostgreSQL: migrate as the owner (MODELREG_OWNER_DATABASE_URL), serve as the least-privilege
# login role (MODELREG_DATABASE_URL); docs/operations.md
run: $(RUN_STAMP)
	MODELREG_DATABASE_URL="$${MODELREG_OWNER_DATABASE_URL:-$$MODELREG_DATABASE_URL}" $(BIN)/modelreg db upgrade
	$(BIN)/modelreg serve

test: $(DEV_STAMP) services browser lint typecheck audit pytest

services:
	@bash scripts/ensure-services.sh

browser:
	@bash scripts/ensure-browser.sh

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

# known vulnerabilities in the installed dependencies; accept one in .pip-audit-ignore
audit: $(DEV_STAMP)
	$(BIN)/python scripts/audit_deps.py

# schemathesis over /openapi.json with a larger budget than `make test`: no 5xx, no answer
# outside its documented status codes, content types and schemas
fuzz: $(DEV_STAMP) services
	MODELREG_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) MODELREG_FUZZ_NEGATIVE_EXAMPLES=$(FUZZ_NEGATIVE_EXAMPLES) \
	  $(BIN)/pytest tests/api/test_openapi_schemathesis.py -p no:randomly $(PYTEST_ARGS)

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

pytest: $(DEV_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

fmt: $(DEV_STAMP)
	$(BIN)/ruff check --fix src tests bench scripts
	$(BIN)/ruff format src tests bench scripts

bench: $(DEV_STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/chat_bench.py $(CHAT_BENCH_ARGS)
	$(BIN)/python bench/experiments_bench.py
	$(BIN)/python bench/knowledge_bench.py --quick
	$(BIN)/python bench/analytics_scale.py $(ANALYTICS_BENCH_ARGS)

# knowledge retrieval: query latency at 10k and 100k chunks, memory, indexing throughput,
# recall@5 on bench/knowledge_set.json (docs/performance.md, "Knowledge")
bench-knowledge: $(DEV_STAMP)
	$(BIN)/python bench/knowledge_bench.py

# POST /api/chat next to /v1/chat/completions on SQLite and PostgreSQL, issue 15's goals
# printed MET / NOT MET; CHAT_BENCH_ARGS="--ref-src /tmp/ref/src" adds another checkout; the
# 2,000 open streams take ~5 of its minutes ("--open-streams 0" skips them, "--with-litellm"
# runs them against LiteLLM too)
bench-chat: $(DEV_STAMP)
	$(BIN)/python bench/chat_bench.py $(CHAT_BENCH_ARGS)

# gateway CPU per request naming a model vs an A/B experiment over two models (~1 min)
bench-experiments: $(DEV_STAMP)
	$(BIN)/python bench/experiments_bench.py

# the usage journal's cost: CPU per call with it on (default), off, and with fsync, one run
bench-journal: $(DEV_STAMP)
	$(BIN)/python bench/run.py --targets modelreg,modelreg-nojournal,modelreg-fsync --conc 32 \
		--slow-conc "" --models-list 0 --duration 5 --label journal $(BENCH_ARGS)

# the budget check's cost: CPU per call without and with budgets covering every call, one run
bench-budgets: $(DEV_STAMP)
	$(BIN)/python bench/run.py --targets modelreg,modelreg-budgets --conc 32 \
		--slow-conc "" --models-list 0 --duration 5 --label budgets $(BENCH_ARGS)

bench-smoke: $(DEV_STAMP)
	$(BIN)/python bench/run.py --smoke

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
