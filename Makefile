# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make run    create .venv, install, run the monthly verification on the committed sample
#   make test   create .venv if needed, run the test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE := sample_data/sample
MONTH ?= 2026-10
OUT ?= reports/out
DB ?= $(OUT)/dibao.duckdb

.PHONY: run test lint clean bench bench-linkage

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or: make PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	@touch $(STAMP)

run: $(STAMP)
	@test -f $(SAMPLE)/answers.csv || $(BIN)/dibao sample --out $(SAMPLE) --households 300 --seed 20260101 --month $(MONTH)
	$(BIN)/dibao run --data $(SAMPLE) --db $(DB) --month $(MONTH) --out $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest

# city scale: ~150k roster members, ~23M registry rows, generated once into bench/cache/ (git-ignored)
bench: $(STAMP)
	$(BIN)/python -m flows.bench

# this engine against Splink 5 on both generator profiles: the standard one at >=150k members and
# 5M registry rows, the stress one (written apart from the engine) at 15,000 households (data cached in bench/cache/)
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,dev,bench]'
	@touch $(BENCH_STAMP)

bench-linkage: $(BENCH_STAMP)
	$(BIN)/python -m matching.bench_linkage --profile bench
	$(BIN)/python -m matching.bench_linkage --profile stress --households 15000 --registry-rows 1500000

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy flows connectors matching expectations sample_data reports

clean:
	rm -rf $(OUT) .pytest_cache
