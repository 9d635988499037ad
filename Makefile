# The template's own commands. Every target bootstraps its tooling into .venv first.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help bootstrap compose-validator browser test demo lint locks clean

VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
UV_VERSION := 0.13.9
BACKEND ?= shared_fs
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print(2 * (os.cpu_count() or 1))')
DEMO_DIR := build/demo
DEMO_PROJECT := $(DEMO_DIR)/model-pipeline
LOCK_DIR := {{cookiecutter.project_slug}}/requirements

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

bootstrap: $(VENV)/.installed ## (internal) .venv with the template's pinned tooling

$(VENV)/.installed: requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "uv==$(UV_VERSION)"
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements-dev.txt
	touch $@

# Validates the generated docker-compose.yaml without a Docker engine (tests/test_compose.py): Debian's
# docker-compose 1.29, installed when missing (needs root and apt-get; without them the test skips, or fails on CI).
compose-validator:
	@command -v docker-compose > /dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
	    echo "installing Debian's docker-compose (no engine) to validate generated compose files"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends docker-compose > /dev/null; \
	  else echo "note: docker-compose is missing and needs root to install: tests/test_compose.py will skip (fail under CI)"; fi; }

# The browser for the slow tests' look at Airflow's web UI (tests/browser.py): Debian's chromium, driven by Playwright
# from .venv (never `playwright install`: no browser downloads). Installed when missing (needs root and apt-get;
# without them those checks skip, or fail on CI).
browser:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
	    echo "installing Debian's chromium for the web UI checks"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends chromium > /dev/null; \
	  else echo "note: /usr/bin/chromium is missing and needs root to install: the web UI checks will skip (fail under CI)"; fi; }

test: bootstrap compose-validator browser ## The template's whole test suite (bakes every backend; slow tests included)
	# The slow tests side by side, two per CPU of this machine: the backends' make targets mostly wait on Airflow,
	# and each soak keeps about one core busy. -rP prints the make timings and the soak figures.
	$(BIN)/pytest -n $(TEST_WORKERS) --dist load --maxschedchunk 1 -rP

demo: bootstrap ## Bake a project into build/demo (BACKEND=shared_fs|s3|variables), set it up, run its DAG
	rm -rf $(DEMO_DIR)
	$(BIN)/cookiecutter --no-input -o $(DEMO_DIR) . storage_backend=$(BACKEND)
	$(MAKE) -C $(DEMO_PROJECT) setup run
	@echo "Demo project ($(BACKEND)): $(CURDIR)/$(DEMO_PROJECT)  (cd there; 'make help' lists its targets)"

lint: bootstrap ## ruff check + ruff format --check on hooks/ and tests/
	$(BIN)/ruff check hooks tests
	$(BIN)/ruff format --check hooks tests

# The handoff library is a path dependency (vendor/airflow-model-handoff): the lock names its folder, relative to the
# project, so each lock is installed from inside its bake.
locks: bootstrap ## Re-pin requirements/<backend>.lock of the generated project (after editing its pyproject.toml)
	for backend in shared_fs s3 variables; do \
	  rm -rf build/locks/$$backend; \
	  $(BIN)/cookiecutter --no-input -o build/locks/$$backend . storage_backend=$$backend > /dev/null || exit 1; \
	  $(BIN)/uv pip compile -q --python-version 3.11 --no-header --no-annotate --extra dev --extra kubernetes \
	    build/locks/$$backend/model-pipeline/pyproject.toml -o "$(LOCK_DIR)/$$backend.lock" || exit 1; \
	  (cd build/locks/$$backend/model-pipeline && $(CURDIR)/$(BIN)/uv pip install -q --no-deps \
	    --python $(CURDIR)/$(BIN)/python --target ../site -r "$(CURDIR)/$(LOCK_DIR)/$$backend.lock") || exit 1; \
	done
	# The modules the locks install and the project's folders: package names the pre-generation hook refuses.
	$(BIN)/python hooks/taken_names.py build/locks/*/site

clean: ## Remove .venv and build/
	rm -rf $(VENV) build
