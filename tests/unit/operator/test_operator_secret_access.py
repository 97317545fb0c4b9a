"""A pipeline's pods read a Secret of the namespace only when that Secret allows the pipeline
(annotation clima.io/allowed-pipelines): writing a ClimaPipeline is not reading Secrets."""

from __future__ import annotations

from typing import Any

import pytest

from clima_operator.reconciler import Outcome, Reconciler

IMAGE = "r.example/clima/clima:0.1.0"
ELSEWHERE = "collector.example:6379"


def _spec(secret: str = "db-password", key: str = "password") -> dict[str, Any]:
    external = {"address": ELSEWHERE, "secretRef": {"name": secret, "key": key}}
    return {"mode": "kafka", "valkey": {"type": "external", "external": external}}


def _reconcile(cluster: Any, events: Any) -> Outcome:
    now = "2025-01-01T00:00:00Z"
    return Reconciler(cluster, events, default_image=IMAGE, now=lambda: now).reconcile("ns", "demo")


def _ready(cluster: Any) -> dict[str, Any]:
    status = cluster.child("ClimaPipeline", "demo")["status"]
    return dict(next(c for c in status["conditions"] if c["type"] == "Ready"))


def _consumers(cluster: Any) -> list[str]:
    names = [name for kind, _, name in cluster.objects if kind == "Deployment"]
    return [name for name in names if "consumer" in name]


@pytest.mark.parametrize("allowed", [None, "", "other", "other, demo2"])
def test_a_secret_that_does_not_allow_the_pipeline_makes_it_invalid(
    cluster: Any, events: Any, allowed: str | None
) -> None:
    """Another app's Secret named with an address of the tenant's choosing: the pipeline is
    Invalid, naming the field and the annotation that would allow it, and no pod that could
    read the Secret is created."""
    cluster.add_secret("db-password", {"password": "c2VjcmV0"}, allowed=allowed)
    cluster.add_pipeline(spec=_spec())
    assert _reconcile(cluster, events) is Outcome.INVALID
    ready = _ready(cluster)
    assert ready["status"] == "False"
    assert "spec.valkey.external.secretRef" in ready["message"]
    assert "does not allow pipeline demo" in ready["message"]
    assert "kubectl annotate secret db-password clima.io/allowed-pipelines=demo" in ready["message"]
    assert _consumers(cluster) == []


@pytest.mark.parametrize("allowed", ["demo", "*", "other,demo", " demo , other"])
def test_a_secret_that_allows_the_pipeline_is_used(cluster: Any, events: Any, allowed: str) -> None:
    """Named in the annotation (or *), the Secret is referenced as before."""
    cluster.add_secret("db-password", {"password": "c2VjcmV0"}, allowed=allowed)
    cluster.add_pipeline(spec=_spec())
    assert _reconcile(cluster, events) is Outcome.RECONCILED
    assert _consumers(cluster) == ["demo-kafka-consumer"]


@pytest.mark.parametrize(
    ("spec", "says"),
    [(_spec(secret="nowhere"), "Secret nowhere does not exist"),
     (_spec(key="token"), "Secret db-password has no key token")],
)  # fmt: skip
def test_a_missing_secret_or_key_is_named(
    cluster: Any, events: Any, spec: dict[str, Any], says: str
) -> None:
    """A Secret or key that is not there is said at once, not left to a pod that cannot start."""
    cluster.add_secret("db-password", {"password": "c2VjcmV0"}, allowed="demo")
    cluster.add_pipeline(spec=spec)
    assert _reconcile(cluster, events) is Outcome.INVALID
    assert says in _ready(cluster)["message"]


def test_an_external_rabbitmq_the_mode_does_not_use_needs_no_grant(
    cluster: Any, events: Any
) -> None:
    """Only Secrets the pods would read are checked."""
    external = {"address": ELSEWHERE, "secretRef": {"name": "unrelated"}}
    cluster.add_pipeline(spec={"mode": "kafka", "rabbitmq": {"type": "external",
                                                             "external": external}})  # fmt: skip
    assert _reconcile(cluster, events) is Outcome.RECONCILED
