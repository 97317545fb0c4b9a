"""Prometheus metrics of the operator process, served on ``CLIMA_OPERATOR_METRICS_PORT``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import prometheus_client

RECONCILES = prometheus_client.Counter(
    "clima_operator_reconciles",
    "Reconcile passes, by what triggered them and how they ended.",
    ["trigger", "outcome"],
)
FAILURES = prometheus_client.Counter(
    "clima_operator_reconcile_failures",
    "Reconcile passes that failed (API errors and invalid specs), by reason.",
    ["reason"],
)
DURATION = prometheus_client.Histogram(
    "clima_operator_reconcile_duration_seconds",
    "Wall time of one reconcile pass.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


class _Outcome:
    """Filled in by the caller once the pass has ended."""

    def __init__(self) -> None:
        self.value = "error"


@contextmanager
def measured(trigger: str) -> Iterator[_Outcome]:
    """Time one pass and count it; an exception counts as an ``api_error`` failure."""
    outcome = _Outcome()
    start = time.perf_counter()
    try:
        yield outcome
    except Exception:
        FAILURES.labels(reason="api_error").inc()
        raise
    finally:
        DURATION.observe(time.perf_counter() - start)
        RECONCILES.labels(trigger=trigger, outcome=outcome.value).inc()
    if outcome.value == "invalid":
        FAILURES.labels(reason="invalid_spec").inc()


def serve(address: str, port: int) -> None:
    """Start the /metrics endpoint in a background thread (port 0 disables it)."""
    if port:
        prometheus_client.start_http_server(port, addr=address)
