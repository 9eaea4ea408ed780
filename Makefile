# Restaurant recommender: `make help` lists the targets.

PYTHON ?= python3
VENV ?= .venv
# The folder of generated files: VAR_DIR, else RECOMMENDER_VAR_DIR, else var.
ifeq ($(origin VAR_DIR),undefined)
VAR_DIR := $(or $(RECOMMENDER_VAR_DIR),var)
endif
SOURCE ?= uci
# Size and seed of the world that SOURCE=synthetic generates.
USERS ?= 5000
RESTAURANTS ?= 300
DAYS ?= 120
SEED ?= 0
HOST ?= 127.0.0.1
PORT ?= 8000

BIN := $(VENV)/bin
RECOMMENDER := $(BIN)/recommender
WORLD := --users $(USERS) --restaurants $(RESTAURANTS) --days $(DAYS) --world-seed $(SEED)
export RECOMMENDER_VAR_DIR := $(abspath $(VAR_DIR))

.DEFAULT_GOAL := help
.PHONY: help setup data import features train evaluate serve run test bench lint format clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "} {printf "  %-10s %s\n", $$1, $$2}'

setup: $(VENV)/.installed ## Create .venv and install the project with pip

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is required; set PYTHON=python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

data: setup ## Load SOURCE=uci (bundled) or SOURCE=synthetic (USERS, RESTAURANTS, DAYS, SEED)
	$(RECOMMENDER) data --source $(SOURCE) $(WORLD)

import: setup ## Import a folder of table files, DIR=path (docs/data-format.md)
	@test -n "$(DIR)" || { echo "usage: make import DIR=path/to/folder"; exit 2; }
	$(RECOMMENDER) import $(DIR)

features: setup ## Build feature tables, feast apply and materialize
	$(RECOMMENDER) features

train: setup ## Train the LightGBM ranker and make it the current model
	$(RECOMMENDER) train

evaluate: setup ## Models on 5 splits, segment analysis, audits (exit 4 if one fails); var/reports
	$(RECOMMENDER) evaluate

serve: setup ## Serve the API on HOST:PORT (default 127.0.0.1:8000)
	$(RECOMMENDER) serve --host $(HOST) --port $(PORT)

run: setup ## Set up, import, build features, train, evaluate, then serve
	$(RECOMMENDER) run --source $(SOURCE) $(WORLD) --host $(HOST) --port $(PORT)

test: setup ## Run the test suite, the whole-pipeline tests included
	$(BIN)/pytest

bench: setup ## Benchmarks: 1M-user store, classifier, materialize, quality (after features); var/bench
	$(BIN)/python bench/store_bench.py
	$(BIN)/python bench/vegetarian_eval.py
	$(BIN)/python bench/materialize_bench.py
	$(BIN)/python bench/quality_bench.py

lint: setup ## Check formatting, lint rules and types
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: setup ## Rewrite files with ruff format and apply safe lint fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: ## Delete generated files under var/ (keeps .venv)
	rm -rf $(VAR_DIR)
