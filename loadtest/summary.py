"""Totals of a Locust run from its `--json-file` (the CSV files miss the last second).

    python loadtest/summary.py out/load/locust.json

Prints one line per request kind and a total in reports per second: a batch request named
"/clima/batch [100]" carries 100 reports.
"""

import json
import re
import sys
from pathlib import Path

_BATCH = re.compile(r"\[(\d+)\]")


def percentile(histogram: dict[str, int], share: float) -> float:
    """The response time (ms) under which `share` of the requests finished."""
    total = sum(histogram.values())
    if not total:
        return 0.0
    seen = 0
    for value, count in sorted((float(k), v) for k, v in histogram.items()):
        seen += count
        if seen >= share * total:
            return value
    return float(max(float(k) for k in histogram))


def summarize(entries: list[dict[str, object]]) -> list[str]:
    """Human-readable lines: per kind and in total."""
    lines = [
        f"{'kind':28} {'requests':>9} {'failed':>7} {'req/s':>8} {'reports/s':>10} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
    ]
    total_reports = total_requests = total_failed = 0
    first, last = float("inf"), 0.0
    for entry in entries:
        name = str(entry["name"])
        requests = int(entry["num_requests"])  # type: ignore[call-overload]
        failed = int(entry["num_failures"])  # type: ignore[call-overload]
        start = float(entry["start_time"])  # type: ignore[arg-type]
        end = float(entry.get("last_request_timestamp") or start)  # type: ignore[arg-type]
        seconds = max(end - start, 1e-9)
        match = _BATCH.search(name)
        per_request = int(match.group(1)) if match else 1
        reports = (requests - failed) * per_request
        times: dict[str, int] = entry["response_times"]  # type: ignore[assignment]
        p50, p95, p99 = (percentile(times, s) for s in (0.5, 0.95, 0.99))
        lines.append(
            f"{entry['method']} {name:23} {requests:>9} {failed:>7} {requests / seconds:>8.0f} "
            f"{reports / seconds:>10.0f} {p50:>7.0f} {p95:>7.0f} {p99:>7.0f}"
        )
        total_reports += reports
        total_requests += requests
        total_failed += failed
        first, last = min(first, start), max(last, end)
    seconds = max(last - first, 1e-9)
    lines.append(
        f"{'total':28} {total_requests:>9} {total_failed:>7} {total_requests / seconds:>8.0f} "
        f"{total_reports / seconds:>10.0f}   ({total_reports} reports accepted in {seconds:.1f} s)"
    )
    return lines


def main() -> None:
    """Reads the file named on the command line and prints the summary."""
    if len(sys.argv) != 2:
        sys.exit("usage: summary.py LOCUST_JSON_FILE")
    entries = json.loads(Path(sys.argv[1]).read_text())
    if not entries:
        sys.exit("no requests recorded")
    print("\n".join(summarize(entries)))


if __name__ == "__main__":
    main()
