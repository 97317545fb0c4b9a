"""Profiles the pipeline's processes under load with py-spy: where does the CPU go?

    .venv/bin/python -m bench.profile --mode both --rate 2000 --seconds 20
    .venv/bin/python -m bench.profile --batch 100 --rate 20000      # POST /clima/batch
    .venv/bin/python -m bench.profile --services /tmp/trial/services   # a trial copy

Uses the bench's own brokers and Valkey (as `make bench`), starts a pipeline, drives it at
a fixed rate and records every Python process with `py-spy record --nonblocking` at the
same time. Writes one speedscope file per process (open at https://www.speedscope.app) and
`summary.md`: per process the functions with most CPU of their own, the share of CPU by
library, and the writer's batch sizes from its /metrics.
"""

import argparse
import json
import os
import random
import re
import subprocess
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import uvloop
import valkey

from bench.driver import Load, drive
from bench.run import NAMED_SHARE, RESULTS, STATE, STREAM_MAXLEN, accepted_ids, cleanup_brokers
from bench.run import infra as infra_cmd
from bench.system import CpuMeter, infra_pids
from bench.verify import wait_drained
from clima.local import LocalPipeline, Ports
from loadtest.traffic import batch, report

PYSPY = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "py-spy"
LIBRARIES = (
    ("clima", "/clima/"),
    ("fastapi", "/fastapi/"),
    ("starlette", "/starlette/"),
    ("pydantic", "/pydantic"),
    ("uvicorn", "/uvicorn/"),
    ("grpc", "/grpc/"),
    ("protobuf", "/google/protobuf/"),
    ("prometheus", "/prometheus_client/"),
    ("aio-pika/aiormq/pamqp", "/aio"),
    ("confluent-kafka", "/confluent_kafka/"),
    ("valkey", "/valkey/"),
    ("asyncio", "/asyncio/"),
    ("uvloop", "uvloop"),
    ("logging", "/logging/"),
    ("uuid", "/uuid.py"),
)


def _library(file: str) -> str:
    for name, marker in LIBRARIES:
        if marker in file:
            return name
    return "other"


def analyze(path: Path, top: int = 15) -> dict[str, Any]:
    """Self time per function and per library, inclusive time per clima function."""
    document = json.loads(path.read_text())
    frames = document["shared"]["frames"]
    own: Counter[int] = Counter()
    inclusive: Counter[int] = Counter()
    libraries: Counter[str] = Counter()
    total = 0.0  # py-spy's speedscope weights are seconds
    for profile in document["profiles"]:
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            if not stack:
                continue
            total += weight
            own[stack[-1]] += weight
            # the innermost library that is not the event loop names the work
            libraries[_library(frames[stack[-1]].get("file", ""))] += weight
            for frame in set(stack):
                inclusive[frame] += weight

    def name(index: int) -> str:
        frame = frames[index]
        file = re.sub(r".*/(site-packages|services|lib/python3\.\d+)/", "", frame.get("file", ""))
        return f"{frame['name']} ({file}:{frame.get('line', '?')})"

    share = (lambda w: round(100 * w / total, 1)) if total else (lambda w: 0.0)
    clima = [
        (name(i), share(w))
        for i, w in inclusive.most_common()
        if "/clima/" in frames[i].get("file", "")
    ]
    return {
        "samples": total,
        "self": [(name(i), share(w)) for i, w in own.most_common(top)],
        "libraries": [(lib, share(w)) for lib, w in libraries.most_common()],
        "clima_inclusive": clima[:top],
    }


def _metrics(url: str) -> dict[str, float]:
    try:
        with urllib.request.urlopen(url, timeout=3) as answer:  # noqa: S310 - loopback only
            text = answer.read().decode()
    except OSError:
        return {}
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            values[key] = values.get(key, 0.0) + float(value)
    return values


def _delta(after: dict[str, float], before: dict[str, float], prefix: str) -> float:
    return sum(v - before.get(k, 0.0) for k, v in after.items() if k.startswith(prefix))


def main() -> None:  # noqa: PLR0915 - one linear script
    """Runs one profiled load and writes the files."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--mode", default="both")
    parser.add_argument("--batch", type=int, default=1, help="reports per request (1: /clima)")
    parser.add_argument("--rate", type=float, default=2000, help="reports per second")
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--sample-rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--native", action="store_true", help="py-spy --native (C frames too)")
    parser.add_argument("--services", type=Path, help="run services from this folder")
    parser.add_argument("--out", type=Path, default=RESULTS / "profile")
    args = parser.parse_args()

    env = infra_cmd("up")
    uid = uuid.uuid4().hex[:8]
    names = {
        "CLIMA_KAFKA_TOPIC": f"profile-{uid}",
        "CLIMA_RABBIT_QUEUE": f"profile-{uid}",
        "CLIMA_CONSUMER_KAFKA_GROUP": f"profile-{uid}",
    }
    extra = {**env, **names, "CLIMA_STREAM_MAXLEN": str(STREAM_MAXLEN)}
    if args.services:
        extra["PYTHONPATH"] = str(args.services)
    pipeline = LocalPipeline(args.mode, extra, STATE / "logs" / "profile", Ports.free())
    store = valkey.Valkey.from_url(env["VALKEY_SERVICE_URL"])
    store.flushdb()
    rng = random.Random(11)  # noqa: S311 - traffic, not secrets
    path = "/clima" if args.batch == 1 else "/clima/batch"
    if args.batch == 1:
        payloads = [orjson.dumps(report(rng, NAMED_SHARE)) for _ in range(4096)]
    else:
        payloads = [orjson.dumps(batch(rng, args.batch, NAMED_SHARE)) for _ in range(64)]
    args.out.mkdir(parents=True, exist_ok=True)
    copies = 2 if args.mode == "both" else 1
    try:
        pipeline.start()
        warm = Load(path, payloads, 300 / args.batch, 64, 3)
        uvloop.run(drive("127.0.0.1", pipeline.ports.api, warm))
        time.sleep(1)
        writer_url = f"http://127.0.0.1:{pipeline.ports.writer_probe}/metrics"
        before = _metrics(writer_url)
        pids = {n: p.pid for n, p in pipeline.processes.items()}
        meter = CpuMeter({**pids, **infra_pids(STATE), "loadgen": os.getpid()})
        spies = {}
        for name, pid in pids.items():
            cmd = [
                str(PYSPY),
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(int(args.seconds)),
                "--rate",
                str(args.sample_rate),
                "--format",
                "speedscope",
                "--nonblocking",
                "--output",
                str(args.out / f"{name}.speedscope.json"),
            ]
            if args.native:
                cmd.append("--native")
            spies[name] = subprocess.Popen(  # noqa: S603 - our own tool
                cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
        time.sleep(0.5)
        cpu0 = meter.sample()
        load = Load(path, payloads, args.rate / args.batch, args.connections, args.seconds + 1)
        out = uvloop.run(drive("127.0.0.1", pipeline.ports.api, load))
        cpu1 = meter.sample()
        for name, spy in spies.items():
            _, err = spy.communicate(timeout=120)
            if spy.returncode:
                print(f"py-spy {name}: {err.decode()[-500:]}")
        ids, statuses, _ = accepted_ids(out)
        wait_drained(store, len(ids) * copies)
        after = _metrics(writer_url)
    finally:
        pipeline.stop()
        store.flushdb()
        store.close()
        cleanup_brokers(env, names)

    cpu = CpuMeter.between(cpu0, cpu1)
    batches = _delta(after, before, "clima_writer_batch_seconds_count")
    batch_time = _delta(after, before, "clima_writer_batch_seconds_sum")
    written = _delta(after, before, 'clima_writer_reports_total{broker="kafka"}') or _delta(
        after, before, "clima_writer_reports_total"
    )
    lines = [
        f"# Profile: mode {args.mode}, {path}, {args.rate:g} reports/s offered, "
        f"{args.seconds:g} s, py-spy {args.sample_rate} Hz{' --native' if args.native else ''}",
        "",
        f"Answers {dict(statuses)}; {len(ids) / cpu['wall']:.0f} reports/s accepted; load "
        f"average {os.getloadavg()[0]:.2f}. Writer: {batches:.0f} gRPC batches, "
        f"{written / max(batches, 1):.1f} reports per batch (per broker), mean batch time "
        f"{1000 * batch_time / max(batches, 1):.1f} ms.",
        "",
        "CPU seconds per 1,000 reports (py-spy running): "
        + ", ".join(
            f"{k} {1000 * v / max(len(ids), 1):.3f}" for k, v in cpu.items() if k != "wall"
        ),
        "",
    ]
    for name in pids:
        result = analyze(args.out / f"{name}.speedscope.json")
        lines += [
            f"## {name} ({result['samples']:.1f} CPU-seconds sampled)",
            "",
            "CPU by library (self; `asyncio` Runner.run holds time spent in uvloop and grpc's C "
            "code, which py-spy sees only with --native):",
        ]
        lines += [f"- {lib}: {pct}%" for lib, pct in result["libraries"][:10]]
        lines += ["", "Functions with most CPU of their own:"]
        lines += [f"- {pct}% {fn}" for fn, pct in result["self"]]
        lines += ["", "Clima functions, inclusive:"]
        lines += [f"- {pct}% {fn}" for fn, pct in result["clima_inclusive"]]
        lines.append("")
    (args.out / "summary.md").write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {args.out}/*.speedscope.json and summary.md")


if __name__ == "__main__":
    main()
