#!/usr/bin/env bash
# The Kafka, RabbitMQ and Valkey of `make test` alone: tools/local/infra.sh with a state folder
# and ports of its own, apart from `make up`'s (9092, 5672 + 25672, 4369, 6379), the
# benchmarks' (19092, 15672 + 15673, 14369, 16379) and the fault suites' (29092, 26672 +
# 26673, 24369, 26379), all below the NodePort (30000-32767) and ephemeral (32768-) ranges.
# So a test run never takes `make up`'s ports, in this checkout or another.
#
#   tools/dev/test-infra.sh up|down|status|config ...   any tools/local/infra.sh command
#
# CLIMA_TEST_STATE_DIR and CLIMA_TEST_{KAFKA,KAFKA_CONTROLLER,RABBIT,RABBIT_DIST,EPMD,VALKEY}_PORT
# move them; CLIMA_STATE_DIR and CLIMA_*_PORT, which move `make up`'s, do not.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
export CLIMA_STATE_DIR=${CLIMA_TEST_STATE_DIR:-$REPO/.state/test}
export CLIMA_KAFKA_PORT=${CLIMA_TEST_KAFKA_PORT:-27092}
export CLIMA_KAFKA_CONTROLLER_PORT=${CLIMA_TEST_KAFKA_CONTROLLER_PORT:-27093}
export CLIMA_RABBIT_PORT=${CLIMA_TEST_RABBIT_PORT:-27672}
export CLIMA_RABBIT_DIST_PORT=${CLIMA_TEST_RABBIT_DIST_PORT:-27673}
export CLIMA_EPMD_PORT=${CLIMA_TEST_EPMD_PORT:-27369}
export CLIMA_VALKEY_PORT=${CLIMA_TEST_VALKEY_PORT:-27379}
exec bash "$REPO/tools/local/infra.sh" "$@"
