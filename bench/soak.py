"""A soak of the whole pipeline: a fixed rate for minutes against Valkey's default limits.

    .venv/bin/python -m bench.soak                          # 1,000 reports/s for 600 s
    .venv/bin/python -m bench.soak --rate 500 --seconds 120 --batch 10

The api, proxy, writer and consumers run in mode `both` on the bench's own Kafka, RabbitMQ
and Valkey (as `make bench`). Valkey gets the limits the operator renders for its default
256Mi container: `maxmemory` 192 MiB with `noeviction`; the streams keep their default
length. Reports go to POST /clima/batch on a fixed schedule (`--batch` per request), each
with the id the api gives it, so every one is a new id that Valkey keeps for the dedupe
window. Every `--sample` seconds the soak reads `used_memory`, the key count and
`clima:stats`. At the end it checks that every id answered 202 has its dedupe key (nothing
lost) and that Valkey counted each once, and derives the bytes Valkey holds per report.

Results: bench/results/soak.{json,md}.
"""

import argparse
import itertools
import json
import random
import statistics
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
import uvloop
import valkey

from bench import run as bench_run
from bench.driver import Load, drive
from bench.system import describe
from bench.verify import stats, wait_drained
from clima.local import LocalPipeline, Ports
from clima.store import seen_key
from loadtest.traffic import batch

MAXMEMORY = 192 * 1024 * 1024  # what the operator renders for the default 256Mi limit
CHECK_PAGE = 10_000


@dataclass(frozen=True)
class Sample:
    """One reading of Valkey while the soak runs."""

    t_s: float
    used_memory: int
    keys: int
    applied: int
    duplicates: int


def read_sample(client: "valkey.Valkey", started: float) -> Sample:
    """Valkey's memory, key count and counts now."""
    memory: dict[str, Any] = dict(client.info("memory"))  # type: ignore[arg-type]
    applied, duplicates = stats(client)
    keys = client.dbsize()
    assert isinstance(keys, int)  # a synchronous client answers at once
    return Sample(
        round(time.monotonic() - started, 1), int(memory["used_memory"]), keys, applied, duplicates
    )


def sampler(
    client: "valkey.Valkey", every_s: float, started: float, stop: threading.Event
) -> tuple[list[Sample], threading.Thread]:
    """Starts sampling in a thread; the list fills until `stop` is set."""
    samples: list[Sample] = []

    def loop() -> None:
        while not stop.wait(every_s):
            samples.append(read_sample(client, started))
            last = samples[-1]
            print(
                f"    {last.t_s:6.0f}s  used_memory {last.used_memory / 2**20:7.1f} MiB  "
                f"keys {last.keys:>9,}  applied {last.applied:>9,}"
            )

    thread = threading.Thread(target=loop, name="soak-sampler", daemon=True)
    thread.start()
    return samples, thread


def missing_ids(client: "valkey.Valkey", ids: list[str]) -> int:
    """How many of `ids` have no dedupe key (were never applied)."""
    missing = 0
    for start in range(0, len(ids), CHECK_PAGE):
        page = ids[start : start + CHECK_PAGE]
        with client.pipeline(transaction=False) as pipe:
            for report_id in page:
                pipe.exists(seen_key(report_id))
            missing += sum(1 for found in pipe.execute() if not found)
    return missing


def per_report_bytes(samples: list[Sample], skip_s: float) -> list[float]:
    """Bytes of used_memory per newly applied report between consecutive samples, after
    the first `skip_s` seconds (while the streams fill to their length)."""
    slopes = []
    for before, after in itertools.pairwise(samples):
        grown = after.applied - before.applied
        if before.t_s >= skip_s and grown > 0:
            slopes.append((after.used_memory - before.used_memory) / grown)
    return slopes


def markdown(result: dict[str, Any]) -> str:
    """The soak's table."""
    s = result["summary"]
    lines = [
        "# Clima soak",
        "",
        f"`{result['command']}` at {result['machine'].get('git_describe', '?')}, "
        f"{result['machine'].get('nproc', '?')} CPUs",
        "",
        f"{s['rate']:,} reports/s offered for {s['seconds']:.0f} s in batches of {s['batch']} "
        f"(mode both), Valkey maxmemory {MAXMEMORY // 2**20} MiB, noeviction.",
        "",
        "| | |",
        "|---|---:|",
        f"| reports answered 202 | {s['accepted']:,} |",
        f"| answers other than 202 | {s['not_accepted']:,} |",
        f"| accepted per second | {s['accepted_per_s']:,.0f} |",
        f"| applied (clima:stats) | {s['applied']:,} |",
        f"| second copies counted as duplicates | {s['duplicates']:,} |",
        f"| accepted ids without a dedupe key (lost) | {s['lost']:,} |",
        f"| used_memory at the start / end | {s['memory_start_mib']:.1f} / "
        f"{s['memory_end_mib']:.1f} MiB |",
        f"| bytes per report, all in | {s['bytes_per_report_all_in']:.0f} |",
        f"| bytes per report between samples, median (min-max) | "
        f"{s['bytes_per_report_median']:.0f} ({s['bytes_per_report_min']:.0f}-"
        f"{s['bytes_per_report_max']:.0f}) |",
        f"| Valkey OOM refusals (errorstat_OOM) | {s['oom_errors']:,} |",
        f"| minutes of new ids the limit holds at this rate | {s['minutes_held']:.0f} |",
        "",
        "| t (s) | used_memory (MiB) | keys | applied |",
        "|---:|---:|---:|---:|",
    ]
    for sample in result["samples"]:
        lines.append(
            f"| {sample['t_s']:.0f} | {sample['used_memory'] / 2**20:.1f} | "
            f"{sample['keys']:,} | {sample['applied']:,} |"
        )
    return "\n".join(lines) + "\n"


@dataclass
class Run:
    """What one soak saw."""

    samples: list[Sample]
    accepted: list[str]
    refused: int  # reports in requests answered other than 202
    window_s: float
    lost: int
    oom_errors: int
    exit_codes: dict[str, int]


def soak(args: argparse.Namespace) -> Run:
    """Starts the bench's brokers and a pipeline, drives it, reads Valkey, stops it all."""
    env = bench_run.infra("up")
    client = valkey.Valkey.from_url(env["VALKEY_SERVICE_URL"], decode_responses=True)
    kept: dict[str, str] = dict(client.config_get("maxmemory*"))  # type: ignore[arg-type]
    client.config_set("maxmemory", MAXMEMORY)
    client.config_set("maxmemory-policy", "noeviction")
    client.flushdb()
    client.config_resetstat()
    logs = bench_run.STATE / "logs" / "soak"
    tag = f"soak-{int(time.time())}"
    names = {"CLIMA_KAFKA_TOPIC": tag, "CLIMA_RABBIT_QUEUE": tag, "CLIMA_CONSUMER_KAFKA_GROUP": tag}
    pipeline = LocalPipeline("both", {**env, **names}, logs, Ports.free())
    codes: dict[str, int] = {}
    try:
        print(f"==> soak: {args.rate:,} reports/s for {args.seconds:.0f} s, logs in {logs}")
        pipeline.start()
        bodies = [
            orjson.dumps(batch(random.Random(seed), args.batch, bench_run.NAMED_SHARE))  # noqa: S311
            for seed in range(256)
        ]
        load = Load("/clima/batch", bodies, args.rate / args.batch, 64, args.seconds)
        started = time.monotonic()
        first = read_sample(client, started)
        stop = threading.Event()
        readings, reader = sampler(client, args.sample, started, stop)
        out = uvloop.run(drive("127.0.0.1", pipeline.ports.api, load))
        ids, statuses, _ = bench_run.accepted_ids(out)
        print(f"    answers {dict(statuses)}; waiting for the consumers to apply everything")
        wait_drained(client, len(ids) * 2, timeout_s=300, quiet_s=2)
        stop.set()
        reader.join()
        samples = [first, *readings, read_sample(client, started)]
        errors: dict[str, Any] = dict(client.info("errorstats"))  # type: ignore[arg-type]
        return Run(
            samples,
            ids,
            sum(v for k, v in statuses.items() if k != 202) * args.batch,
            max(max(out.answered, default=out.ended) - out.started, 1e-9),
            missing_ids(client, ids),
            int(errors.get("errorstat_OOM", {}).get("count", 0)),
            codes,
        )
    finally:
        codes.update(pipeline.stop())
        bench_run.cleanup_brokers(env, names)
        client.config_set("maxmemory", kept.get("maxmemory", "0"))
        client.config_set("maxmemory-policy", kept.get("maxmemory-policy", "noeviction"))
        client.flushdb()
        client.close()
        bench_run.infra("down")


def summarize(args: argparse.Namespace, run: Run) -> dict[str, Any]:
    """The figures of the table."""
    first, last = run.samples[0], run.samples[-1]
    slopes = per_report_bytes(run.samples, skip_s=min(60.0, args.seconds / 4))
    all_in = (last.used_memory - first.used_memory) / max(last.applied, 1)
    per_report = statistics.median(slopes) if slopes else all_in
    return {
        "rate": args.rate,
        "seconds": args.seconds,
        "batch": args.batch,
        "accepted": len(run.accepted),
        "not_accepted": run.refused,
        "accepted_per_s": len(run.accepted) / run.window_s,
        "applied": last.applied,
        "duplicates": last.duplicates,
        "lost": run.lost,
        "memory_start_mib": first.used_memory / 2**20,
        "memory_end_mib": last.used_memory / 2**20,
        "bytes_per_report_all_in": all_in,
        "bytes_per_report_median": per_report,
        "bytes_per_report_min": min(slopes, default=all_in),
        "bytes_per_report_max": max(slopes, default=all_in),
        "oom_errors": run.oom_errors,
        "minutes_held": (MAXMEMORY - first.used_memory) / max(per_report, 1) / args.rate / 60,
        "exit_codes": run.exit_codes,
    }


def main() -> None:
    """Runs the soak and writes bench/results/soak.{json,md}."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description="A soak.")
    parser.add_argument("--rate", type=int, default=1000, help="reports per second")
    parser.add_argument("--seconds", type=float, default=600, help="how long")
    parser.add_argument("--batch", type=int, default=10, help="reports per request")
    parser.add_argument("--sample", type=float, default=30, help="seconds between readings")
    parser.add_argument("--out", type=Path, default=bench_run.RESULTS / "soak", help="path stem")
    args = parser.parse_args()
    for name in ("rate", "seconds", "batch", "sample"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be positive")
    run = soak(args)
    summary = summarize(args, run)
    options = " ".join(f"--{k} {getattr(args, k)}" for k in ("rate", "seconds", "batch", "sample"))
    result = {
        "machine": describe(bench_run.ROOT),
        "command": f"python -m bench.soak {options}",
        "summary": summary,
        "samples": [asdict(s) for s in run.samples],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print("\n" + markdown(result))
    if run.lost or summary["applied"] != len(run.accepted) or any(run.exit_codes.values()):
        raise SystemExit(
            f"soak: {run.lost} lost, {summary['applied']} applied of {len(run.accepted)}, "
            f"exits {run.exit_codes}"
        )


if __name__ == "__main__":
    main()
