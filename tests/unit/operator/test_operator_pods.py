"""Status from what pods do: failing containers and unschedulable pods degrade the pipeline."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from clima_operator import kube
from clima_operator.children import ComponentRef, Context
from clima_operator.errors import ClusterError
from clima_operator.handlers.children import PodSignals
from clima_operator.reconciler import Reconciler
from clima_operator.status import Observation, pipeline_status
from clima_operator.status.pods import first_problem, signal
from clima_operator.status.readiness import assess

IMAGE = "r.example/clima/clima:0.1.0"  # what the chart gives the operator

Build = Callable[..., Context]
NOW = datetime(2025, 1, 1, 0, 1, 0, tzinfo=UTC)
WRITER = ComponentRef("WriterReady", "writer", "Deployment", "demo-writer")
KAFKA = ComponentRef("KafkaReady", "Kafka", "StatefulSet", "demo-kafka")
SELECTOR = {
    "app.kubernetes.io/name": "clima",
    "app.kubernetes.io/instance": "demo",
    "app.kubernetes.io/component": "writer",
}


def _pod(
    name: str = "demo-writer-7d9f-abcde",
    container: dict[str, Any] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    phase: str = "Running",
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A pod as the API server shows it, with one container status (or none when pending)."""
    status: dict[str, Any] = {"phase": phase, "conditions": conditions or []}
    if container is not None:
        status["containerStatuses"] = [{"name": "writer", "restartCount": 0, **container}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "labels": labels or {**SELECTOR, "clima.io/pipeline": "demo"},
        },
        "status": status,
    }


def _waiting(reason: str, message: str = "") -> dict[str, Any]:
    return {"ready": False, "state": {"waiting": {"reason": reason, "message": message}}}


def _healthy() -> dict[str, Any]:
    return {"ready": True, "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}}}


def _deployment(replicas: int = 1, available: int = 0) -> dict[str, Any]:
    return {
        "metadata": {"generation": 1},
        "spec": {"replicas": replicas, "selector": {"matchLabels": SELECTOR}},
        "status": {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
                   "availableReplicas": available},
    }  # fmt: skip


WAITING_REASONS = [
    ("ImagePullBackOff", 'Back-off pulling image "x"'),
    ("ErrImagePull", 'failed to pull and unpack image "x": not found'),
    ("InvalidImageName", 'Failed to apply default image tag "X:Y:Z"'),
    ("CrashLoopBackOff", "back-off 40s restarting failed container=writer"),
    ("CreateContainerConfigError", 'secret "demo-credentials" not found'),
    ("CreateContainerError", "context deadline exceeded"),
]


@pytest.mark.parametrize(("reason", "detail"), WAITING_REASONS)
def test_waiting_reason_fails_the_component(reason: str, detail: str) -> None:
    """Each lasting waiting reason makes the component False with it, naming pod and container."""
    pods = [_pod(container=_waiting(reason, detail))]
    state = assess(WRITER, _deployment(), suspended=False, pods=pods, now=NOW)
    assert (state.ready, state.failed, state.reason) == (False, True, reason)
    assert state.message == f"pod demo-writer-7d9f-abcde container writer: {reason}: {detail}"


def test_oom_killed_with_restarts_fails_the_component() -> None:
    """A container OOM-killed and not ready again reads OOMKilled with its restart count."""
    container = {
        "ready": False,
        "restartCount": 3,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
        "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
    }
    state = assess(WRITER, _deployment(), False, pods=[_pod(container=container)], now=NOW)
    assert (state.failed, state.reason) == (True, "OOMKilled")
    assert "container writer: OOMKilled" in state.message
    assert "restarted 3 times" in state.message


def test_oom_killed_once_and_ready_again_is_fine() -> None:
    """An old OOM kill stays in lastState; once the container is ready it is not a failure."""
    container = {**_healthy(), "restartCount": 1,
                 "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}  # fmt: skip
    pods = [_pod(container=container)]
    state = assess(WRITER, _deployment(available=1), False, pods=pods, now=NOW)
    assert (state.ready, state.reason) == (True, "Available")


def test_restarting_between_back_offs_still_reads_crash_loop() -> None:
    """Between back-offs the container runs, not ready: the condition does not flip back."""
    container = {
        "ready": False,
        "restartCount": 4,
        "state": {"running": {"startedAt": "2025-01-01T00:00:50Z"}},
        "lastState": {"terminated": {"reason": "Error", "exitCode": 1}},
    }
    state = assess(WRITER, _deployment(), False, pods=[_pod(container=container)], now=NOW)
    assert (state.failed, state.reason) == (True, "CrashLoopBackOff")
    assert "restarted 4 times, last exit code 1 (Error)" in state.message


def _unschedulable(since: str) -> list[dict[str, Any]]:
    return [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": "0/1 nodes are available: 1 Insufficient memory.",
             "lastTransitionTime": since}]  # fmt: skip


def test_unschedulable_pod_fails_the_statefulset() -> None:
    """A pod no node accepts for longer than the grace makes the StatefulSet Unschedulable."""
    sts = {"metadata": {"generation": 1}, "spec": {"replicas": 1, "selector": {"matchLabels": {}}},
           "status": {"observedGeneration": 1, "readyReplicas": 0}}  # fmt: skip
    pod = _pod("demo-kafka-0", conditions=_unschedulable("2025-01-01T00:00:00Z"), phase="Pending")
    state = assess(KAFKA, sts, suspended=False, pods=[pod], now=NOW)
    assert (state.failed, state.reason) == (True, "Unschedulable")
    assert state.message == (
        "pod demo-kafka-0: Unschedulable: 0/1 nodes are available: 1 Insufficient memory."
    )


def test_briefly_unschedulable_pod_is_only_starting() -> None:
    """Within the grace (a claim still binding) an unschedulable pod is not a failure."""
    pod = _pod("demo-kafka-0", conditions=_unschedulable("2025-01-01T00:00:55Z"), phase="Pending")
    assert first_problem([pod], NOW) is None


def test_running_but_not_ready_is_not_a_failure() -> None:
    """A pod that runs but is not ready yet leaves the component progressing, not failed."""
    container = {"ready": False, "state": {"running": {"startedAt": "2025-01-01T00:00:50Z"}}}
    state = assess(WRITER, _deployment(), False, pods=[_pod(container=container)], now=NOW)
    assert (state.failed, state.progressing, state.reason) == (False, True, "RollingOut")


def test_pods_being_deleted_or_finished_do_not_count() -> None:
    """A terminating or evicted pod's last words are not the component's state."""
    deleting = _pod(container=_waiting("CrashLoopBackOff"))
    deleting["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    evicted = _pod("demo-writer-old", container=_waiting("ErrImagePull"), phase="Failed")
    assert first_problem([deleting, evicted], NOW) is None


def test_several_failing_pods_are_counted() -> None:
    """The first failing pod (by name) is named and the others are counted."""
    pods = [_pod(f"demo-writer-{i}", container=_waiting("ErrImagePull", "x")) for i in (2, 1)]
    problem = first_problem(sorted(pods, key=lambda p: p["metadata"]["name"]), NOW)
    assert problem is not None
    assert problem.message.startswith("pod demo-writer-1 container writer")
    assert problem.message.endswith("(and 1 more failing pods)")


def _ready_live(ctx: Context) -> dict[tuple[str, str], dict[str, Any]]:
    from clima_operator.children import components  # noqa: PLC0415 - one test's helper

    live = {}
    for ref in components(ctx):
        component = ref.name.removeprefix("demo-")
        selector = {"app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": component}
        live[(ref.kind, ref.name)] = {
            "metadata": {"generation": 1},
            "spec": {"replicas": 1, "selector": {"matchLabels": selector}},
            "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                       "readyReplicas": 1, "availableReplicas": 1, "currentRevision": "a",
                       "updateRevision": "a"},
        }  # fmt: skip
    return live


def _conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_failing_pod_degrades_the_pipeline_and_recovers(make_ctx: Build) -> None:
    """A writer pod in ImagePullBackOff: WriterReady False, Degraded True; fixed: Ready again."""
    ctx = make_ctx()
    live = _ready_live(ctx)
    bad = [_pod(container=_waiting("ImagePullBackOff", 'Back-off pulling image "x"'))]
    status = pipeline_status(Observation(ctx, 1, live, False, pods=bad, at=NOW), {}, "T1")
    conditions = _conditions(status)
    assert (conditions["WriterReady"]["status"], conditions["WriterReady"]["reason"]) == (
        "False",
        "ImagePullBackOff",
    )
    assert "pod demo-writer-7d9f-abcde container writer" in conditions["WriterReady"]["message"]
    assert (conditions["Degraded"]["status"], conditions["Degraded"]["reason"]) == (
        "True",
        "ImagePullBackOff",
    )
    assert conditions["ApiReady"]["status"] == "True"  # other components' pods are not theirs
    assert status["phase"] == "Degraded"
    good = [_pod(container=_healthy())]
    healed = pipeline_status(Observation(ctx, 1, live, False, pods=good, at=NOW), status, "T2")
    assert healed["phase"] == "Ready"
    assert _conditions(healed)["Degraded"]["status"] == "False"


def test_pass_reads_the_pipelines_pods(cluster: Any, events: Any) -> None:
    """The reconcile lists the pipeline's pods and a crash-looping one shows in its status."""
    cluster.add_pipeline()
    reconciler = Reconciler(
        cluster, events, default_image=IMAGE, now=lambda: "2025-01-01T00:00:00Z"
    )
    reconciler.reconcile("ns", "demo")
    cluster.mark_ready()
    pod = _pod(container=_waiting("CrashLoopBackOff", "back-off 10s"))
    pod["metadata"]["namespace"] = "ns"
    cluster.objects[("Pod", "ns", pod["metadata"]["name"])] = pod
    reconciler.reconcile("ns", "demo")
    status = cluster.child("ClimaPipeline", "demo")["status"]
    assert _conditions(status)["WriterReady"]["reason"] == "CrashLoopBackOff"
    assert status["phase"] == "Degraded"


def test_pass_without_pod_rights_still_reports(cluster: Any, events: Any) -> None:
    """Forbidden to list pods (an older Role), a pass reports from the controllers alone."""
    cluster.add_pipeline()
    listing = cluster.list

    def refuse_pods(kind: kube.Kind, namespace: str | None, selector: str = "") -> Any:
        if kind is kube.POD:
            raise ClusterError(403, "pods is forbidden")
        return listing(kind, namespace, selector)

    cluster.list = refuse_pods
    reconciler = Reconciler(
        cluster, events, default_image=IMAGE, now=lambda: "2025-01-01T00:00:00Z"
    )
    reconciler.reconcile("ns", "demo")
    cluster.mark_ready()
    reconciler.reconcile("ns", "demo")
    assert cluster.child("ClimaPipeline", "demo")["status"]["phase"] == "Ready"


def test_pod_watch_reacts_only_to_telling_changes() -> None:
    """A pod update re-reconciles only when its signal (phase, ready, failure) changes."""
    signals = PodSignals()
    starting = _pod(
        container={"ready": False, "state": {"waiting": {"reason": "ContainerCreating"}}}
    )
    assert signals.changed("u", starting, gone=False)
    assert not signals.changed("u", starting, gone=False)
    failing = _pod(container=_waiting("ErrImagePull", "x"))
    assert signals.changed("u", failing, gone=False)
    backoff = _pod(container=_waiting("ImagePullBackOff", "y"))
    assert signals.changed("u", backoff, gone=False)
    assert not signals.changed("u", _pod(container=_waiting("ImagePullBackOff", "z")), gone=False)
    assert signals.changed("u", backoff, gone=True)
    assert not signals.changed("u", backoff, gone=True)
    assert signal(failing) != signal(backoff)
