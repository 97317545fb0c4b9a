#!/usr/bin/env bash
# `make up`: everything on this machine, from nothing to traffic in Valkey.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-both}
bash tools/local/infra.sh install
bash tools/local/infra.sh up
set -a; . "$(bash tools/local/infra.sh config | sed -n 's/^env=//p')"; set +a
.venv/bin/python -m clima.local up --mode "$mode"
bash tools/dev/where.sh "$mode"
