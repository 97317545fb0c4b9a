"""Turns bench rows into latest.json, a Markdown table and a throughput-latency plot."""

import json
import statistics
from pathlib import Path
from typing import Any

PROCESSES = (
    "api",
    "proxy",
    "writer",
    "kafka-consumer",
    "rabbit-consumer",
    "kafka",
    "rabbit",
    "valkey",
    "loadgen",
)
TARGETS = {
    "single_both_per_s": 3000,
    "accept_p99_ms": 100,
    "e2e_p99_ms": 500,
    "batch_per_s": 30000,
}


def _get(row: dict[str, Any], path: str) -> float:
    value: Any = row
    for part in path.split("."):
        value = value.get(part, 0) if isinstance(value, dict) else 0
    return float(value or 0)


def _spread(rows: list[dict[str, Any]], path: str) -> dict[str, float]:
    values = [_get(r, path) for r in rows]
    return {
        "median": round(statistics.median(values), 2),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
    }


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per scenario and step: medians with min and max over the runs."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["scenario"], row["step"]), []).append(row)
    summary = []
    for (scenario, step), group in groups.items():
        metrics = [
            "accepted_per_s",
            "applied_per_s",
            "accept_ms.p50",
            "accept_ms.p95",
            "accept_ms.p99",
            "service_ms.p99",
            "e2e_ms.p50",
            "e2e_ms.p95",
            "e2e_ms.p99",
        ]
        entry: dict[str, Any] = {
            "scenario": scenario,
            "mode": group[0]["mode"],
            "batch_size": group[0]["batch_size"],
            "step": step,
            "offered_per_s": group[0]["offered_per_s"],
            "runs": len(group),
            **{m: _spread(group, m) for m in metrics},
            "lost": sum(r["lost"] for r in group),
            "duplicated": sum(r["duplicated"] for r in group),
            "applied_without_202": sum(r["applied_without_202"] for r in group),
            "requests": sum(r["requests"] for r in group),
            "not_accepted": sum(
                sum(n for s, n in r["statuses"].items() if s != "202") + r["unsent"] for r in group
            ),
            "cpu_s_per_1k": {
                p: round(statistics.median(_get(r, f"cpu_s_per_1k.{p}") for r in group), 4)
                for p in (*PROCESSES, "other")
                if any(p in r["cpu_s_per_1k"] for r in group)
            },
            "others_cores": _spread(
                [{"v": r["cpu_s"]["other"] / max(r["cpu_s"]["wall"], 1e-9)} for r in group], "v"
            ),
            "loadavg_1m": _spread([{"v": r["loadavg_start"][0]} for r in group], "v"),
        }
        summary.append(entry)
    return summary


def one_line(row: dict[str, Any]) -> str:
    """Progress line of one step."""
    bad = sum(n for s, n in row["statuses"].items() if s != "202") + row["unsent"]
    return (
        f"{row['scenario']:7} {row['step']:15} run {row.get('run', '?')}: "
        f"{row['accepted_per_s']:>8.0f} acc/s {row['applied_per_s']:>8.0f} appl/s | accept "
        f"p50 {row['accept_ms']['p50']:.0f} p99 {row['accept_ms']['p99']:.0f} ms | e2e p50 "
        f"{row['e2e_ms']['p50']:.0f} p99 {row['e2e_ms']['p99']:.0f} ms | lost {row['lost']} "
        f"dup {row['duplicated']} not-202 {bad} | load {row['loadavg_start'][0]}"
    )


def _cell(spread: dict[str, float], digits: int = 0) -> str:
    def fmt(v: float) -> str:
        return f"{v:,.{digits}f}"

    if spread["min"] == spread["max"]:
        return fmt(spread["median"])
    return f"{fmt(spread['median'])} ({fmt(spread['min'])}-{fmt(spread['max'])})"


def verdicts(summary: list[dict[str, Any]]) -> list[str]:
    """The issue's targets against the medians."""
    lines = []
    both = [s for s in summary if s["scenario"] == "both"]
    meeting = [
        s
        for s in both
        if s["applied_per_s"]["median"] >= TARGETS["single_both_per_s"] * 0.97
        and s["accept_ms.p99"]["median"] < TARGETS["accept_p99_ms"]
        and s["e2e_ms.p99"]["median"] < TARGETS["e2e_p99_ms"]
    ]
    if both:
        best = max(both, key=lambda s: s["applied_per_s"]["median"])
        lines.append(
            f"- single reports, mode both, >= 3,000/s applied with accept p99 < 100 ms and "
            f"end-to-end p99 < 500 ms: **{'met' if meeting else 'not met'}**"
            + (
                f" (step {meeting[-1]['step']}: {meeting[-1]['applied_per_s']['median']:,.0f}/s, "
                f"accept p99 {meeting[-1]['accept_ms.p99']['median']:.0f} ms, e2e p99 "
                f"{meeting[-1]['e2e_ms.p99']['median']:.0f} ms)"
                if meeting
                else ""
            )
            + f"; highest median {best['applied_per_s']['median']:,.0f}/s at step {best['step']}"
        )
    batches = [s for s in summary if s["batch_size"] > 1]
    if batches:
        best = max(batches, key=lambda s: s["applied_per_s"]["median"])
        ok = best["applied_per_s"]["median"] >= TARGETS["batch_per_s"]
        lines.append(
            f"- batch ingestion >= 30,000 reports/s: **{'met' if ok else 'not met'}** "
            f"(median {best['applied_per_s']['median']:,.0f}/s applied at step {best['step']})"
        )
    lost = sum(s["lost"] for s in summary)
    dup = sum(s["duplicated"] for s in summary)
    lines.append(
        f"- zero lost, zero duplicated: **{'met' if not lost and not dup else 'not met'}** "
        f"({lost} lost, {dup} duplicated over every run)"
    )
    return lines


def _code(machine: dict[str, Any], settings: dict[str, Any]) -> str:
    """The revision measured: ``git describe`` (``-dirty`` with uncommitted changes)."""
    code = str(machine.get("git_describe") or machine.get("git_commit") or "unknown")
    if machine.get("dirty"):
        code += " (uncommitted changes)"
    if settings.get("services_trial_copy"):
        code += ", services from a trial copy"
    return code


def markdown(
    machine: dict[str, Any], command: str, settings: dict[str, Any], summary: list[dict[str, Any]]
) -> str:
    """The human-readable result."""
    m = machine
    out = [
        f"# Clima benchmark, {m['date']}",
        "",
        f"`{command}` — {settings['runs']} runs of {settings['seconds']:g} s per step; "
        "cells are the median (min-max) of the runs.",
        "",
        f"Machine: {m['nproc']} CPUs, {m['cpu_model']}, {m['memory_gb']} GB, Linux {m['kernel']}, "
        f"Python {m['python']}; {m['kafka']}, RabbitMQ {m['rabbitmq']}, Valkey {m['valkey']}; "
        f"code {_code(m, settings)}. Load average (1, 5, 15 min) {m['loadavg_start']} at the "
        f"start, {m['loadavg_end']} at the end; {m['duration_s']} s in all. The load generator "
        "runs on the same cores.",
        "",
        "## Targets",
        "",
        *verdicts(summary),
        "",
        "## Throughput and latency",
        "",
        "accept = from when a request was due to its 202 (open-loop steps keep a schedule, so "
        "falling behind shows here); e2e = from the report's event time (`ts`) to its apply "
        "in Valkey (stream entry id). not-202 = non-202 answers plus requests still queued at the "
        "end of the step. others = cores used by processes not ours during the step.",
        "",
        "| scenario | step | accepted/s | applied/s | accept p50 ms | accept p95 ms "
        "| accept p99 ms | e2e p50 ms | e2e p99 ms | lost | dup | not-202 | others (cores) "
        "| load 1m |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for s in summary:
        kind = f"{s['scenario']} (x{s['batch_size']})" if s["batch_size"] > 1 else s["scenario"]
        out.append(
            f"| {kind} | {s['step']} | {_cell(s['accepted_per_s'])} | "
            f"{_cell(s['applied_per_s'])} | {_cell(s['accept_ms.p50'], 1)} | "
            f"{_cell(s['accept_ms.p95'], 1)} | {_cell(s['accept_ms.p99'], 1)} | "
            f"{_cell(s['e2e_ms.p50'])} | {_cell(s['e2e_ms.p99'])} | {s['lost']} | "
            f"{s['duplicated']} | {s['not_accepted']} | {_cell(s['others_cores'], 2)} | "
            f"{_cell(s['loadavg_1m'], 1)} |"
        )
    shown = [p for p in (*PROCESSES, "other") if any(p in s["cpu_s_per_1k"] for s in summary)]
    out += [
        "",
        "## CPU seconds per 1,000 accepted reports (median)",
        "",
        "From /proc utime+stime of each process over the step and its drain; `loadgen` is this "
        "bench's own driver; `other` is everyone else on the machine.",
        "",
        "| scenario | step | " + " | ".join(shown) + " | ours |",
        "|---|---|" + "--:|" * (len(shown) + 1),
    ]
    for s in summary:
        cpu = s["cpu_s_per_1k"]
        ours = sum(v for k, v in cpu.items() if k != "other")
        out.append(
            f"| {s['scenario']} | {s['step']} | "
            + " | ".join(f"{cpu[p]:.3f}" if p in cpu else "-" for p in shown)
            + f" | {ours:.3f} |"
        )
    return "\n".join(out) + "\n"


def plot(summary: list[dict[str, Any]], path: Path) -> None:
    """Accept and end-to-end latency against throughput, one line per scenario."""
    import matplotlib  # noqa: PLC0415 - only when writing results

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2))
    scenarios = list(dict.fromkeys(s["scenario"] for s in summary))
    for name in scenarios:
        # in the order of the steps (rising load, max last); hollow: the api fell behind
        points = [s for s in summary if s["scenario"] == name]
        x = [s["accepted_per_s"]["median"] for s in points]
        x_applied = [s["applied_per_s"]["median"] for s in points]
        (line,) = left.plot(
            x, [s["accept_ms.p99"]["median"] for s in points], "-", label=f"{name} p99"
        )
        color = line.get_color()
        left.plot(
            x,
            [s["accept_ms.p50"]["median"] for s in points],
            "--",
            color=color,
            alpha=0.5,
            label=f"{name} p50",
        )
        right.plot(
            x_applied,
            [s["e2e_ms.p99"]["median"] for s in points],
            "-",
            color=color,
            label=f"{name} p99",
        )
        for point, xa, xp in zip(points, x, x_applied, strict=True):
            behind = point["not_accepted"] > 0.01 * max(point["requests"], 1)
            marker = "*" if point["offered_per_s"] == 0 else "o"
            face = "none" if behind else color
            left.plot(xa, point["accept_ms.p99"]["median"], marker, color=color, mfc=face)
            right.plot(xp, point["e2e_ms.p99"]["median"], marker, color=color, mfc=face)
    left.axhline(TARGETS["accept_p99_ms"], color="red", lw=0.8, ls=":", label="target p99")
    right.axhline(TARGETS["e2e_p99_ms"], color="red", lw=0.8, ls=":", label="target p99")
    for ax, title, xlabel in (
        (left, "accept latency (request due → 202)", "accepted reports/s"),
        (right, "end-to-end latency (event time → Valkey)", "applied reports/s"),
    ):
        ax.axvline(TARGETS["single_both_per_s"], color="grey", lw=0.6, ls=":")
        ax.axvline(TARGETS["batch_per_s"], color="grey", lw=0.6, ls=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("ms (median of runs)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    fig.suptitle(
        "Clima on this machine: latency against throughput, steps in rising load "
        "(* = closed-loop max, hollow = api fell behind the schedule)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(
    stem: Path,
    machine: dict[str, Any],
    command: str,
    settings: dict[str, Any],
    rows: list[dict[str, Any]],
) -> dict[str, Path]:
    """Writes <stem>.json, <stem>.md and <stem>.png; returns their paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    summary = summarize(rows)
    paths = {"json": stem.with_suffix(".json"), "md": stem.with_suffix(".md")}
    document = {
        "machine": machine,
        "command": command,
        "settings": settings,
        "summary": summary,
        "runs": rows,
    }
    paths["json"].write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    paths["md"].write_text(markdown(machine, command, settings, summary))
    if summary:
        paths["png"] = stem.with_suffix(".png")
        plot(summary, paths["png"])
    return paths
