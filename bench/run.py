"""`make bench`: the real pipeline on this machine, driven at increasing load, measured.

    .venv/bin/python -m bench.run                       # everything, 3 runs, ~13 min
    .venv/bin/python -m bench.run --only both,batch --runs 5
    .venv/bin/python -m bench.run --quick               # 1 run of 5 s steps, a smoke test

It starts its own Kafka, RabbitMQ and Valkey (tools/local/infra.sh with the state folder
.state/bench and ports 19092, 15672, 14369, 16379, or CLIMA_BENCH_<NAME>_PORT), so it never
touches `make up` or the tests; then, per scenario, the real api, proxy, writer and
consumers (LocalPipeline, free ports, their own topic and queue). Each load step measures:

- accepted reports/s, accept latency p50/p95/p99 (from when each request was due);
- end-to-end latency acceptance -> Valkey from the streams (entry id = apply time,
  `ts` = event time) and applied reports/s;
- lost (accepted, never in Valkey) and duplicated (in Valkey twice) reports;
- CPU seconds per 1,000 reports of every process, the load generator included, and the CPU
  everyone else used meanwhile (the machine is shared: read results with it).

Results: bench/results/latest.{json,md,png}. Medians of the runs, with min-max.
"""

import argparse
import asyncio
import contextlib
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
import uvloop
import valkey

from bench import report as results
from bench.driver import Load, Outcome, drive
from bench.system import CpuMeter, describe, infra_pids
from bench.verify import read_streams, wait_drained
from clima.local import LocalPipeline, Ports, read_infra_env
from loadtest.traffic import batch, report

ROOT = Path(__file__).resolve().parents[1]
STATE = Path(os.environ.get("CLIMA_BENCH_STATE_DIR", ROOT / ".state" / "bench"))
RESULTS = ROOT / "bench" / "results"
# the bench's own ports; CLIMA_BENCH_<NAME> (e.g. CLIMA_BENCH_KAFKA_PORT) moves one, so that
# two checkouts can run `make bench` side by side
_PORTS = {
    "KAFKA_PORT": "19092",
    "KAFKA_CONTROLLER_PORT": "19093",
    "RABBIT_PORT": "15672",
    "RABBIT_DIST_PORT": "15673",  # below the ephemeral range (see docs/faults.md)
    "EPMD_PORT": "14369",
    "VALKEY_PORT": "16379",
}
INFRA_ENV = {
    "CLIMA_STATE_DIR": str(STATE),
    **{f"CLIMA_{name}": os.environ.get(f"CLIMA_BENCH_{name}", p) for name, p in _PORTS.items()},
}
STREAM_MAXLEN = 20_000_000  # never trim during a step: every report must be found
NAMED_SHARE = 0.2
BODIES = 4096


@dataclass(frozen=True)
class Step:
    """One load level: `rate` reports/s on a schedule, or 0 for as fast as answers come."""

    rate: int
    connections: int

    @property
    def label(self) -> str:
        return f"{self.rate}/s" if self.rate else f"max ({self.connections} conn)"


@dataclass(frozen=True)
class Scenario:
    """A writer mode and an endpoint, with its load steps."""

    name: str
    mode: str
    batch_size: int  # 1: POST /clima, else POST /clima/batch with this many reports
    steps: tuple[Step, ...]

    @property
    def path(self) -> str:
        return "/clima" if self.batch_size == 1 else "/clima/batch"

    @property
    def copies(self) -> int:
        """Deliveries per report the consumers handle (both brokers in mode `both`)."""
        return 2 if self.mode == "both" else 1


def _single(rates: tuple[int, ...]) -> tuple[Step, ...]:
    return (*(Step(r, 256) for r in rates), Step(0, 128))


SCENARIOS = (
    Scenario("kafka", "kafka", 1, _single((1000, 3000))),
    Scenario("rabbit", "rabbit", 1, _single((1000, 3000))),
    Scenario("random", "random", 1, _single((1000, 3000))),
    Scenario("both", "both", 1, _single((1000, 2000, 3000))),
    Scenario("batch", "both", 100, (Step(10_000, 32), Step(30_000, 32), Step(0, 16))),
)
# only with --only: the batch endpoint through one broker, to see which consumer limits
EXTRA = (
    Scenario("batch-kafka", "kafka", 100, (Step(10_000, 32), Step(30_000, 32), Step(0, 16))),
    Scenario("batch-rabbit", "rabbit", 100, (Step(10_000, 32), Step(30_000, 32), Step(0, 16))),
)


# ---------------------------------------------------------------- infrastructure
def infra(command: str) -> dict[str, str]:
    """Runs tools/local/infra.sh for the bench's own instance; returns its addresses."""
    env = {**os.environ, **INFRA_ENV}
    subprocess.run([str(ROOT / "tools/local/infra.sh"), command], env=env, check=True)  # noqa: S603
    if command != "up":
        return {}
    return read_infra_env(STATE / "infra" / "env")


def cleanup_brokers(env: dict[str, str], names: dict[str, str]) -> None:
    """Deletes the scenario's topics and queues so the bench instance does not grow."""
    from confluent_kafka.admin import AdminClient  # noqa: PLC0415 - only at cleanup

    topic = names["CLIMA_KAFKA_TOPIC"]
    admin = AdminClient({"bootstrap.servers": env["KAFKA_BROKER"]})
    for future in admin.delete_topics([topic, f"{topic}.dead"]).values():
        with contextlib.suppress(Exception):  # a topic the mode never created
            future.result(15)

    async def delete_queues() -> None:
        import aio_pika  # noqa: PLC0415 - only at cleanup

        connection = await aio_pika.connect(env["RABBITMQ_URL"], timeout=10)
        async with connection:
            channel = await connection.channel()
            for queue in (names["CLIMA_RABBIT_QUEUE"], names["CLIMA_RABBIT_QUEUE"] + ".dead"):
                await channel.queue_delete(queue)

    try:
        asyncio.run(delete_queues())
    except Exception as exc:
        print(f"    (could not delete queues: {exc!r})")


# ---------------------------------------------------------------- one step
def bodies(scenario: Scenario, seed: int) -> list[bytes]:
    """Request bodies encoded once, before the clock starts."""
    rng = random.Random(seed)  # noqa: S311 - traffic, not secrets
    count = BODIES if scenario.batch_size == 1 else 64
    if scenario.batch_size == 1:
        return [orjson.dumps(report(rng, NAMED_SHARE)) for _ in range(count)]
    return [orjson.dumps(batch(rng, scenario.batch_size, NAMED_SHARE)) for _ in range(count)]


def percentiles(values: list[float], shares: tuple[int, ...]) -> dict[str, float]:
    """p50, p95... of `values` (ms), rounded; zeros when there are none."""
    if len(values) == 0:
        return {f"p{s}": 0.0 for s in shares} | {"max": 0.0}
    ordered = sorted(values)
    last = len(ordered) - 1

    def at(share: int) -> float:  # linear interpolation between closest ranks
        position = last * share / 100
        low = int(position)
        high = min(low + 1, last)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    found = {f"p{s}": round(at(s), 1) for s in shares}
    return found | {"max": round(ordered[-1], 1)}


def accepted_ids(out: Outcome) -> tuple[list[str], Counter[int], list[int]]:
    """Ids the api returned with 202, answers per status, and which requests got 202."""
    ids: list[str] = []
    statuses: Counter[int] = Counter()
    ok: list[int] = []
    for index, (status, body) in enumerate(zip(out.status, out.body, strict=True)):
        statuses[status] += 1
        if status == 202:
            answer = orjson.loads(body)
            if "ids" in answer:
                ids.extend(answer["ids"])
            else:
                ids.append(answer["id"])
            ok.append(index)
    return ids, statuses, ok


@dataclass
class Bench:
    """What every step of a scenario shares."""

    pipeline: LocalPipeline
    scenario: Scenario
    payloads: list[bytes]
    store: "valkey.Valkey"
    meter: CpuMeter
    seconds: float


def run_step(bench: Bench, step: Step) -> dict[str, Any]:
    """Drives one step, waits until Valkey has everything, checks it, empties Valkey."""
    pipeline, scenario, payloads = bench.pipeline, bench.scenario, bench.payloads
    store, meter, seconds = bench.store, bench.meter, bench.seconds
    load = Load(scenario.path, payloads, step.rate / scenario.batch_size, step.connections, seconds)
    loadavg = os.getloadavg()
    epoch = time.time() - time.perf_counter()
    before = meter.sample()
    out = uvloop.run(drive("127.0.0.1", pipeline.ports.api, load))
    sent = meter.sample()
    ids, statuses, ok = accepted_ids(out)
    drain_s = wait_drained(store, len(ids) * scenario.copies)
    drained = meter.sample()
    applied = read_streams(store)
    store.flushdb()

    accept_ms = [(out.answered[i] - out.due[i]) * 1000 for i in ok]
    service_ms = [(out.answered[i] - out.sent[i]) * 1000 for i in ok]
    last_answer = max((out.answered[i] for i in ok), default=out.ended)
    window = max(last_answer - out.started, 1e-9)
    accepted = set(ids)
    lost = sum(1 for i in accepted if i not in applied.counts)
    duplicated = sum(c - 1 for c in applied.counts.values() if c > 1)
    extra = sum(1 for i in applied.counts if i not in accepted)
    start_ms = (epoch + out.started) * 1000
    apply_window = max((applied.last_apply_ms - start_ms) / 1000, 1e-9)
    generator = CpuMeter.between(before, sent)
    pipeline_cpu = CpuMeter.between(before, drained)
    pipeline_cpu["loadgen"] = generator["loadgen"]
    for name in [k for k in pipeline_cpu if k.startswith("api-")]:
        pipeline_cpu["api"] += pipeline_cpu.pop(name)
    per_1k = {
        k: round(v / max(len(ids), 1) * 1000, 4) for k, v in pipeline_cpu.items() if k != "wall"
    }
    return {
        "scenario": scenario.name,
        "mode": scenario.mode,
        "batch_size": scenario.batch_size,
        "step": step.label,
        "offered_per_s": step.rate,
        "connections": step.connections,
        "seconds": seconds,
        "requests": len(out.status),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "unsent": out.unsent,
        "accepted_reports": len(ids),
        "accepted_per_s": round(len(ids) / window, 1),
        "applied_per_s": round(sum(1 for i in accepted if i in applied.counts) / apply_window, 1),
        "accept_ms": percentiles(accept_ms, (50, 95, 99)),
        "service_ms": percentiles(service_ms, (50, 95, 99)),
        "e2e_ms": percentiles(applied.e2e_ms, (50, 95, 99)),
        "lost": lost,
        "duplicated": duplicated,
        "applied_without_202": extra,
        "drain_s": round(drain_s, 2),
        "cpu_s": {k: round(v, 3) for k, v in pipeline_cpu.items()},
        "cpu_s_per_1k": per_1k,
        "loadavg_start": [round(v, 2) for v in loadavg],
        "loadavg_end": [round(v, 2) for v in os.getloadavg()],
    }


def start_more_apis(pipeline: LocalPipeline, workers: int) -> None:
    """Starts api processes 2..`workers` beside the first, on its port."""
    p = pipeline.ports
    for number in range(2, workers + 1):
        pipeline._spawn(  # a trial the pipeline class does not offer
            f"api-{number}",
            ["api"],
            {
                "GRPC_SERVER_URL": f"127.0.0.1:{p.proxy_grpc}",
                "CLIMA_API_HOST": "127.0.0.1",
                "CLIMA_API_PORT": str(p.api),
            },
        )
    time.sleep(3 if workers > 1 else 0)
    for name, process in pipeline.processes.items():
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}")


def warm_up(
    pipeline: LocalPipeline, scenario: Scenario, payloads: list[bytes], store: "valkey.Valkey"
) -> None:
    """A few seconds of light traffic so every consumer owns its partitions; then empty."""
    rate = 500.0 if scenario.batch_size == 1 else 50.0  # requests/s
    out = uvloop.run(
        drive("127.0.0.1", pipeline.ports.api, Load(scenario.path, payloads, rate, 128, 3))
    )
    ids, statuses, _ = accepted_ids(out)
    wait_drained(store, len(ids) * scenario.copies, timeout_s=60)
    store.flushdb()
    if statuses.get(202, 0) != len(out.status):
        print(f"    warm-up answers: {dict(statuses)}")


def run_scenario(
    scenario: Scenario,
    env: dict[str, str],
    runs: int,
    seconds: float,
    services: Path | None,
    *,
    api_workers: int = 1,
    overrides: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Starts the pipeline of a scenario, runs its steps `runs` times, stops it.

    `api_workers` > 1 starts more api processes on the same port (a trial: the api must bind
    with SO_REUSEPORT for the kernel to share connections among them); `overrides` are
    settings for every process (CLIMA_API_MAX_INFLIGHT_RPCS=2...).
    """
    uid = uuid.uuid4().hex[:8]
    names = {
        "CLIMA_KAFKA_TOPIC": f"bench-{uid}",
        "CLIMA_RABBIT_QUEUE": f"bench-{uid}",
        "CLIMA_CONSUMER_KAFKA_GROUP": f"bench-{uid}",
    }
    extra = {**env, **names, "CLIMA_STREAM_MAXLEN": str(STREAM_MAXLEN), **(overrides or {})}
    if services is not None:
        extra["PYTHONPATH"] = str(services)
    logs = STATE / "logs" / scenario.name
    pipeline = LocalPipeline(scenario.mode, extra, logs, Ports.free())
    store = valkey.Valkey.from_url(env["VALKEY_SERVICE_URL"], decode_responses=False)
    store.flushdb()
    payloads = bodies(scenario, seed=7)
    rows: list[dict[str, Any]] = []
    print(f"==> {scenario.name}: mode {scenario.mode}, {scenario.path}, logs in {logs}")
    try:
        pipeline.start()
        start_more_apis(pipeline, api_workers)
        pids = {name: p.pid for name, p in pipeline.processes.items()}
        meter = CpuMeter({**pids, **infra_pids(STATE), "loadgen": os.getpid()})
        warm_up(pipeline, scenario, payloads, store)
        bench = Bench(pipeline, scenario, payloads, store, meter, seconds)
        for run in range(1, runs + 1):
            for step in scenario.steps:
                row = run_step(bench, step)
                row["run"] = run
                rows.append(row)
                print("    " + results.one_line(row))
                time.sleep(1)
    finally:
        for name in [n for n in pipeline.processes if n.startswith("api-")]:
            process = pipeline.processes.pop(name)
            process.terminate()
            process.wait(20)
        codes = pipeline.stop()
        store.close()
        if any(codes.values()):
            print(f"    unclean exit: {codes} (see {logs})")
        cleanup_brokers(env, names)
    return rows


# ---------------------------------------------------------------- main
def main() -> None:
    """Parses options, runs the scenarios, writes the results."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="repetitions of every step")
    parser.add_argument("--seconds", type=float, default=10, help="length of a load step")
    parser.add_argument(
        "--only",
        default="",
        help="scenarios, comma-separated: " + ", ".join(s.name for s in (*SCENARIOS, *EXTRA)),
    )
    parser.add_argument("--quick", action="store_true", help="1 run of 5 s steps (smoke test)")
    parser.add_argument("--keep-infra", action="store_true", help="leave the bench's brokers up")
    parser.add_argument(
        "--services", type=Path, help="run services from this folder (a trial copy)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "latest", help="results path stem")
    parser.add_argument(
        "--api-workers", type=int, default=1, help="api processes on one port (SO_REUSEPORT)"
    )
    args = parser.parse_args()
    if args.quick:
        args.runs, args.seconds = 1, 5
    wanted = args.only.split(",") if args.only else [s.name for s in SCENARIOS]
    chosen = [s for s in (*SCENARIOS, *EXTRA) if s.name in wanted]
    if not chosen:
        parser.error(f"--only: none of {args.only!r} is a scenario")
    started = time.monotonic()
    env = infra("up")
    machine = describe(ROOT)
    machine["loadavg_start"] = [round(v, 2) for v in os.getloadavg()]
    rows: list[dict[str, Any]] = []
    try:
        for scenario in chosen:
            rows += run_scenario(
                scenario, env, args.runs, args.seconds, args.services, api_workers=args.api_workers
            )
    finally:
        if not args.keep_infra:
            infra("down")
    machine["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    machine["duration_s"] = round(time.monotonic() - started)
    command = " ".join(["python -m bench.run", *sys.argv[1:]])
    settings = {
        "runs": args.runs,
        "seconds": args.seconds,
        "named_share": NAMED_SHARE,
        "stream_maxlen": STREAM_MAXLEN,
        # the path as given is in the command; the result records only that it was not the
        # revision's own services/
        "services_trial_copy": args.services is not None,
        "api_workers": args.api_workers,
        "scenarios": [asdict(s) for s in chosen],
    }
    paths = results.write(args.out, machine, command, settings, rows)
    print("\n" + paths["md"].read_text())
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    failed = [r for r in rows if r["lost"] or r["duplicated"]]
    if failed:
        print(f"!! {len(failed)} steps lost or duplicated reports")
        sys.exit(1)


if __name__ == "__main__":
    main()
