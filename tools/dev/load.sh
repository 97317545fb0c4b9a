#!/usr/bin/env bash
# `make load`: Locust, headless, for a fixed time, against `make up` or any Clima api.
#
#   tools/dev/load.sh                         50 users, 30 s, single reports and batches (9:1)
#   HOST=http://ingress.example USERS=200 DURATION=2m tools/dev/load.sh
#   KINDS=BatchUser BATCH_SIZE=500 tools/dev/load.sh
#
# Prints Locust's table and a total in reports/s (from --json-file: the CSVs miss the last
# second). Exits like Locust: 1 when any request failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
HOST=${HOST:-http://127.0.0.1:8080}
USERS=${USERS:-50}
SPAWN_RATE=${SPAWN_RATE:-$USERS}
DURATION=${DURATION:-30s}
KINDS=${KINDS:-ReportUser BatchUser}
OUT=${OUT:-out/load}
export CLIMA_LOAD_BATCH_SIZE=${BATCH_SIZE:-100}
export CLIMA_LOAD_NAMED_SHARE=${NAMED_SHARE:-0.2}
export CLIMA_LOAD_USER_RATE=${USER_RATE:-0}
mkdir -p "$OUT"
rm -f "$OUT/locust.json"
echo "==> locust: $USERS users ($KINDS) for $DURATION against $HOST (batch size $CLIMA_LOAD_BATCH_SIZE)"
# shellcheck disable=SC2086  # KINDS is a list of class names
set +e
.venv/bin/locust -f loadtest/locustfile.py --headless --only-summary \
  -u "$USERS" -r "$SPAWN_RATE" -t "$DURATION" --stop-timeout 10 --host "$HOST" \
  --json-file "$OUT/locust" $KINDS
code=$?
set -e
echo
echo "==> totals (from $OUT/locust.json)"
.venv/bin/python loadtest/summary.py "$OUT/locust.json" || true
exit "$code"
