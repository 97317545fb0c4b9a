#!/usr/bin/env bash
# `make up`: everything on this machine, from nothing to traffic in Valkey.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-both}
bash tools/local/infra.sh install
bash tools/local/infra.sh up
set -a; . .state/infra/env; set +a
.venv/bin/python -m clima.local up --mode "$mode"
cat <<TXT

Clima is running (mode: $mode).
  dashboard  http://127.0.0.1:8090/            (the Grafana panels, read from Valkey)
  api        http://127.0.0.1:8080/clima      (OpenAPI at http://127.0.0.1:8080/docs)
  proxy      http://127.0.0.1:8081/tweet
  logs       .state/run/logs/
  Valkey     set -a; . .state/infra/env; set +a
             valkey-cli -u "\$VALKEY_SERVICE_URL" --no-auth-warning XREVRANGE clima:mixco + - COUNT 10
             valkey-cli -u "\$VALKEY_SERVICE_URL" --no-auth-warning HGETALL clima:weather_counts
  more load  make load
  stop       make down
TXT
