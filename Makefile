# Clima tasks. `make up` runs the pipeline on this machine; `make test` runs every suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python
MODE ?= both

help: ## list the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

venv: ## create or refresh .venv (uv, cached outside the repo)
	@bash tools/dev/venv.sh

up: venv ## install what is missing, start brokers, Valkey and every service, send a burst
	@bash tools/dev/up.sh $(MODE)

down: ## stop the services, brokers and Valkey started by `make up`
	@if [ -x $(PY) ]; then $(PY) -m clima.local down; fi
	@bash tools/local/infra.sh down

test: venv ## the whole suite: lint, types, unit, integration (real brokers) and e2e (real cluster)
	@bash tools/dev/test.sh

test-unit: venv ## unit tests only
	@$(PY) -m pytest tests/unit -q

lint: venv ## ruff, import contracts, generated code current
	@.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/lint-imports && bash tools/dev/proto.sh --check

typecheck: venv ## mypy --strict
	@.venv/bin/mypy

proto: venv ## regenerate the Python code of proto/
	@bash tools/dev/proto.sh

cluster-up: ## build (first time) and start the local Kubernetes control plane
	@bash tools/cluster/cluster.sh up

cluster-down: ## stop the local Kubernetes control plane
	@bash tools/cluster/cluster.sh down

.PHONY: help venv up down test test-unit lint typecheck proto cluster-up cluster-down
