"""A pod that was ready and lost it while running (a consumer holding for a full Valkey)
makes its component not ready and the pipeline Degraded; one not ready *yet* does not."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from clima_operator.children import Context, components
from clima_operator.children.consumers import kafka_process
from clima_operator.status import Observation, pipeline_status
from clima_operator.status.pods import first_problem

Build = Callable[..., Context]
NOW = datetime(2025, 1, 1, 0, 5, 0, tzinfo=UTC)
STARTED = "2025-01-01T00:00:10Z"


def _consumer_pod(ready_since: str, ready: str = "False") -> dict[str, Any]:
    """A running kafka-consumer pod whose Ready condition last changed at `ready_since`."""
    return {
        "metadata": {
            "name": "demo-kafka-consumer-5c4d-xyz12",
            "labels": {
                "app.kubernetes.io/instance": "demo",
                "app.kubernetes.io/component": "kafka-consumer",
            },
        },
        "spec": {
            "containers": [
                {
                    "name": "kafka-consumer",
                    "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}},
                }
            ]
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": ready, "lastTransitionTime": ready_since},
            ],
            "containerStatuses": [
                {
                    "name": "kafka-consumer",
                    "ready": ready == "True",
                    "restartCount": 0,
                    "state": {"running": {"startedAt": STARTED}},
                }
            ],
        },
    }


def _live(ctx: Context) -> dict[tuple[str, str], dict[str, Any]]:
    live = {}
    for ref in components(ctx):
        component = ref.name.removeprefix("demo-")
        selector = {"app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": component}
        available = 0 if component == "kafka-consumer" else 1
        live[(ref.kind, ref.name)] = {
            "metadata": {"generation": 1},
            "spec": {"replicas": 1, "selector": {"matchLabels": selector}},
            "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                       "readyReplicas": 1, "availableReplicas": available,
                       "currentRevision": "a", "updateRevision": "a"},
        }  # fmt: skip
    return live


def test_readiness_lost_while_running_degrades_the_pipeline(make_ctx: Build) -> None:
    """Ready turned False after the container started: KafkaConsumerReady False with reason
    ReadinessLost naming the pod, the probe and where to read why; Degraded; phase Degraded."""
    ctx = make_ctx()
    pods = [_consumer_pod("2025-01-01T00:03:00Z")]
    status = pipeline_status(Observation(ctx, 1, _live(ctx), False, pods=pods, at=NOW), {}, "T")
    conditions = {c["type"]: c for c in status["conditions"]}
    consumer = conditions["KafkaConsumerReady"]
    assert (consumer["status"], consumer["reason"]) == ("False", "ReadinessLost")
    assert consumer["message"] == (
        "pod demo-kafka-consumer-5c4d-xyz12 container kafka-consumer: running but not ready "
        "since 2025-01-01T00:03:00Z (it was ready before): its readiness probe (GET /readyz on "
        "port http) fails; its answer and kubectl logs demo-kafka-consumer-5c4d-xyz12 -c "
        "kafka-consumer say why"
    )
    assert (conditions["Degraded"]["status"], conditions["Degraded"]["reason"]) == (
        "True",
        "ReadinessLost",
    )
    assert status["phase"] == "Degraded"


def test_not_ready_yet_after_start_is_not_a_failure() -> None:
    """Ready has been False since before the container started: a start, not a loss."""
    assert first_problem([_consumer_pod("2025-01-01T00:00:05Z")], NOW) is None


def test_ready_again_is_no_problem() -> None:
    """Once the hold ends and the probe passes, the pod is fine."""
    assert first_problem([_consumer_pod("2025-01-01T00:04:00Z", ready="True")], NOW) is None


def test_consumers_are_probed_for_readiness_on_readyz_and_alive_on_healthz(
    make_ctx: Build,
) -> None:
    """Readiness is /readyz (fails while holding); liveness /healthz (never restarts a hold)."""
    process = kafka_process(make_ctx())
    assert process.readiness["httpGet"]["path"] == "/readyz"
    assert process.liveness["httpGet"]["path"] == "/healthz"
