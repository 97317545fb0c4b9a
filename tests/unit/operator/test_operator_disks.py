"""Disks are sized and guarded: Kafka keeps at most its retention per partition copy, sized
to the volume, and the writer refuses before a partition or RabbitMQ's queue holds more
than its volume can keep."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from clima_operator.children import Context, desired, kafka, writer
from clima_operator.reconciler import Outcome, Reconciler

Build = Callable[..., Context]
GI = 2**30
IMAGE = "r.example/clima/clima:0.1.0"


def _properties(ctx: Context) -> dict[str, str]:
    text = kafka.files(ctx)[kafka.PROPERTIES]
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def _writer_env(ctx: Context) -> dict[str, str]:
    deployment = next(o for o in desired(ctx) if o["metadata"]["name"] == "demo-writer")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {v["name"]: v.get("value", "") for v in container["env"]}


def test_default_retention_shares_four_fifths_of_the_volume(make_ctx: Build) -> None:
    """5Gi, 4 partitions and the dead-letter one on one node: 5 copies of 819 MiB; segments
    of 1/8 of it; the writer refuses past 3/4 of it in one partition; RabbitMQ's queue may
    hold 2/5 of its 2Gi."""
    ctx = make_ctx({"mode": "both"})
    props = _properties(ctx)
    retention = int(5 * GI * 0.8 / 5)
    assert props["log.retention.bytes"] == str(retention)
    assert props["log.segment.bytes"] == str(retention // 8)
    assert props["log.retention.check.interval.ms"] == "10000"
    env = _writer_env(ctx)
    assert env[writer.KAFKA_BYTES_ENV] == str(retention - 2 * (retention // 8))
    assert env[writer.RABBIT_BYTES_ENV] == str(int(2 * GI * 0.4))
    # every partition copy at its largest (retention plus a segment) fits 9/10 of the volume
    assert 5 * (retention + retention // 8) <= 0.9 * 5 * GI


@pytest.mark.parametrize(
    ("replicas", "partitions", "held"), [(1, 4, 5), (3, 4, 5), (3, 12, 13), (5, 12, 8), (2, 3, 4)]
)
def test_copies_per_node_follow_partitions_and_replicas(
    make_ctx: Build, replicas: int, partitions: int, held: int
) -> None:
    """Each node holds (partitions + 1) x min(3, N) / N copies, rounded up."""
    managed = {"replicas": replicas, "storage": {"size": "10Gi"}}
    ctx = make_ctx({"mode": "kafka", "kafka": {"managed": managed, "partitions": partitions}})
    assert _properties(ctx)["log.retention.bytes"] == str(int(10 * GI * 0.8 / held))


def test_a_given_retention_is_used_and_bounds_the_writer(make_ctx: Build) -> None:
    """retentionBytes under what fits is taken as given, with a segment of 1/8 of it."""
    managed = {"retentionBytes": "512Mi"}
    ctx = make_ctx({"mode": "kafka", "kafka": {"managed": managed}})
    props = _properties(ctx)
    assert props["log.retention.bytes"] == str(512 * 2**20)
    assert props["log.segment.bytes"] == str(64 * 2**20)
    assert _writer_env(ctx)[writer.KAFKA_BYTES_ENV] == str(384 * 2**20)


def test_external_brokers_get_no_bound_in_bytes(make_ctx: Build) -> None:
    """An external broker's disk is not the operator's to size: messages bound it only."""
    spec = {
        "mode": "kafka",
        "kafka": {"type": "external", "external": {"address": "kafka.example:9092"}},
    }
    env = _writer_env(make_ctx(spec))
    assert writer.KAFKA_BYTES_ENV not in env
    assert writer.RABBIT_BYTES_ENV not in env


def _ready(cluster: Any) -> dict[str, Any]:
    status = cluster.child("ClimaPipeline", "demo")["status"]
    return dict(next(c for c in status["conditions"] if c["type"] == "Ready"))


@pytest.mark.parametrize(
    ("managed", "words"),
    [
        ({"retentionBytes": "2Gi"}, ["does not fit the volume", "at most 858993459 bytes each"]),
        ({"retentionBytes": "1Mi"}, ["under the least of 16777216 (16Mi): raise it"]),
        ({"storage": {"size": "64Mi"}}, ["under the least", "set a larger storage.size"]),
    ],
)
def test_a_retention_that_cannot_work_is_invalid_naming_the_field(
    cluster: Any, events: Any, managed: dict[str, Any], words: list[str]
) -> None:
    """Too large for the volume, or too small to hold a segment or two: Invalid, naming
    spec.kafka.managed.retentionBytes and what would do, and nothing is created."""
    cluster.add_pipeline(spec={"mode": "kafka", "kafka": {"managed": managed}})
    now = "2025-01-01T00:00:00Z"
    reconciler = Reconciler(cluster, events, default_image=IMAGE, now=lambda: now)
    assert reconciler.reconcile("ns", "demo") is Outcome.INVALID
    message = _ready(cluster)["message"]
    assert "spec.kafka.managed.retentionBytes" in message
    for word in words:
        assert word in message
    assert not [name for kind, _, name in cluster.objects if kind == "StatefulSet"]
