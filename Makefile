# Fusebox: `make demo` starts everything with simulated traffic; `make test` runs every test;
# `make chaos` runs the fault scenarios at full size.
SHELL := /bin/bash
STACK := bash deploy/local/stack.sh
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup up down status demo test test-unit test-integration bench chaos

setup:
	$(STACK) setup

up: setup
	$(STACK) up

down:
	-bash deploy/local/demo.sh stop 2>/dev/null || true
	$(STACK) down

status:
	-$(STACK) status
	-bash deploy/local/demo.sh status 2>/dev/null || true

demo: setup
	bash deploy/local/demo.sh start

test: setup
	$(PY) -m pytest -p no:cacheprovider -q tests

test-unit: setup
	$(PY) -m pytest -p no:cacheprovider -q tests/unit

test-integration: setup
	$(PY) -m pytest -p no:cacheprovider -q tests/integration tests/e2e

bench: setup
	$(PY) -m bench

# The chaos scenarios at full size (make test runs them short); figures in docs/reliability.md.
chaos: setup
	FUSEBOX_CHAOS_PROFILE=full $(PY) -m pytest -p no:cacheprovider -q tests/chaos
