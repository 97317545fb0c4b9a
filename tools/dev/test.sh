#!/usr/bin/env bash
# `make test`: static checks, then unit, integration and e2e suites against real components.
set -euo pipefail
cd "$(dirname "$0")/../.."
step() { printf '\n==> %s\n' "$*"; }
step "lint (ruff, import contracts, generated code)"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports
bash tools/dev/proto.sh --check
step "types (mypy --strict)"
.venv/bin/mypy
step "installing and starting Kafka, RabbitMQ and Valkey (this run's own: tools/dev/test-infra.sh)"
bash tools/local/infra.sh install
# Stopped and emptied when the run ends, passed or failed or interrupted;
# CLIMA_KEEP_TEST_INFRA=1 leaves them running for a look (tools/dev/test-infra.sh down later).
stop_infra() {
  if [[ -n ${CLIMA_KEEP_TEST_INFRA:-} ]]; then
    step "keeping this run's Kafka, RabbitMQ and Valkey: $(bash tools/dev/test-infra.sh config | grep -E '^(kafka|rabbit|valkey|env)=' | tr '\n' ' ')"
  else
    step "stopping this run's Kafka, RabbitMQ and Valkey"
    bash tools/dev/test-infra.sh down --purge || echo "could not stop them: see tools/dev/test-infra.sh status" >&2
  fi
}
trap stop_infra EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
bash tools/dev/test-infra.sh up
# the integration suite starts and reads the instance through this script
export CLIMA_INFRA_SH=$PWD/tools/dev/test-infra.sh
if ! dpkg -s libfaketime >/dev/null 2>&1; then
  step "installing libfaketime (a test moves the api's clock across an hour)"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
    --no-install-recommends faketime >/dev/null \
    || { apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null \
         && apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends faketime; }
fi
step "installing headless Chromium (for the local view's page test)"
bash tools/dev/chromium.sh
step "building the local Kubernetes control plane, kwok and helm (first time ~20 min, then cached)"
bash tools/cluster/build.sh
step "unit, integration and e2e tests"
mkdir -p out
.venv/bin/python -m pytest tests -p no:cacheprovider --junitxml=out/junit.xml "$@"
