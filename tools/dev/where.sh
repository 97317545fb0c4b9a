#!/usr/bin/env bash
# What `make up` prints at the end: where to look, and the commands that read Valkey.
# The Valkey commands are run as printed by tests/integration/test_where.py.
#   tools/dev/where.sh [mode]      CLIMA_INFRA_SH names another infra script (tests)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
mode=${1:-both}
config=$(bash "${CLIMA_INFRA_SH:-$REPO/tools/local/infra.sh}" config)
setting() { sed -n "s/^$1=//p" <<<"$config"; }
env_file=$(setting env)
env_file=${env_file#"$REPO"/}   # as typed in the checkout's root, where `make up` runs
# valkey-cli reads the password from REDISCLI_AUTH, which the env file exports: never on the
# command line (a redis://:password@ URL makes valkey-cli 8.0 send an empty user name).
valkey="valkey-cli -h $(setting host) -p $(setting valkey) -n 0"
cat <<TXT

Clima is running (mode: $mode).
  dashboard  http://127.0.0.1:8090/            (the Grafana panels, read from Valkey)
  api        http://127.0.0.1:8080/clima      (OpenAPI at http://127.0.0.1:8080/docs)
  proxy      http://127.0.0.1:8081/tweet
  logs       .state/run/logs/
  Valkey     set -a; . $env_file; set +a
             $valkey XREVRANGE clima:mixco + - COUNT 10
             $valkey HGETALL clima:weather_counts
  more load  make load
  stop       make down
TXT
