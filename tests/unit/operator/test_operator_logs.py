"""The operator's log lines name the pipeline in fields, not inside the message text."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from clima.common.logs import JsonFormatter
from clima_operator.errors import ClusterError
from clima_operator.reconciler import Reconciler
from clima_operator.resync import Resync

IMAGE = "r.example/clima/clima:0.1.0"


def _reconciler(cluster: Any, events: Any) -> Reconciler:
    return Reconciler(cluster, events, default_image=IMAGE, now=lambda: "2025-01-01T00:00:00Z")


def test_reconcile_logs_name_the_pipeline_in_fields(
    cluster: Any, events: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Every line of a pass carries namespace and pipeline as fields, and JSON keys them."""
    cluster.add_pipeline()
    with caplog.at_level(logging.INFO, logger="clima_operator.reconciler"):
        _reconciler(cluster, events).reconcile("ns", "demo")
    created = [r for r in caplog.records if getattr(r, "reason", None) == "Created"]
    assert created
    for record in created:
        assert (record.namespace, record.pipeline) == ("ns", "demo")  # type: ignore[attr-defined]
        assert "ns/demo" not in record.getMessage()
    entry = json.loads(JsonFormatter().format(created[0]))
    assert (entry["namespace"], entry["pipeline"], entry["reason"]) == ("ns", "demo", "Created")


def test_refused_event_names_the_pipeline_in_fields(
    cluster: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """When an Event cannot be posted, the warning says which pipeline's, as fields."""

    def refusing(*args: Any) -> None:
        raise ClusterError(403, "events is forbidden")

    cluster.add_pipeline()
    with caplog.at_level(logging.WARNING, logger="clima_operator.reconciler"):
        _reconciler(cluster, refusing).reconcile("ns", "demo")
    refused = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert refused
    assert all(r.pipeline == "demo" for r in refused)  # type: ignore[attr-defined]


def test_failed_periodic_reconcile_names_the_pipeline_in_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A periodic pass that fails logs the traceback with the pipeline as fields."""

    def failing(namespace: str, name: str) -> None:
        raise RuntimeError("boom")

    resync = Resync(lambda: [("ns", "demo")], failing, 60)
    with caplog.at_level(logging.ERROR, logger="clima_operator.resync"):
        resync.run_once()
    (record,) = caplog.records
    assert (record.namespace, record.pipeline) == ("ns", "demo")  # type: ignore[attr-defined]
    assert record.exc_info is not None
