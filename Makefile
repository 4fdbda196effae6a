# Fusebox: `make demo` starts everything with simulated traffic; `make test` runs every test;
# `make chaos` runs the fault scenarios at full size.
SHELL := /bin/bash
STACK := bash deploy/local/stack.sh
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup up down status demo up-cluster test test-unit test-integration bench chaos dashboard-size

setup:
	$(STACK) setup
	bash deploy/tools.sh install

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

# the demo with 3 aggregator workers and 2 API replicas (ports: docs/production.md#a-local-cluster)
up-cluster: setup
	FUSEBOX_DEMO_WORKERS=3 FUSEBOX_DEMO_API_REPLICAS=2 bash deploy/local/demo.sh start

test: setup
	node --test tests/unit/dashboard/
	$(PY) -m pytest -p no:cacheprovider -q tests

test-unit: setup
	node --test tests/unit/dashboard/
	$(PY) -m pytest -p no:cacheprovider -q tests/unit

test-integration: setup
	$(PY) -m pytest -p no:cacheprovider -q tests/integration tests/e2e

bench: setup
	$(PY) -m bench

# What the browser downloads for the dashboard: each file fetched from the dashboard's routes as a browser
# that accepts gzip gets it (bytes on the wire, bytes decoded, Content-Encoding).
dashboard-size: setup
	@$(PY) -m fusebox.api.dashboard_files --size

# The chaos scenarios at full size (make test runs them short); figures in docs/reliability.md.
chaos: setup
	FUSEBOX_CHAOS_PROFILE=full $(PY) -m pytest -p no:cacheprovider -q tests/chaos
