"""Status: component readiness from live objects, summary conditions, phase, timestamps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clima_operator.children import ComponentRef, Context, components
from clima_operator.status import Observation, endpoints, invalid_status, pipeline_status
from clima_operator.status.readiness import assess

Build = Callable[..., Context]
API = ComponentRef("ApiReady", "api", "Deployment", "demo-api")
KAFKA = ComponentRef("KafkaReady", "Kafka", "StatefulSet", "demo-kafka")


def _deployment(replicas: int = 2, **status: Any) -> dict[str, Any]:
    full = {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
            "readyReplicas": replicas, "availableReplicas": replicas, **status}  # fmt: skip
    return {
        "metadata": {"generation": 1},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"c": "api"}}},
        "status": full,
    }


def test_available_deployment_is_ready() -> None:
    """All desired pods available on the current template means ready."""
    state = assess(API, _deployment(), suspended=False)
    assert (state.ready, state.reason) == (True, "Available")
    assert "2/2" in state.message


def test_rolling_deployment_is_progressing() -> None:
    """Pods still on the old template make the component progress, not ready."""
    state = assess(API, _deployment(updatedReplicas=1, availableReplicas=1), suspended=False)
    assert (state.ready, state.reason, state.progressing) == (False, "RollingOut", True)
    assert "kubectl rollout status deployment/demo-api" in state.message


def test_unobserved_generation_is_not_ready() -> None:
    """A spec change the controller has not seen yet is not ready, whatever the counts."""
    obj = _deployment()
    obj["metadata"]["generation"] = 2
    assert assess(API, obj, suspended=False).reason == "Updating"


def test_stuck_deployment_is_degraded() -> None:
    """ProgressDeadlineExceeded fails the component and tells where to look."""
    stuck = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": "ReplicaSet has timed out progressing."}  # fmt: skip
    state = assess(API, _deployment(availableReplicas=0, conditions=[stuck]), suspended=False)
    assert state.failed
    assert state.reason == "ProgressDeadlineExceeded"
    assert "kubectl describe pods -l c=api" in state.message


def test_scaled_to_zero_is_ready() -> None:
    """A component scaled to zero on purpose counts as ready."""
    obj = _deployment(replicas=0)
    assert assess(API, obj, suspended=False).reason == "ScaledToZero"


def test_missing_child_says_what_happens() -> None:
    """A missing child is being created, unless reconciliation is suspended."""
    assert "is being created" in assess(API, None, suspended=False).message
    assert "not recreated while spec.suspend" in assess(API, None, suspended=True).message


def test_statefulset_states() -> None:
    """A StatefulSet is ready with its pod ready on the current revision."""
    sts = {"metadata": {"generation": 1}, "spec": {"replicas": 1},
           "status": {"observedGeneration": 1, "readyReplicas": 1, "updatedReplicas": 1,
                      "currentRevision": "a", "updateRevision": "a"}}  # fmt: skip
    assert assess(KAFKA, sts, suspended=False).ready
    sts["status"]["readyReplicas"] = 0
    state = assess(KAFKA, sts, suspended=False)
    assert state.reason == "Starting"
    assert "PersistentVolumeClaim" in state.message


def test_external_and_rejected() -> None:
    """External backends are ready by declaration; a refused apply is a failure with the reason."""
    external = ComponentRef("KafkaReady", "Kafka", "StatefulSet", "demo-kafka", "k:9092")
    assert assess(external, None, suspended=False).reason == "External"
    state = assess(API, None, suspended=False, rejection="field is immutable")
    assert state.failed
    assert "field is immutable" in state.message


def _live_ready(ctx: Context) -> dict[tuple[str, str], dict[str, Any]]:
    live = {}
    for ref in components(ctx):
        obj = _deployment(replicas=1)
        obj["status"].update(currentRevision="a", updateRevision="a")
        live[(ref.kind, ref.name)] = obj
    return live


def _conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_all_ready_pipeline(make_ctx: Build) -> None:
    """Every component ready gives Ready=True, Progressing=False, Degraded=False, phase Ready."""
    ctx = make_ctx()
    status = pipeline_status(Observation(ctx, 3, _live_ready(ctx), False), {}, "T1")
    conditions = _conditions(status)
    assert status["phase"] == "Ready"
    assert status["observedGeneration"] == 3
    assert conditions["Ready"]["status"] == "True"
    assert conditions["Progressing"]["status"] == "False"
    assert conditions["Degraded"]["status"] == "False"
    expected = {"ApiReady", "ProxyReady", "WriterReady", "KafkaConsumerReady",
                "RabbitConsumerReady", "KafkaReady", "RabbitmqReady", "ValkeyReady",
                "GrafanaReady"}  # fmt: skip
    assert expected <= conditions.keys()
    for condition in status["conditions"]:
        assert condition["observedGeneration"] == 3
        assert condition["lastTransitionTime"] == "T1"
        assert condition["reason"]
        assert condition["message"]


def test_waiting_pipeline_names_what_it_waits_for(make_ctx: Build) -> None:
    """A missing writer keeps Ready False and the message names WriterReady."""
    ctx = make_ctx()
    live = _live_ready(ctx)
    del live[("Deployment", "demo-writer")]
    status = pipeline_status(Observation(ctx, 1, live, False), {}, "T1")
    ready = _conditions(status)["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "ComponentsNotReady")
    assert "WriterReady" in ready["message"]
    assert status["phase"] == "Progressing"


def test_transition_time_moves_only_on_status_change(make_ctx: Build) -> None:
    """lastTransitionTime stays when a condition keeps its status, and moves when it flips."""
    ctx = make_ctx()
    live = _live_ready(ctx)
    first = pipeline_status(Observation(ctx, 1, live, False), {}, "T1")
    again = pipeline_status(Observation(ctx, 1, live, False), first, "T2")
    assert again == first
    del live[("Deployment", "demo-api")]
    later = _conditions(pipeline_status(Observation(ctx, 1, live, False), first, "T3"))
    assert later["Ready"]["lastTransitionTime"] == "T3"
    assert later["WriterReady"]["lastTransitionTime"] == "T1"


def test_suspended_pipeline(make_ctx: Build) -> None:
    """Suspension shows as reason Suspended and phase Suspended."""
    ctx = make_ctx({"suspend": True})
    status = pipeline_status(Observation(ctx, 1, _live_ready(ctx), True), {}, "T")
    conditions = _conditions(status)
    assert conditions["Ready"]["reason"] == "Suspended"
    assert conditions["Progressing"]["reason"] == "Suspended"
    assert status["phase"] == "Suspended"


def test_failure_degrades(make_ctx: Build) -> None:
    """A failed reconcile shows Ready=False and Degraded=True with the error."""
    ctx = make_ctx()
    observation = Observation(ctx, 1, _live_ready(ctx), False, failure="HTTP 500: boom")
    conditions = _conditions(pipeline_status(observation, {}, "T"))
    assert conditions["Ready"]["reason"] == "ReconcileFailed"
    assert conditions["Degraded"]["status"] == "True"


def test_invalid_status() -> None:
    """An invalid spec gives Ready=False, reason InvalidSpec, with the field in the message."""
    status = invalid_status("spec.kafka: external.address is required", 4, {}, "T")
    ready = _conditions(status)["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "spec.kafka" in ready["message"]
    assert status["phase"] == "Invalid"
    assert status["observedGeneration"] == 4


def test_endpoints(make_ctx: Build) -> None:
    """Endpoints list the in-cluster URLs and the Ingress URL when it has a host."""
    found = endpoints(make_ctx({"ingress": {"enabled": True, "host": "c.io"}}))
    assert found["api"] == "http://demo-api.ns.svc:80"
    assert found["ingress"] == "http://c.io/"
    assert "grafana" in found


def test_autoscaled_api_waits_for_the_hpa_minimum() -> None:
    """With autoscaling, the api is ready only once the HPA's minimum of pods is available."""
    ref = ComponentRef("ApiReady", "api", "Deployment", "demo-api", None, min_ready=2)
    state = assess(ref, _deployment(replicas=1), suspended=False)
    assert (state.ready, state.reason) == (False, "RollingOut")
    assert state.message.startswith("Deployment demo-api: 1/2 pods available")
    assert assess(ref, _deployment(replicas=2), suspended=False).ready
