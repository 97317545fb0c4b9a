"""Prometheus metrics shared by both consumers."""

import time
from dataclasses import dataclass

from prometheus_client import REGISTRY, Counter, Histogram

from clima.contract import Report
from clima.store import ApplyResult

APPLIED_NAME = "clima_consumer_reports_applied_total"
DUPLICATES_NAME = "clima_consumer_duplicates_total"
DEAD_NAME = "clima_consumer_dead_letters_total"
APPLIED = Counter(APPLIED_NAME, "Reports applied to Valkey", ["source"])
DUPLICATES = Counter(DUPLICATES_NAME, "Reports already applied", ["source"])
DEAD = Counter(DEAD_NAME, "Payloads set aside", ["source"])
STORE_WAITS = Counter(
    "clima_consumer_store_waits_total",
    "Apply attempts Valkey could not take and that are retried, by reason "
    "(oom: maxmemory reached; unreachable, loading, busy, readonly, misconf, auth, replicas)",
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


@dataclass(frozen=True, slots=True)
class Tally:
    """What one consumer process applied, from its own counters."""

    applied: int
    duplicates: int
    dead: int

    def summary(self, source: str, seconds: float) -> str:
        """One line for the drain's end: the log, the pod's termination message and, through
        it, the operator's DrainCompleted event."""
        return (
            f"{source} drained: {self.applied} reports applied, {self.duplicates} duplicates, "
            f"{self.dead} dead letters in {seconds:.0f}s"
        )


def tally(source: str) -> Tally:
    """This process's counts for `source` so far (its counters start at zero)."""

    def read(name: str) -> int:
        return int(REGISTRY.get_sample_value(name, {"source": source}) or 0)

    return Tally(read(APPLIED_NAME), read(DUPLICATES_NAME), read(DEAD_NAME))
