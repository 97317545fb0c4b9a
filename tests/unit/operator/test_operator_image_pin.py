"""A pipeline without spec.image keeps the Clima image it was first reconciled with."""

from __future__ import annotations

from typing import Any

from clima_operator.children import IMAGE_ANNOTATION
from clima_operator.reconciler import Outcome, Reconciler

OLD = "r.example/clima/clima:0.1.0"
NEW = "r.example/clima/clima:0.2.0"


def _operator(cluster: Any, events: Any, image: str) -> Reconciler:
    return Reconciler(cluster, events, default_image=image, now=lambda: "2025-01-01T00:00:00Z")


def _images(cluster: Any) -> set[str]:
    """Every container image of the pipeline's Clima Deployments (Grafana has its own)."""
    return {
        container["image"]
        for (kind, _, name), obj in cluster.objects.items()
        if kind == "Deployment" and not name.endswith("-grafana")
        for container in obj["spec"]["template"]["spec"]["containers"]
    }


def test_first_reconcile_records_the_operators_image(cluster: Any, events: Any) -> None:
    """The image is written to the annotation, announced, and shown in status.image."""
    cluster.add_pipeline()
    assert _operator(cluster, events, OLD).reconcile("ns", "demo") is Outcome.RECONCILED
    pipeline = cluster.child("ClimaPipeline", "demo")
    assert pipeline["metadata"]["annotations"][IMAGE_ANNOTATION] == OLD
    assert pipeline["status"]["image"] == OLD
    assert "ImagePinned" in events.reasons()
    assert _images(cluster) == {OLD}


def test_an_upgraded_operator_does_not_roll_a_pinned_pipeline(cluster: Any, events: Any) -> None:
    """An operator with a newer image leaves the pipeline's Deployments exactly as they were."""
    cluster.add_pipeline()
    _operator(cluster, events, OLD).reconcile("ns", "demo")
    deployments_before = {
        key: obj["metadata"]["generation"]
        for key, obj in cluster.objects.items()
        if key[0] == "Deployment"
    }
    assert _operator(cluster, events, NEW).reconcile("ns", "demo") is Outcome.RECONCILED
    assert _images(cluster) == {OLD}
    after = {key: obj["metadata"]["generation"] for key, obj in cluster.objects.items()
             if key[0] == "Deployment"}  # fmt: skip
    assert after == deployments_before
    assert cluster.child("ClimaPipeline", "demo")["status"]["image"] == OLD


def test_removing_the_annotation_opts_in_to_the_operators_image(cluster: Any, events: Any) -> None:
    """Without the annotation the next pass records and rolls to the running operator's image."""
    cluster.add_pipeline()
    _operator(cluster, events, OLD).reconcile("ns", "demo")
    del cluster.child("ClimaPipeline", "demo")["metadata"]["annotations"][IMAGE_ANNOTATION]
    _operator(cluster, events, NEW).reconcile("ns", "demo")
    assert _images(cluster) == {NEW}
    pipeline = cluster.child("ClimaPipeline", "demo")
    assert pipeline["metadata"]["annotations"][IMAGE_ANNOTATION] == NEW


def test_spec_image_wins_and_records_nothing(cluster: Any, events: Any) -> None:
    """A pipeline that names its image is never annotated and runs what it names."""
    cluster.add_pipeline(spec={"image": "mine.example/clima:7.0.0"})
    _operator(cluster, events, OLD).reconcile("ns", "demo")
    assert IMAGE_ANNOTATION not in (cluster.child("ClimaPipeline", "demo")["metadata"].get(
        "annotations") or {})  # fmt: skip
    assert _images(cluster) == {"mine.example/clima:7.0.0"}
    assert "ImagePinned" not in events.reasons()


def test_an_unusable_annotation_is_refused_by_name(cluster: Any, events: Any) -> None:
    """A hand-edited annotation that is no image reference makes the pipeline Invalid, naming it."""
    body = cluster.add_pipeline()
    body["metadata"]["annotations"] = {IMAGE_ANNOTATION: "not an image"}
    assert _operator(cluster, events, OLD).reconcile("ns", "demo") is Outcome.INVALID
    status = cluster.child("ClimaPipeline", "demo")["status"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert IMAGE_ANNOTATION in ready["message"]
    assert _images(cluster) == set()
