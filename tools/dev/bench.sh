#!/usr/bin/env bash
# `make bench`: throughput and latency of the real pipeline on this machine.
#
#   tools/dev/bench.sh                     every mode and the batch endpoint, 3 runs (~13 min)
#   tools/dev/bench.sh --only both,batch --runs 5
#   tools/dev/bench.sh --quick             1 run of 5 s steps (smoke test, ~2 min)
#
# Starts its own Kafka, RabbitMQ and Valkey (state in .state/bench, ports 19092, 15672,
# 14369, 16379) so it never disturbs `make up` or the tests, and stops them at the end
# (--keep-infra leaves them up; CLIMA_BENCH_KAFKA_PORT etc. move them).
# Results: bench/results/latest.{md,json,png}.
# Profiles: .venv/bin/python -m bench.profile --help. Before/after: -m bench.compare --help.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/local/infra.sh install
echo "==> load average now: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs (results are noisy when others run)"
exec .venv/bin/python -m bench.run "$@"
