"""Prometheus metrics shared by both consumers."""

import time

from prometheus_client import Counter, Histogram

from clima.contract import Report
from clima.store import ApplyResult

APPLIED = Counter("clima_consumer_reports_applied_total", "Reports applied to Valkey", ["source"])
DUPLICATES = Counter("clima_consumer_duplicates_total", "Reports already applied", ["source"])
DEAD = Counter("clima_consumer_dead_letters_total", "Payloads set aside", ["source"])
STORE_WAITS = Counter(
    "clima_consumer_store_waits_total",
    "Apply attempts Valkey could not take and that are retried, by reason "
    "(oom: maxmemory reached; unreachable, loading, busy, readonly, misconf, auth)",
    ["reason"],
)
END_TO_END = Histogram(
    "clima_consumer_end_to_end_seconds",
    "From acceptance by the api to the apply in Valkey",
    ["source"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def record(source: str, reports: list[Report], result: ApplyResult, dead: int) -> None:
    """Counts one apply."""
    APPLIED.labels(source).inc(result.applied)
    DUPLICATES.labels(source).inc(result.duplicates)
    DEAD.labels(source).inc(dead)
    if reports:
        now_ms = time.time_ns() // 1_000_000
        histogram = END_TO_END.labels(source)
        for report in reports:
            histogram.observe(max(0, now_ms - report.event_time_ms) / 1000)
