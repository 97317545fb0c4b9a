"""A broker's ``type`` or address changed together with the mode, or alone: the reports wait
in the broker as it was, so it drains as it was, and a broker in use keeps its type."""

from __future__ import annotations

import json
from typing import Any

import pytest

from clima_operator import drain
from clima_operator.reconciler import Reconciler

IMAGE = "r.example/clima/clima:0.1.0"
SECRET = {"name": "ext", "key": "password"}
#: per broker: its spec field, the mode that leaves it, its consumer, its store, the
#: variable that holds its address
BROKERS = {
    "kafka": ("kafka", "rabbit", "demo-kafka-consumer", "demo-kafka", "KAFKA_BROKER"),
    "rabbitmq": ("rabbitmq", "kafka", "demo-rabbit-consumer", "demo-rabbitmq", "RABBITMQ_URL"),
}
OLD_ADDRESS = {"kafka": "old-kafka.example:9092", "rabbitmq": "old-rabbit.example:5672"}
NEW_ADDRESS = {"kafka": "new-kafka.example:9092", "rabbitmq": "new-rabbit.example:5672"}


def _backend(field: str, kind: str, address: str) -> dict[str, Any]:
    if kind != "external":
        return {"type": kind}
    external: dict[str, Any] = {"address": address}
    if field == "rabbitmq":
        external["secretRef"] = SECRET
    return {"type": "external", "external": external}


def _spec(mode: str, field: str, kind: str, address: str = "") -> dict[str, Any]:
    return {"mode": mode, field: _backend(field, kind, address or OLD_ADDRESS[field])}


def _reconciler(cluster: Any, events: Any) -> Reconciler:
    return Reconciler(cluster, events, default_image=IMAGE, now=lambda: "2025-01-01T00:00:00Z")


def _env(manifest: dict[str, Any], name: str) -> str:
    containers = manifest["spec"]["template"]["spec"]["containers"]
    values = [e.get("value", "") for c in containers for e in c.get("env", []) if e["name"] == name]
    return values[0]


def _condition(cluster: Any, kind: str) -> dict[str, Any]:
    status = cluster.child("ClimaPipeline", "demo")["status"]
    return next(c for c in status["conditions"] if c["type"] == kind)


def _names(cluster: Any) -> set[tuple[str, str]]:
    return {(kind, name) for kind, _, name in cluster.objects}


def _running(cluster: Any, events: Any, spec: dict[str, Any]) -> Reconciler:
    """A pipeline built from ``spec``, its pods ready."""
    cluster.add_secret(SECRET["name"], {SECRET["key"]: "cHc="}, allowed="demo")
    cluster.add_pipeline(spec=spec)
    reconciler = _reconciler(cluster, events)
    reconciler.reconcile("ns", "demo")
    cluster.mark_ready()
    reconciler.reconcile("ns", "demo")
    return reconciler


PAIRS = [
    (field, old, new)
    for field in BROKERS
    for old in ("managed", "external")
    for new in ("managed", "external", "disabled")
    if (old, new) != ("managed", "managed")
]


@pytest.mark.parametrize(("field", "old", "new"), PAIRS)
def test_a_broker_left_with_a_new_type_or_address_drains_as_it_was(
    cluster: Any, events: Any, field: str, old: str, new: str
) -> None:
    """The mode leaves the broker and its type (or, external to external, its address)
    changes in the same edit: its consumer, then its drain Job, read the old broker, and a
    managed one keeps its StatefulSet until the drain succeeded."""
    _, leaves, consumer, store, variable = BROKERS[field]
    reconciler = _running(cluster, events, _spec("both", field, old))
    before = _env(cluster.child("Deployment", consumer), variable)
    cluster.set_spec("demo", _spec(leaves, field, new, NEW_ADDRESS[field]))
    reconciler.reconcile("ns", "demo")
    assert _env(cluster.child("Deployment", consumer), variable) == before
    assert (("StatefulSet", store) in _names(cluster)) == (old == "managed")

    cluster.mark_ready()  # the writers rolled out: the drain Job takes over
    reconciler.reconcile("ns", "demo")
    job = cluster.child("Job", f"{consumer}-drain")
    assert _env(job, variable) == before
    assert (("StatefulSet", store) in _names(cluster)) == (old == "managed")
    recorded = json.loads(job["metadata"]["annotations"][drain.BROKER_SPEC_ANNOTATION])
    assert recorded["type"] == old


@pytest.mark.parametrize(
    ("field", "old", "new"), [p for p in PAIRS if p[2] not in ("disabled", p[1])]
)
def test_a_broker_in_use_keeps_its_type_and_the_condition_says_how_to_move(
    cluster: Any, events: Any, field: str, old: str, new: str
) -> None:
    """With the mode still using the broker a new type is refused: the writer and the
    consumer keep the old broker, nothing of it is deleted, and the consumer's condition
    names the field and the way forward. Set back, the condition clears."""
    variable = BROKERS[field][4]
    reconciler = _running(cluster, events, _spec("both", field, old))
    objects = _names(cluster)
    writer = _env(cluster.child("Deployment", "demo-writer"), variable)
    cluster.set_spec("demo", _spec("both", field, new, NEW_ADDRESS[field]))
    reconciler.reconcile("ns", "demo")
    assert _names(cluster) >= objects
    assert _env(cluster.child("Deployment", "demo-writer"), variable) == writer
    title = "KafkaConsumerReady" if field == "kafka" else "RabbitConsumerReady"
    refused = _condition(cluster, title)
    assert (refused["status"], refused["reason"]) == ("False", "ApplyFailed")
    assert f"spec.{field}.type changed from {old} to {new}" in refused["message"]
    assert "set spec.mode to one without" in refused["message"]

    cluster.set_spec("demo", _spec("both", field, old))
    reconciler.reconcile("ns", "demo")
    cluster.mark_ready()
    reconciler.reconcile("ns", "demo")
    assert _condition(cluster, title)["status"] == "True"


def test_an_external_address_change_in_use_moves_writer_and_consumer(
    cluster: Any, events: Any
) -> None:
    """A new address for an external broker in use is taken as the same cluster under
    another name: writer and consumer follow it, nothing is refused."""
    reconciler = _running(cluster, events, _spec("kafka", "kafka", "external"))
    cluster.set_spec("demo", _spec("kafka", "kafka", "external", NEW_ADDRESS["kafka"]))
    reconciler.reconcile("ns", "demo")
    for name in ("demo-writer", "demo-kafka-consumer"):
        assert _env(cluster.child("Deployment", name), "KAFKA_BROKER") == NEW_ADDRESS["kafka"]
    assert _condition(cluster, "KafkaConsumerReady")["reason"] != "ApplyFailed"


def test_objects_without_a_record_drain_from_the_spec(make_ctx: Any) -> None:
    """Objects an older operator built carry no record: the spec stands in, a disabled
    broker as managed (as before)."""
    ctx = make_ctx({"mode": "kafka", "rabbitmq": {"type": "disabled"}})
    live = {("Deployment", "demo-rabbit-consumer"): {"metadata": {"annotations": {}}}}
    assert drain.recorded(ctx, live, drain.RABBIT) is None
    wide = drain.widened(ctx, [drain.RABBIT], live)
    assert wide.spec.rabbitmq.type == "managed"
    unreadable = {("Deployment", "demo-rabbit-consumer"): {
        "metadata": {"annotations": {drain.BROKER_SPEC_ANNOTATION: "{not json"}}}}  # fmt: skip
    assert drain.recorded(ctx, unreadable, drain.RABBIT) is None
