"""Before/after: the same scenarios against several copies of services/, interleaved.

    .venv/bin/python -m bench.compare base=services trial=/tmp/trial/services \\
        --only both --rounds 3

Round after round, each variant runs every chosen scenario once (its own pipeline), so
the machine's changing load falls on all variants alike. Writes
bench/results/compare.{json,md}: per variant and step the medians (min-max) and the ratio
to the first variant.
"""

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from bench.run import EXTRA, RESULTS, ROOT, SCENARIOS, Scenario, Step, infra, run_scenario
from bench.system import describe

METRICS = (
    ("accepted/s", "accepted_per_s"),
    ("applied/s", "applied_per_s"),
    ("accept p50 ms", "accept_ms.p50"),
    ("accept p99 ms", "accept_ms.p99"),
    ("e2e p50 ms", "e2e_ms.p50"),
    ("e2e p99 ms", "e2e_ms.p99"),
    ("api CPU s/1k", "cpu_s_per_1k.api"),
    ("ours CPU s/1k", "ours"),
)


def _value(row: dict[str, Any], path: str) -> float:
    if path == "ours":
        return sum(v for k, v in row["cpu_s_per_1k"].items() if k != "other")
    value: Any = row
    for part in path.split("."):
        value = value.get(part, 0) if isinstance(value, dict) else 0
    return float(value or 0)


def table(
    args: argparse.Namespace,
    variants: dict[str, str],
    machine: dict[str, Any],
    rows: list[dict[str, Any]],
    seconds: float,
) -> tuple[list[str], list[dict[str, Any]]]:
    """Markdown lines and summary entries: medians per variant, ratios to the first."""
    first = next(iter(variants))
    lines = [
        f"# Comparison, {machine['date']}",
        "",
        f"`python -m bench.compare {' '.join(args.variants)} --only {args.only} --rounds "
        f"{args.rounds} --seconds {args.seconds:g}{' --rates ' + args.rates if args.rates else ''}`"
        f" ({round(seconds)} s). Median (min-max) of {args.rounds} "
        f"interleaved rounds; ratio = median / median of `{first}`. Machine: {machine['nproc']} "
        f"CPUs, {machine['cpu_model']}; load average {[round(v, 2) for v in os.getloadavg()]} "
        "at the end.",
        "",
        "| scenario | step | variant | " + " | ".join(m for m, _ in METRICS) + " | lost | dup |",
        "|---|---|---|" + "--:|" * (len(METRICS) + 2),
    ]
    keys = list(dict.fromkeys((r["scenario"], r["step"]) for r in rows))
    summary = []
    for scenario, step in keys:
        base: dict[str, float] = {}
        for name in variants:
            group = [
                r
                for r in rows
                if r["variant"] == name and r["scenario"] == scenario and r["step"] == step
            ]
            if not group:
                continue
            cells = []
            entry: dict[str, Any] = {"scenario": scenario, "step": step, "variant": name}
            for label, path in METRICS:
                values = [_value(r, path) for r in group]
                median = statistics.median(values)
                entry[label] = {"median": median, "min": min(values), "max": max(values)}
                base.setdefault(label, median)
                ratio = f" x{median / base[label]:.2f}" if name != first and base[label] else ""
                digits = 3 if "CPU" in label else 0
                cells.append(
                    f"{median:,.{digits}f} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"
                    + ratio
                )
            lost = sum(r["lost"] for r in group)
            dup = sum(r["duplicated"] for r in group)
            lines.append(
                f"| {scenario} | {step} | {name} | " + " | ".join(cells) + f" | {lost} | {dup} |"
            )
            summary.append(entry)
    return lines, summary


def main() -> None:
    """Runs the rounds and writes the comparison."""
    parser = argparse.ArgumentParser(prog="python -m bench.compare")
    parser.add_argument(
        "variants", nargs="+", help="name=path/to/services[@N api processes][?SETTING=value&...]"
    )
    parser.add_argument("--only", default="both")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rates", default="", help="override single-report steps, e.g. 1500,0")
    parser.add_argument("--keep-infra", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "compare")
    args = parser.parse_args()
    variants = dict(v.split("=", 1) for v in args.variants)
    chosen: list[Scenario] = [s for s in (*SCENARIOS, *EXTRA) if s.name in args.only.split(",")]
    if args.rates:
        steps = tuple(
            Step(int(r), 256 if int(r) else 128) for r in args.rates.split(",") if r.strip()
        )
        chosen = [
            Scenario(s.name, s.mode, s.batch_size, steps) if s.batch_size == 1 else s
            for s in chosen
        ]
    env = infra("up")
    machine = describe(ROOT)
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        for round_ in range(1, args.rounds + 1):
            for name, spec in variants.items():
                spec_, _, query = spec.partition("?")
                path, _, workers = spec_.partition("@")
                services = Path(path).resolve()
                overrides = dict(parse_qsl(query))
                for scenario in chosen:
                    print(f"--- round {round_}, variant {name} ({spec})")
                    rows_ = run_scenario(
                        scenario,
                        env,
                        1,
                        args.seconds,
                        services,
                        api_workers=int(workers or 1),
                        overrides=overrides,
                    )
                    for row in rows_:
                        row["variant"], row["run"] = name, round_
                        rows.append(row)
    finally:
        if not args.keep_infra:
            infra("down")
    lines, summary = table(args, variants, machine, rows, time.monotonic() - started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    document = {"machine": machine, "variants": variants, "summary": summary, "runs": rows}
    args.out.with_suffix(".json").write_text(json.dumps(document, indent=1) + "\n")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
