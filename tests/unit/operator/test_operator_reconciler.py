"""The reconcile pass against an in-memory API server: create, converge, prune, suspend."""

from __future__ import annotations

import copy
import threading
from typing import Any

import pytest

from clima_operator.errors import ClusterError
from clima_operator.reconciler import Outcome, Reconciler

IMAGE = "r.example/clima/clima:0.1.0"  # what the chart gives the operator


def _reconciler(cluster: Any, events: Any) -> Reconciler:
    return Reconciler(cluster, events, default_image=IMAGE, now=lambda: "2025-01-01T00:00:00Z")


def _status(cluster: Any) -> dict[str, Any]:
    status: dict[str, Any] = cluster.child("ClimaPipeline", "demo")["status"]
    return status


def _condition(cluster: Any, kind: str) -> dict[str, Any]:
    return next(c for c in _status(cluster)["conditions"] if c["type"] == kind)


def test_first_pass_creates_everything(cluster: Any, events: Any) -> None:
    """A new pipeline gets its Secret and every child, with a Created event for each."""
    cluster.add_pipeline()
    assert _reconciler(cluster, events).reconcile("ns", "demo") is Outcome.RECONCILED
    kinds = {(kind, name) for kind, _, name in cluster.objects}
    assert ("Secret", "demo-credentials") in kinds
    assert ("Deployment", "demo-writer") in kinds
    assert ("StatefulSet", "demo-valkey") in kinds
    assert events.reasons().count("Created") == len(kinds) - 1  # all but the pipeline
    assert _condition(cluster, "Ready")["status"] == "False"


def test_status_follows_children(cluster: Any, events: Any) -> None:
    """Once the controllers report ready pods, the next pass says Ready=True, phase Ready."""
    cluster.add_pipeline()
    reconciler = _reconciler(cluster, events)
    reconciler.reconcile("ns", "demo")
    cluster.mark_ready()
    reconciler.reconcile("ns", "demo")
    assert _condition(cluster, "Ready")["status"] == "True"
    assert _status(cluster)["phase"] == "Ready"
    assert events.posted[-1][:2] == ("Normal", "AllComponentsReady")


def test_second_pass_writes_nothing(cluster: Any, events: Any) -> None:
    """Level-based: with nothing changed, a pass neither writes nor posts events."""
    cluster.add_pipeline()
    reconciler = _reconciler(cluster, events)
    reconciler.reconcile("ns", "demo")
    cluster.mark_ready()
    reconciler.reconcile("ns", "demo")
    writes, posted = len(cluster.writes), len(events.posted)
    reconciler.reconcile("ns", "demo")
    assert (len(cluster.writes), len(events.posted)) == (writes, posted)


def test_mode_change_updates_only_the_writer(cluster: Any, events: Any) -> None:
    """Changing both -> random re-applies the writer and leaves every other child untouched."""
    cluster.add_pipeline(spec={"mode": "both"})
    reconciler = _reconciler(cluster, events)
    reconciler.reconcile("ns", "demo")
    cluster.writes.clear()
    events.posted.clear()
    cluster.set_spec("demo", {"mode": "random"})
    reconciler.reconcile("ns", "demo")
    applied = [(kind, name) for verb, kind, name in cluster.writes if verb == "apply"]
    assert applied == [("Deployment", "demo-writer")]
    assert ("Normal", "Updated", "Deployment demo-writer") in events.posted


RABBIT_CHILDREN = {
    ("Deployment", "demo-rabbit-consumer"),
    ("StatefulSet", "demo-rabbitmq"),
    ("Service", "demo-rabbitmq"),
    ("NetworkPolicy", "demo-rabbit-consumer"),
    ("NetworkPolicy", "demo-rabbitmq"),
}
JOB = ("Job", "demo-rabbit-consumer-drain")


def _children(cluster: Any) -> set[tuple[str, str]]:
    return {(kind, name) for kind, _, name in cluster.objects}


def _deleted(cluster: Any) -> set[tuple[str, str]]:
    return {(kind, name) for verb, kind, name in cluster.writes if verb == "delete"}


def _switched_to_kafka(cluster: Any, events: Any) -> Reconciler:
    """A ready pipeline in mode both, switched to kafka and reconciled once."""
    cluster.add_pipeline(spec={"mode": "both", "networkPolicies": {"enabled": True}})
    reconciler = _reconciler(cluster, events)
    reconciler.reconcile("ns", "demo")
    cluster.mark_ready()
    reconciler.reconcile("ns", "demo")
    cluster.writes.clear()
    cluster.set_spec("demo", {"mode": "kafka", "networkPolicies": {"enabled": True}})
    reconciler.reconcile("ns", "demo")
    return reconciler


def _finish_job(cluster: Any) -> None:
    cluster.child(*JOB)["status"] = {
        "conditions": [{"type": "Complete", "status": "True"}],
        "startTime": "2025-01-01T00:00:00Z",
        "completionTime": "2025-01-01T00:00:09Z",
    }


def test_mode_change_drains_the_left_broker_before_removing_it(cluster: Any, events: Any) -> None:
    """both -> kafka: RabbitMQ and its consumer stay while the writer rolls out, then the
    drain Job replaces the consumer, and only once it succeeded do RabbitMQ, the Job and
    their NetworkPolicies go, with a DrainCompleted event; the status says so all along."""
    reconciler = _switched_to_kafka(cluster, events)
    assert _deleted(cluster) == set()
    assert _children(cluster) >= RABBIT_CHILDREN
    draining = _condition(cluster, "RabbitmqDraining")
    assert (draining["status"], draining["reason"]) == ("False", "WaitingForWriters")
    assert "RabbitMQ draining: waiting for the writer rollout" in draining["message"]

    cluster.mark_ready()  # the writer's rollout is complete
    reconciler.reconcile("ns", "demo")
    assert _deleted(cluster) == {("Deployment", "demo-rabbit-consumer")}
    assert JOB in _children(cluster)
    assert ("StatefulSet", "demo-rabbitmq") in _children(cluster)
    assert _condition(cluster, "RabbitmqDraining")["reason"] == "Consuming"
    ready = _condition(cluster, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "Draining")
    assert _status(cluster)["phase"] == "Draining"
    assert ("Normal", "Draining") in {(kind, reason) for kind, reason, _ in events.posted}

    _finish_job(cluster)
    reconciler.reconcile("ns", "demo")
    assert _deleted(cluster) == RABBIT_CHILDREN | {JOB}
    assert not any(
        "rabbit" in name for _, name in _children(cluster) if name != "demo-rabbitmq-config"
    )
    completed = [message for _, reason, message in events.posted if reason == "DrainCompleted"]
    assert completed == [
        "RabbitMQ drained: Job demo-rabbit-consumer-drain applied everything it held in 9s; "
        "RabbitMQ and its consumer are removed"
    ]
    assert "RabbitmqDraining" not in {c["type"] for c in _status(cluster)["conditions"]}
    assert _condition(cluster, "Ready")["status"] == "True"
    assert _status(cluster)["phase"] == "Ready"


def test_an_old_writer_pod_holds_the_drain(cluster: Any, events: Any) -> None:
    """A terminating writer pod still sending to RabbitMQ keeps the consumer running and no
    Job starts, even when the Deployment reports its rollout done."""
    reconciler = _switched_to_kafka(cluster, events)
    cluster.mark_ready()
    env = [{"name": "WRITER_TARGET", "value": "both"}]
    cluster.objects[("Pod", "ns", "demo-writer-old")] = {
        "kind": "Pod",
        "metadata": {"name": "demo-writer-old", "deletionTimestamp": "2025-01-01T00:00:00Z",
                     "labels": {"clima.io/pipeline": "demo",
                                "app.kubernetes.io/component": "writer"}},
        "spec": {"containers": [{"name": "writer", "env": env}]},
        "status": {"phase": "Running"},
    }  # fmt: skip
    reconciler.reconcile("ns", "demo")
    assert JOB not in _children(cluster)
    assert ("Deployment", "demo-rabbit-consumer") in _children(cluster)
    assert "1 writer pod(s) still publish" in _condition(cluster, "RabbitmqDraining")["message"]
    del cluster.objects[("Pod", "ns", "demo-writer-old")]
    reconciler.reconcile("ns", "demo")
    assert JOB in _children(cluster)


def test_a_restarted_operator_resumes_the_drain(cluster: Any, events: Any) -> None:
    """A new operator (nothing in memory) finds the drain from the cluster: it writes
    nothing while the Job runs and removes RabbitMQ once it succeeded."""
    _switched_to_kafka(cluster, events)
    cluster.mark_ready()
    _reconciler(cluster, events).reconcile("ns", "demo")
    cluster.writes.clear()
    restarted = _reconciler(cluster, events)
    restarted.reconcile("ns", "demo")
    assert cluster.writes == []
    _finish_job(cluster)
    restarted.reconcile("ns", "demo")
    assert ("StatefulSet", "demo-rabbitmq") in _deleted(cluster)


def test_switching_back_cancels_the_drain(cluster: Any, events: Any) -> None:
    """both -> kafka -> both during the drain: the Job goes, the consumer comes back, and
    RabbitMQ is never deleted."""
    reconciler = _switched_to_kafka(cluster, events)
    cluster.mark_ready()
    reconciler.reconcile("ns", "demo")
    assert JOB in _children(cluster)
    cluster.set_spec("demo", {"mode": "both", "networkPolicies": {"enabled": True}})
    reconciler.reconcile("ns", "demo")
    assert JOB not in _children(cluster)
    assert _children(cluster) >= RABBIT_CHILDREN
    assert not {("StatefulSet", "demo-rabbitmq"), ("Service", "demo-rabbitmq")} & _deleted(cluster)
    assert "RabbitmqDraining" not in {c["type"] for c in _status(cluster)["conditions"]}


def test_a_failed_drain_job_is_replaced(cluster: Any, events: Any) -> None:
    """A drain Job that failed is deleted with a Warning and a new one started; RabbitMQ
    stays meanwhile."""
    reconciler = _switched_to_kafka(cluster, events)
    cluster.mark_ready()
    reconciler.reconcile("ns", "demo")
    cluster.child(*JOB)["status"] = {"conditions": [{"type": "Failed", "status": "True"}]}
    reconciler.reconcile("ns", "demo")
    assert JOB in _deleted(cluster)
    assert "DrainJobFailed" in events.reasons()
    assert ("StatefulSet", "demo-rabbitmq") in _children(cluster)
    reconciler.reconcile("ns", "demo")
    assert JOB in _children(cluster)


def test_deleted_child_comes_back(cluster: Any, events: Any) -> None:
    """A Deployment deleted by hand is recreated on the next pass."""
    cluster.add_pipeline()
    reconciler = _reconciler(cluster, events)
    reconciler.reconcile("ns", "demo")
    del cluster.objects[("Deployment", "ns", "demo-proxy")]
    reconciler.reconcile("ns", "demo")
    assert ("Deployment", "ns", "demo-proxy") in cluster.objects
    assert ("Normal", "Created", "Deployment demo-proxy") in events.posted


def test_credentials_are_never_regenerated(cluster: Any, events: Any) -> None:
    """The Secret is created once; later passes keep its values and only fill missing keys."""
    cluster.add_pipeline()
    reconciler = _reconciler(cluster, events)
    reconciler.reconcile("ns", "demo")
    secret = cluster.child("Secret", "demo-credentials")
    original = dict(secret["data"])
    del secret["data"]["grafana-admin-password"]
    reconciler.reconcile("ns", "demo")
    now = cluster.child("Secret", "demo-credentials")["data"]
    assert now["rabbitmq-password"] == original["rabbitmq-password"]
    assert now["valkey-password"] == original["valkey-password"]
    assert now["grafana-admin-password"] != original["grafana-admin-password"]


def test_suspended_pipeline_is_left_alone(cluster: Any, events: Any) -> None:
    """While suspended, a deleted child is not recreated and status says Suspended."""
    cluster.add_pipeline()
    reconciler = _reconciler(cluster, events)
    reconciler.reconcile("ns", "demo")
    cluster.set_spec("demo", {"suspend": True})
    del cluster.objects[("Deployment", "ns", "demo-writer")]
    cluster.writes.clear()
    assert reconciler.reconcile("ns", "demo") is Outcome.SUSPENDED
    assert [w for w in cluster.writes if w[0] != "status"] == []
    assert _condition(cluster, "Ready")["reason"] == "Suspended"
    assert _condition(cluster, "WriterReady")["reason"] == "Missing"
    cluster.set_spec("demo", {"suspend": False})
    reconciler.reconcile("ns", "demo")
    assert ("Deployment", "ns", "demo-writer") in cluster.objects


def test_invalid_spec_reports_and_touches_nothing(cluster: Any, events: Any) -> None:
    """A spec the model refuses yields Ready=False/InvalidSpec naming the field, no child writes."""
    cluster.add_pipeline(spec={"kafka": {"type": "external"}})
    assert _reconciler(cluster, events).reconcile("ns", "demo") is Outcome.INVALID
    ready = _condition(cluster, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "spec.kafka" in ready["message"]
    assert [w for w in cluster.writes if w[0] != "status"] == []
    assert events.posted[-1][:2] == ("Warning", "InvalidSpec")


def test_no_image_anywhere_is_an_invalid_spec_naming_spec_image(cluster: Any, events: Any) -> None:
    """Without spec.image and without the operator's own image, nothing is created."""
    cluster.add_pipeline()
    bare = Reconciler(cluster, events, now=lambda: "2025-01-01T00:00:00Z")
    assert bare.reconcile("ns", "demo") is Outcome.INVALID
    ready = _condition(cluster, "Ready")
    assert ready["reason"] == "InvalidSpec"
    assert "spec.image" in ready["message"]
    assert [w for w in cluster.writes if w[0] != "status"] == []


def test_empty_image_runs_the_operators_own(cluster: Any, events: Any) -> None:
    """A pipeline without spec.image gets the image the operator was started with."""
    cluster.add_pipeline()
    _reconciler(cluster, events).reconcile("ns", "demo")
    writer = cluster.child("Deployment", "demo-writer")
    assert writer["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE


def test_refused_child_degrades_but_others_apply(cluster: Any, events: Any) -> None:
    """A child the API server refuses marks its component failed; the rest still converge."""
    cluster.add_pipeline()
    cluster.reject[("StatefulSet", "demo-kafka")] = "spec: Forbidden: updates to statefulset spec"
    reconciler = _reconciler(cluster, events)
    reconciler.reconcile("ns", "demo")
    assert ("Deployment", "ns", "demo-writer") in cluster.objects
    kafka = _condition(cluster, "KafkaReady")
    assert kafka["reason"] == "ApplyFailed"
    assert "Forbidden" in kafka["message"]
    assert _condition(cluster, "Degraded")["status"] == "True"
    failures = [e for e in events.posted if e[1] == "ApplyFailed"]
    reconciler.reconcile("ns", "demo")
    assert [e for e in events.posted if e[1] == "ApplyFailed"] == failures  # no repeat


def test_api_failure_is_reported_and_raised(cluster: Any, events: Any) -> None:
    """An API error shows as ReconcileFailed in status, then propagates for a retry."""
    cluster.add_pipeline()
    _reconciler(cluster, events).reconcile("ns", "demo")  # the children exist: later passes apply
    cluster.set_spec("demo", {"proxy": {"replicas": 2}})
    original = cluster.apply

    def failing(manifest: dict[str, Any], sub: str | None = None) -> dict[str, Any]:
        if sub is None:
            raise ClusterError(503, "etcd is sad")
        return original(manifest, sub)  # type: ignore[no-any-return]

    cluster.apply = failing
    with pytest.raises(ClusterError):
        _reconciler(cluster, events).reconcile("ns", "demo")
    assert _condition(cluster, "Ready")["reason"] == "ReconcileFailed"
    assert events.posted[-1][:2] == ("Warning", "ReconcileFailed")


def test_gone_pipeline_is_a_no_op(cluster: Any, events: Any) -> None:
    """Reconciling a deleted or deleting pipeline does nothing."""
    assert _reconciler(cluster, events).reconcile("ns", "nope") is Outcome.GONE
    body = cluster.add_pipeline()
    body["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    assert _reconciler(cluster, events).reconcile("ns", "demo") is Outcome.GONE
    assert cluster.writes == []


def test_triggers_coalesce(cluster: Any, events: Any) -> None:
    """While one pass runs and another waits, further triggers for that pipeline are dropped."""
    cluster.add_pipeline()
    reconciler = _reconciler(cluster, events)
    entered, release = threading.Event(), threading.Event()
    original = cluster.get

    def slow_get(*args: Any) -> Any:
        entered.set()
        release.wait(5)
        return original(*args)

    cluster.get = slow_get
    results: list[Outcome] = []
    first = threading.Thread(target=lambda: results.append(reconciler.reconcile("ns", "demo")))
    first.start()
    entered.wait(5)
    second = threading.Thread(target=lambda: results.append(reconciler.reconcile("ns", "demo")))
    second.start()
    for _ in range(100):  # give the second thread time to queue
        if reconciler._gate._slots[("ns", "demo")].queued:
            break
        threading.Event().wait(0.01)
    assert reconciler.reconcile("ns", "demo") is Outcome.SKIPPED
    release.set()
    first.join(5)
    second.join(5)
    assert results.count(Outcome.RECONCILED) == 2


def test_event_failures_do_not_fail_the_pass(cluster: Any) -> None:
    """A refused Event is logged; the pass still creates the children."""

    def refusing(*args: Any) -> None:
        raise ClusterError(403, "events is forbidden")

    cluster.add_pipeline()
    assert _reconciler(cluster, refusing).reconcile("ns", "demo") is Outcome.RECONCILED
    assert ("Deployment", "ns", "demo-api") in cluster.objects


def test_an_object_of_someone_else_is_never_taken_over(cluster: Any, events: Any) -> None:
    """A Deployment of the child's name that the pipeline does not own is left exactly as it
    is; the pass says so (Event, Degraded) and still creates every other child."""
    cluster.add_pipeline()
    foreign = {"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "demo-writer", "namespace": "ns", "labels": {"team": "x"}},
               "spec": {"replicas": 7, "template": {"spec": {"containers": []}}}}  # fmt: skip
    cluster.create(foreign)
    before = copy.deepcopy(cluster.child("Deployment", "demo-writer"))
    _reconciler(cluster, events).reconcile("ns", "demo")
    assert cluster.child("Deployment", "demo-writer") == before
    failed = [m for kind, reason, m in events.posted if reason == "ApplyFailed"]
    assert any("demo-writer" in m and "not this pipeline's" in m for m in failed), failed
    assert cluster.child("Deployment", "demo-api")["metadata"]["ownerReferences"]
    assert _condition(cluster, "Ready")["status"] == "False"


def test_an_own_child_that_lost_its_labels_is_applied_again(cluster: Any, events: Any) -> None:
    """A child the pipeline controls but no longer finds by label is its own: it is applied
    (labels restored), not reported as someone else's."""
    cluster.add_pipeline()
    _reconciler(cluster, events).reconcile("ns", "demo")
    cluster.child("Deployment", "demo-writer")["metadata"]["labels"] = {}
    _reconciler(cluster, events).reconcile("ns", "demo")
    labels = cluster.child("Deployment", "demo-writer")["metadata"]["labels"]
    assert labels["clima.io/pipeline"] == "demo"
    assert "ApplyFailed" not in events.reasons()
