"""A store's volumes cannot change through its StatefulSet (the API server refuses the whole
update): a new storage size or class is kept back, every other change still applies, and the
store's condition gives the way to grow the volumes by hand."""

from __future__ import annotations

from typing import Any

from clima_operator.children import kept_volumes
from clima_operator.reconciler import Reconciler

IMAGE = "r.example/clima/clima:0.1.0"


def _reconciler(cluster: Any, events: Any) -> Reconciler:
    return Reconciler(cluster, events, default_image=IMAGE, now=lambda: "2025-01-01T00:00:00Z")


def _claim(cluster: Any, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = cluster.child("StatefulSet", name)["spec"]["volumeClaimTemplates"][0]
    return dict(spec["spec"])


def _condition(cluster: Any, kind: str) -> dict[str, Any]:
    status = cluster.child("ClimaPipeline", "demo")["status"]
    return dict(next(c for c in status["conditions"] if c["type"] == kind))


def _valkey(size: str, memory: str = "256Mi") -> dict[str, Any]:
    managed = {"storage": {"size": size}, "resources": {"limits": {"memory": memory}}}
    return {"mode": "kafka", "valkey": {"managed": managed}}


def test_a_bigger_volume_is_kept_back_and_the_way_to_grow_it_is_named(
    cluster: Any, events: Any
) -> None:
    cluster.add_pipeline(spec=_valkey("1Gi"))
    reconciler = _reconciler(cluster, events)
    reconciler.reconcile("ns", "demo")
    cluster.mark_ready()
    reconciler.reconcile("ns", "demo")
    cluster.set_spec("demo", _valkey("5Gi", memory="512Mi"))
    reconciler.reconcile("ns", "demo")
    assert _claim(cluster, "demo-valkey")["resources"]["requests"]["storage"] == "1Gi"
    container = cluster.child("StatefulSet", "demo-valkey")["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert container["resources"]["limits"]["memory"] == "512Mi", "other changes still apply"
    condition = _condition(cluster, "ValkeyReady")
    assert (condition["status"], condition["reason"]) == ("False", "ApplyFailed")
    message = condition["message"]
    assert "spec.valkey.managed.storage asks for size 5Gi (the volumes have 1Gi)" in message
    assert "kubectl -n ns patch pvc data-demo-valkey-<ordinal>" in message
    assert "kubectl -n ns delete statefulset demo-valkey --cascade=orphan" in message


def test_the_same_size_written_another_way_is_no_change() -> None:
    """The API server may give 2048Mi back as 2Gi: no change, nothing kept back."""

    def statefulset(size: str, klass: str | None = None) -> dict[str, Any]:
        spec: dict[str, Any] = {"resources": {"requests": {"storage": size}}}
        if klass:
            spec["storageClassName"] = klass
        return {"kind": "StatefulSet",
                "metadata": {"name": "demo-kafka", "namespace": "ns",
                             "labels": {"app.kubernetes.io/component": "kafka"}},
                "spec": {"volumeClaimTemplates": [{"metadata": {"name": "data"},
                                                   "spec": spec}]}}  # fmt: skip

    assert kept_volumes(statefulset("2048Mi"), statefulset("2Gi")) is None
    assert kept_volumes(statefulset("2Gi"), None) is None
    wanted = statefulset("2Gi", "fast")
    message = kept_volumes(wanted, statefulset("2Gi"))
    assert message is not None
    assert "storage class fast (the volumes have the default)" in message
    assert "storageClassName" not in wanted["spec"]["volumeClaimTemplates"][0]["spec"]
