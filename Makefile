# Restaurant recommender: `make help` lists the targets.

PYTHON ?= python3
VENV ?= .venv
# The folder of generated files: VAR_DIR, else RECOMMENDER_VAR_DIR, else var.
# An empty VAR_DIR counts as unset, so that no command writes to or deletes
# the checkout itself.
ifeq ($(strip $(VAR_DIR)),)
override VAR_DIR := $(if $(strip $(RECOMMENDER_VAR_DIR)),$(RECOMMENDER_VAR_DIR),var)
endif
SOURCE ?= uci
# Size and seed of the world that SOURCE=synthetic generates. For another
# source the commands get only those set on make's command line, and reject
# them, as they would reject the options.
USERS ?= 5000
RESTAURANTS ?= 300
DAYS ?= 120
SEED ?= 0
HOST ?= 127.0.0.1
PORT ?= 8000
# The number of splits of `make evaluate` and `make run`. Empty keeps the
# command's default.
SPLITS ?=
# The segment and audit files of `make evaluate`. Empty keeps the command's
# defaults, configs/segments.yaml and configs/audits.yaml.
SEGMENTS ?=
AUDITS ?=

ifneq ($(words $(VENV)),1)
$(error VENV must be a path without spaces, since make cannot name a target with spaces; got "$(VENV)")
endif

# $(call quote,TEXT) is TEXT as one shell word: in single quotes, with each '
# written as '\''. Every path in a recipe goes through it, so that a path with
# spaces or shell characters stays one argument.
quote = '$(subst ','\'',$(1))'

BIN := $(VENV)/bin
RECOMMENDER := $(call quote,$(BIN)/recommender)
# WORLD_OPTIONS, SPLITS_OPTION and EVALUATE_FILES are appended to a command
# without a space, so that they add nothing when they do not apply.
# $(call world_option,VARIABLE,OPTION) is " --OPTION $(VARIABLE)" for the
# synthetic source or a VARIABLE set on make's command line, else nothing.
world_option = $(if $(filter synthetic,$(strip $(SOURCE)))$(filter command \
	line,$(origin $(1))), --$(2) $($(1)))
WORLD_OPTIONS := $(call world_option,USERS,users)$(call \
	world_option,RESTAURANTS,restaurants)$(call world_option,DAYS,days)$(call \
	world_option,SEED,world-seed)
SPLITS_OPTION := $(if $(strip $(SPLITS)), --splits $(call quote,$(strip $(SPLITS))))
EVALUATE_FILES := $(if $(strip $(SEGMENTS)), --segments $(call quote,$(strip \
	$(SEGMENTS))))$(if $(strip $(AUDITS)), --audits $(call quote,$(strip $(AUDITS))))
# The absolute var folder. make's abspath splits a path with spaces into
# words, so rather than reject such a path, the Makefile joins it as text:
# VAR_DIR when it starts with /, else the folder make runs in, a slash and
# VAR_DIR. The commands resolve any ".." in it.
VAR_PATH := $(if $(filter /%,$(firstword $(VAR_DIR))),$(VAR_DIR),$(CURDIR)/$(VAR_DIR))
export RECOMMENDER_VAR_DIR := $(VAR_PATH)

.DEFAULT_GOAL := help
.PHONY: help setup data import features train evaluate serve run test bench lint format clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "} {printf "  %-10s %s\n", $$1, $$2}'

setup: $(VENV)/.installed ## Create .venv and install the project with pip

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is required; set PYTHON=python3.11"; exit 1; }
	$(PYTHON) -m venv $(call quote,$(VENV))
	$(call quote,$(BIN)/pip) install --quiet --upgrade pip
	$(call quote,$(BIN)/pip) install --quiet -e '.[dev]'
	@touch $(call quote,$@)

data: setup ## Load SOURCE=uci (bundled) or SOURCE=synthetic (USERS, RESTAURANTS, DAYS, SEED)
	$(RECOMMENDER) data --source $(SOURCE)$(WORLD_OPTIONS)

import: setup ## Import a folder of table files, DIR=path (docs/data-format.md)
	@test -n $(call quote,$(DIR)) || { echo "usage: make import DIR=path/to/folder"; exit 2; }
	$(RECOMMENDER) import $(call quote,$(DIR))

features: setup ## Build feature tables, feast apply, materialize, prune dropped entities
	$(RECOMMENDER) features

train: setup ## Train the LightGBM ranker and make it the current model
	$(RECOMMENDER) train

evaluate: setup ## Models on SPLITS splits (default 5), segment analysis, audits (Error 4 if one fails); writes reports/ in VAR_DIR
	$(RECOMMENDER) evaluate$(SPLITS_OPTION)$(EVALUATE_FILES)

serve: setup ## Serve the API on HOST:PORT (default 127.0.0.1:8000)
	$(RECOMMENDER) serve --host $(HOST) --port $(PORT)

run: setup ## Set up, import, build features, train, evaluate (SPLITS), then serve
	$(RECOMMENDER) run --source $(SOURCE)$(WORLD_OPTIONS) --host $(HOST) --port $(PORT)$(SPLITS_OPTION)

test: setup ## Run the test suite, the whole-pipeline tests included
	$(call quote,$(BIN)/pytest)

bench: setup ## Benchmarks: 1M-user store, classifier, materialize, quality (after features); writes bench/ in VAR_DIR
	$(call quote,$(BIN)/python) bench/store_bench.py
	$(call quote,$(BIN)/python) bench/vegetarian_eval.py
	$(call quote,$(BIN)/python) bench/materialize_bench.py
	$(call quote,$(BIN)/python) bench/quality_bench.py

lint: setup ## Check formatting, lint rules and types
	$(call quote,$(BIN)/ruff) format --check .
	$(call quote,$(BIN)/ruff) check .
	$(call quote,$(BIN)/mypy)

format: setup ## Rewrite files with ruff format and apply safe lint fixes
	$(call quote,$(BIN)/ruff) format .
	$(call quote,$(BIN)/ruff) check --fix .

# clean deletes only the var folder itself. It rejects a path that is not a
# folder, the checkout or a folder that contains it (such as / or ..), a
# folder with files tracked by git (such as data), and, inside the checkout,
# a folder git does not ignore (such as .git) or the virtual environment,
# because deleting any of them would delete more than generated files. Then
# `recommender clean` deletes the folder unless it contains an entry that no
# recommender command writes (service/clean.py lists the known ones).
clean: ## Delete the var folder VAR_DIR (default var/) if it has only generated files; keeps .venv
	@dir=$(call quote,$(VAR_PATH)); \
	if [ ! -e "$$dir" ] && [ ! -L "$$dir" ]; then exit 0; fi; \
	real=$$(cd -P "$$dir" 2>/dev/null && pwd -P) || { \
		echo "make clean: VAR_DIR $$dir is not a folder; nothing deleted" >&2; \
		exit 2; }; \
	root=$$(cd -P $(call quote,$(CURDIR)) && pwd -P); \
	case "$$root/" in "$${real%/}"/*) \
		echo "make clean: VAR_DIR $$dir is the checkout $$root or contains it;" \
			"nothing deleted. Set VAR_DIR to the folder of generated files" >&2; \
		exit 2;; \
	esac; \
	tracked=$$(git --literal-pathspecs -C "$$root" ls-files -- "$$real" 2>/dev/null \
		| head -n 1); \
	if [ -n "$$tracked" ]; then \
		echo "make clean: VAR_DIR $$dir contains files tracked by git, such as" \
			"$$tracked; nothing deleted. Set VAR_DIR to the folder of generated" \
			"files" >&2; \
		exit 2; \
	fi; \
	venv=$$(cd -P $(call quote,$(VENV)) 2>/dev/null && pwd -P); \
	case "$$real/" in "$$root"/*) \
		if [ "$$real" = "$$venv" ]; then \
			echo "make clean: VAR_DIR $$dir is the virtual environment; nothing" \
				"deleted. Set VAR_DIR to the folder of generated files" >&2; \
			exit 2; \
		fi; \
		if git -C "$$root" rev-parse --git-dir >/dev/null 2>&1 && \
			! git -C "$$root" check-ignore -q -- "$$real"; then \
			echo "make clean: VAR_DIR $$dir is inside the checkout but git does" \
				"not ignore it; nothing deleted. Set VAR_DIR to the folder of" \
				"generated files" >&2; \
			exit 2; \
		fi;; \
	esac; \
	if [ ! -x $(RECOMMENDER) ]; then \
		echo "make clean: $(BIN)/recommender, which checks the contents of" \
			"VAR_DIR $$dir before deleting it, is not installed; nothing" \
			"deleted. Run make setup first" >&2; \
		exit 2; \
	fi; \
	$(RECOMMENDER) --var-dir "$$dir" clean
