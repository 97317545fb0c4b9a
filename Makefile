# Clima tasks. `make up` runs the pipeline on this machine; `make test` runs every suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python
MODE ?= both
CHART_REGISTRY ?= oci://127.0.0.1:5000/charts
IMAGE_REGISTRY ?= 127.0.0.1:5000
PLATFORM ?= linux/amd64

help: ## list the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

venv: ## install exactly uv.lock into .venv (uv, cached outside the repo)
	@bash tools/dev/venv.sh

lock: ## re-resolve uv.lock on purpose (UPGRADE=<package> or UPGRADE=all), then install it
	@bash tools/dev/venv.sh lock

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

load: ## Locust against `make up` (HOST=, USERS=, DURATION=); prints reports/s
	@bash tools/dev/load.sh

bench: venv ## throughput/latency of every mode and the batch endpoint -> bench/results/latest.*
	@bash tools/dev/bench.sh $(BENCH_ARGS)

soak: venv ## 1,000 reports/s for 10 min against Valkey's default limits -> bench/results/soak.*
	@bash tools/local/infra.sh install && .venv/bin/python -m bench.soak $(SOAK_ARGS)

chart-lint: ## helm lint and the values schema current with the CRD
	@bash tools/dev/chart.sh lint

chart-push: ## package the chart and push it: make chart-push CHART_REGISTRY=oci://host/path
	@bash tools/dev/chart.sh push $(CHART_REGISTRY)

images: ## build the Clima image for PLATFORM=linux/amd64 (or linux/arm64); docker, podman or buildah
	@REGISTRY=$(IMAGE_REGISTRY) PLATFORM=$(PLATFORM) bash tools/dev/images.sh build

push: ## push the image: make push IMAGE_REGISTRY=host[:port]
	@REGISTRY=$(IMAGE_REGISTRY) bash tools/dev/images.sh push

kube-up: venv ## the platform on a real node (NODES=2: two): images, chart, helm install, the sample pipeline, traffic
	@NODES=$(or $(NODES),1) bash tools/dev/kube.sh up

kube-down: ## stop the real node, the control plane and the registry started by kube-up
	@bash tools/dev/kube.sh down

kube-env: ## print the exports that point kubectl, helm and crictl at the local cluster
	@bash tools/dev/kube.sh env

cluster-up: ## build (first time) and start the local Kubernetes control plane
	@bash tools/cluster/cluster.sh up

cluster-down: ## stop the local Kubernetes control plane
	@bash tools/cluster/cluster.sh down

.PHONY: help venv lock up down test test-unit lint typecheck proto load bench soak chart-lint chart-push images push \
	cluster-up cluster-down kube-up kube-down kube-env
