# Two commands do all the set-up on a fresh machine: `make demo` and `make test` (each creates .venv when missing).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export HF_HUB_DISABLE_TELEMETRY := 1
export MMEDRAG_DATA ?= $(abspath ../shared/data)

.PHONY: help install demo serve test test-fast lint format bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[all,dev]"
	touch $(STAMP)

install: $(STAMP)  ## create .venv with every extra and the dev tools (pinned by constraints.txt)

demo: $(STAMP)  ## the main job: offline end-to-end demo on MedPix 2.0 + VQA-RAD
	$(BIN)/mmedrag demo --data "$(MMEDRAG_DATA)"

serve: $(STAMP)  ## the web page and API on the demo's knowledge base, http://127.0.0.1:8000 (built on first use)
	$(BIN)/mmedrag serve --demo --data "$(MMEDRAG_DATA)"

test: $(STAMP)  ## every test CI runs: unit, contract and integration (tiny real models, real data)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)  ## unit and contract tests only (seconds)
	$(BIN)/python -m pytest -q -m "not integration"

lint: $(STAMP)  ## ruff and mypy
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: $(STAMP)  ## vector-store benchmark; results go to BENCHMARKS.md
	$(BIN)/python benchmarks/bench_stores.py --out BENCHMARKS.md

clean:
	rm -rf $(VENV) build dist src/*.egg-info
