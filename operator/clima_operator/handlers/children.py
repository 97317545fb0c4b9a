"""Handlers of the Deployments and StatefulSets the operator made: any change re-reconciles.

A child deleted by hand comes back at once, and the pipeline's status follows its
children's readiness without waiting for the periodic pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from clima_operator.children import MANAGED_BY
from clima_operator.crd import GROUP, KIND
from clima_operator.handlers import run
from clima_operator.reconciler import Reconciler

WATCHED = (("apps", "v1", "deployments"), ("apps", "v1", "statefulsets"))


def owning_pipeline(body: Mapping[str, Any]) -> str | None:
    """Name of the ClimaPipeline controlling a child, if any."""
    for ref in body.get("metadata", {}).get("ownerReferences") or []:
        group = str(ref.get("apiVersion", "")).split("/")[0]
        if ref.get("controller") and ref.get("kind") == KIND and group == GROUP:
            return str(ref["name"])
    return None


def register(registry: kopf.OperatorRegistry, reconciler: Reconciler) -> None:
    """Watch the operator's Deployments and StatefulSets."""

    def on_child(*, body: kopf.Body, namespace: str | None, **_: Any) -> None:
        pipeline = owning_pipeline(body)
        if pipeline is not None and namespace is not None:
            run(reconciler, namespace, pipeline, "child")

    labels = {"app.kubernetes.io/managed-by": MANAGED_BY}
    for group, version, plural in WATCHED:
        kopf.on.event(
            group, version, plural, id=f"child-{plural}", labels=labels, registry=registry
        )(on_child)
