"""spec.kafka.partitions reaches both ends of Kafka, and the CRD refuses lowering it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clima import wiring
from clima_operator.children import Context, desired
from clima_operator.crd import build_crd

Build = Callable[..., Context]


def _env(manifest: dict[str, Any]) -> dict[str, Any]:
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item.get("value") for item in container["env"]}


def _deployments(ctx: Context) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in desired(ctx) if o["kind"] == "Deployment"}


def test_writer_and_kafka_consumer_get_the_partition_count(make_ctx: Build) -> None:
    """Both processes that may create or grow the topic read the same count from the spec."""
    objects = _deployments(make_ctx({"kafka": {"partitions": 12}}))
    for name in ("demo-writer", "demo-kafka-consumer"):
        assert _env(objects[name])[wiring.KAFKA_PARTITIONS_ENV.name] == "12", name
    default = _deployments(make_ctx())
    assert _env(default["demo-writer"])[wiring.KAFKA_PARTITIONS_ENV.name] == str(
        wiring.KAFKA_PARTITIONS
    )


def test_the_crd_refuses_lowering_the_partitions() -> None:
    """A transition rule (self >= oldSelf) on the field, with a message naming it."""
    spec = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    field = spec["properties"]["kafka"]["properties"]["partitions"]
    (rule,) = field["x-kubernetes-validations"]
    assert rule["rule"] == "self >= oldSelf"
    assert "spec.kafka.partitions cannot be lowered" in rule["message"]
    assert (field["minimum"], field["maximum"], field["default"]) == (1, 1000, 4)
