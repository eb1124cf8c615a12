# Two commands do all the set-up on a fresh machine: `make demo` and `make test` (each creates .venv when missing).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.demo-installed
# PyTorch from the package registry is a CUDA build (about 3 GB of CUDA libraries). On a CPU-only machine set
# TORCH_INDEX to PyTorch's CPU wheel index (see "Install" in the README) to get the CPU build of the same version.
TORCH_INDEX ?=
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export HF_HUB_DISABLE_TELEMETRY := 1
# Our development machines keep the data beside the checkout; elsewhere the demo fetches it (mmedrag data fetch).
ifneq ($(wildcard ../shared/data),)
export MMEDRAG_DATA ?= $(abspath ../shared/data)
endif

.PHONY: help install demo serve test test-fast test-core lint format bench docs clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

define venv_with
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(if $(TORCH_INDEX),$(BIN)/python -m pip install --quiet -c constraints.txt --index-url "$(TORCH_INDEX)" torch torchvision)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[$(1)]"
endef

$(STAMP): pyproject.toml constraints.txt
	$(call venv_with,all$(comma)dev$(comma)docs$(comma)milvus-server)
	touch $(STAMP) $(DEMO_STAMP)

$(DEMO_STAMP): pyproject.toml constraints.txt
	$(call venv_with,demo)
	touch $(DEMO_STAMP)

comma := ,

install: $(STAMP)  ## create .venv with every extra and the dev tools (pinned by constraints.txt)

demo: $(DEMO_STAMP)  ## the main job: end-to-end demo on MedPix 2.0 + VQA-RAD (fetches them first when missing)
	$(BIN)/mmedrag demo $(DEMO_ARGS)

serve: $(DEMO_STAMP)  ## the web page and API on the demo's knowledge base, http://127.0.0.1:8000 (built on first use)
	$(BIN)/mmedrag serve --demo

test: $(STAMP)  ## every test CI runs: unit, contract and integration (tiny real models, real data)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)  ## unit and contract tests only (seconds)
	$(BIN)/python -m pytest -q -m "not integration"

test-core:  ## unit tests on a core install (no extras): what needs torch, faiss, scipy... skips naming its extra
	$(PYTHON) -m venv .venv-core
	.venv-core/bin/python -m pip install --quiet -c constraints.txt -e . pytest hypothesis httpx
	.venv-core/bin/python -m pytest -q -m "not integration"

lint: $(STAMP)  ## ruff and mypy
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

docs: $(STAMP)  ## build the documentation site into site/ (--strict: a broken link fails)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

bench: $(STAMP)  ## vector-store benchmark; results go to BENCHMARKS.md
	$(BIN)/python benchmarks/bench_stores.py --out BENCHMARKS.md
	$(BIN)/python benchmarks/bench_scale.py --out BENCHMARKS.md

clean:
	rm -rf $(VENV) .venv-core build dist site src/*.egg-info
