"""spec.kafka.managed.replicas: one node as before, or a replicated KRaft cluster whose
member count is fixed once it runs."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clima_operator.children import Context, desired, kafka, placement
from clima_operator.errors import InvalidSpecError
from clima_operator.reconciler import Reconciler
from clima_operator.spec import parse_spec

Build = Callable[..., Context]


def _kafka_spec(replicas: int) -> dict[str, Any]:
    return {"mode": "kafka", "kafka": {"managed": {"replicas": replicas}}}


def _objects(ctx: Context, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in desired(ctx) if o["kind"] == kind}


def _properties(ctx: Context) -> dict[str, str]:
    text = kafka.files(ctx)[kafka.PROPERTIES]
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return dict(pairs)


def test_one_node_is_rendered_as_before(make_ctx: Build) -> None:
    """The default: a one-node quorum on localhost, internal topics at factor 1, no pod
    fields read, and a Service that lists only ready pods."""
    ctx = make_ctx({"mode": "kafka"})
    props = _properties(ctx)
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@localhost:9093"
    assert props["offsets.topic.replication.factor"] == "1"
    assert "default.replication.factor" not in props
    sts = _objects(ctx, "StatefulSet")["demo-kafka"]
    assert sts["spec"]["replicas"] == 1
    names = [v["name"] for v in sts["spec"]["template"]["spec"]["containers"][0]["env"]]
    assert names == ["KAFKA_HEAP_OPTS"]
    assert "publishNotReadyAddresses" not in _objects(ctx, "Service")["demo-kafka"]["spec"]


@pytest.mark.parametrize(("replicas", "factor", "insync"), [(2, 2, 1), (3, 3, 2), (5, 3, 2)])
def test_a_cluster_keeps_min_3_copies_and_needs_2_in_sync(
    make_ctx: Build, replicas: int, factor: int, insync: int
) -> None:
    """Every node votes; topics (reports, offsets, transactions) get min(3, N) copies, and a
    write is acknowledged with 2 in sync from N = 3; no unclean leader is ever elected."""
    ctx = make_ctx(_kafka_spec(replicas))
    props = _properties(ctx)
    voters = props["controller.quorum.voters"].split(",")
    assert voters == [f"{i + 1}@demo-kafka-{i}.demo-kafka.ns.svc:9093" for i in range(replicas)]
    assert props["default.replication.factor"] == str(factor)
    assert props["offsets.topic.replication.factor"] == str(factor)
    assert props["transaction.state.log.replication.factor"] == str(factor)
    assert props["min.insync.replicas"] == str(insync)
    assert props["transaction.state.log.min.isr"] == str(insync)
    assert props["unclean.leader.election.enable"] == "false"
    assert "node.id" not in props  # each pod's own
    assert "advertised.listeners" not in props


def test_a_cluster_runs_n_pods_that_find_each_other_and_a_budget(make_ctx: Build) -> None:
    """N pods starting together, DNS names before readiness, one eviction at a time."""
    ctx = make_ctx(_kafka_spec(3))
    sts = _objects(ctx, "StatefulSet")["demo-kafka"]
    assert sts["spec"]["replicas"] == 3
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    assert _objects(ctx, "Service")["demo-kafka"]["spec"]["publishNotReadyAddresses"] is True
    budgets = {b["metadata"]["name"]: b for b in placement.budgets(ctx, desired(ctx))}
    assert budgets["demo-kafka"]["spec"]["maxUnavailable"] == 1
    env = sts["spec"]["template"]["spec"]["containers"][0]["env"]
    paths = {v["name"]: v.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for v in env}
    assert paths[kafka.POD_NAME_ENV] == "metadata.name"
    assert paths[kafka.ZONE_ENV] == "metadata.labels['topology.kubernetes.io/zone']"


@pytest.mark.parametrize(("zone", "rack"), [("europe-west1-b", "europe-west1-b"), ("", None)])
def test_each_pod_writes_its_own_id_name_and_rack(
    make_ctx: Build, tmp_path: Path, zone: str, rack: str | None
) -> None:
    """The start script's own lines, run by sh: pod demo-kafka-2 is node 3, advertises its
    stable name, and takes its node's zone as its rack when the node has one."""
    ctx = make_ctx(_kafka_spec(3))
    shared = tmp_path / "config"
    shared.mkdir()
    (shared / kafka.PROPERTIES).write_text(kafka.server_properties(ctx))
    own = tmp_path / "own.properties"
    script = kafka.own_properties(ctx).replace(kafka.CONFIG_DIR, str(shared))
    script = script.replace(kafka.OWN_PROPERTIES, str(own))
    env = {"PATH": "/usr/bin:/bin", kafka.POD_NAME_ENV: "demo-kafka-2", kafka.ZONE_ENV: zone}
    subprocess.run(["sh", "-ec", script], env=env, check=True)
    lines = own.read_text().splitlines()
    props = dict(line.split("=", 1) for line in lines if "=" in line)
    assert props["node.id"] == "3"
    assert props["advertised.listeners"] == "CLIENT://demo-kafka-2.demo-kafka.ns.svc:9092"
    assert props.get("broker.rack") == rack
    assert props["controller.quorum.voters"].startswith("1@demo-kafka-0.")
    assert "set -e" in kafka.command(ctx)[2]
    assert f"-c {kafka.OWN_PROPERTIES}" in kafka.command(ctx)[2]


@pytest.mark.parametrize("replicas", [0, 10])
def test_replicas_out_of_range_are_refused_by_name(replicas: int) -> None:
    with pytest.raises(InvalidSpecError, match=r"spec\.kafka\.managed\.replicas"):
        parse_spec(_kafka_spec(replicas))


def test_changing_the_count_of_a_running_kafka_is_refused_with_the_way_on(
    cluster: Any, events: Any
) -> None:
    """Kafka keeps the nodes it runs: the StatefulSet is left as it is, KafkaReady says why
    and what to do, and the rest of the pipeline still converges."""
    cluster.add_pipeline(spec=_kafka_spec(1))
    reconciler = Reconciler(cluster, events, default_image="r.example/clima:1", now=lambda: "t")
    reconciler.reconcile("ns", "demo")
    cluster.set_spec("demo", {**_kafka_spec(3), "writer": {"replicas": 2}})
    reconciler.reconcile("ns", "demo")
    assert cluster.child("StatefulSet", "demo-kafka")["spec"]["replicas"] == 1
    assert cluster.child("Deployment", "demo-writer")["spec"]["replicas"] == 2
    status = cluster.child("ClimaPipeline", "demo")["status"]
    kafka_ready = next(c for c in status["conditions"] if c["type"] == "KafkaReady")
    assert kafka_ready["status"] == "False"
    assert kafka_ready["reason"] == "ApplyFailed"
    message = kafka_ready["message"]
    assert "spec.kafka.managed.replicas is 3" in message
    assert "Set it back to 1" in message
    assert "data-demo-kafka-*" in message
    assert any(reason == "ApplyFailed" and "replicas" in m for _, reason, m in events.posted)
    cluster.set_spec("demo", {**_kafka_spec(1), "writer": {"replicas": 2}})
    reconciler.reconcile("ns", "demo")
    status = cluster.child("ClimaPipeline", "demo")["status"]
    kafka_ready = next(c for c in status["conditions"] if c["type"] == "KafkaReady")
    assert kafka_ready["reason"] != "ApplyFailed"


def test_one_replica_says_one_disk_holds_the_data(cluster: Any, events: Any) -> None:
    """kubectl describe shows, on each one-pod store's condition, that one disk holds it."""
    cluster.add_pipeline(spec={"mode": "kafka"})
    reconciler = Reconciler(cluster, events, default_image="r.example/clima:1", now=lambda: "t")
    reconciler.reconcile("ns", "demo")
    cluster.mark_ready()
    reconciler.reconcile("ns", "demo")
    status = cluster.child("ClimaPipeline", "demo")["status"]
    for kind in ("KafkaReady", "ValkeyReady"):
        condition = next(c for c in status["conditions"] if c["type"] == kind)
        assert condition["status"] == "True", condition
        assert "one pod and one disk hold all its data" in condition["message"]
