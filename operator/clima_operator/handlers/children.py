"""Handlers of the operator's Deployments, StatefulSets and drain Jobs and of their pods.

Any change of a Deployment, StatefulSet or Job re-reconciles its pipeline, so a child
deleted by hand comes back at once, the status follows its children's readiness and a
broker is removed as soon as its drain Job succeeds, without waiting for the periodic pass.
A pod re-reconciles its pipeline (named by its ``clima.io/pipeline`` label) only when
something its component's condition reads changes: the pod going bad (an image that cannot
be pulled, a crash loop, no node for it) or good again, so the status says so within
seconds while the many other pod updates cost nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import kopf

from clima_operator.children import MANAGED_BY, PIPELINE_LABEL
from clima_operator.crd import GROUP, KIND
from clima_operator.handlers import run
from clima_operator.reconciler import Reconciler
from clima_operator.status.pods import signal

WATCHED = (
    ("apps", "v1", "deployments"),
    ("apps", "v1", "statefulsets"),
    ("batch", "v1", "jobs"),
)
PODS = ("v1", "pods")
#: Only objects the operator made (and their pods) carry this; the API server filters on it.
MANAGED = f"app.kubernetes.io/managed-by={MANAGED_BY}"


def owning_pipeline(body: Mapping[str, Any]) -> str | None:
    """Name of the ClimaPipeline controlling a child, if any."""
    for ref in body.get("metadata", {}).get("ownerReferences") or []:
        group = str(ref.get("apiVersion", "")).split("/")[0]
        if ref.get("controller") and ref.get("kind") == KIND and group == GROUP:
            return str(ref["name"])
    return None


class PodSignals:
    """The last :func:`signal` seen per pod, to tell a telling pod update from noise."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[Any, ...]] = {}

    def changed(self, uid: str, pod: Mapping[str, Any], gone: bool) -> bool:
        """Whether this update of the pod may change its component's condition."""
        with self._lock:
            if gone:
                return self._seen.pop(uid, None) is not None
            now = signal(pod)
            before = self._seen.get(uid)
            self._seen[uid] = now
            return before != now


def select_server_side(settings: kopf.OperatorSettings) -> None:
    """Have the API server send only the operator's own children and pods.

    kopf before 1.45 has no server-side selectors; the handlers' ``labels`` filter then
    drops the other objects on arrival instead.
    """
    selectors = getattr(settings.watching, "label_selectors", None)
    if selectors is None:
        return
    for group, version, plural in WATCHED:
        selectors[group, version, plural] = MANAGED
    selectors[PODS] = MANAGED


def register(registry: kopf.OperatorRegistry, reconciler: Reconciler) -> None:
    """Watch the operator's Deployments, StatefulSets, Jobs and their pods."""

    def on_child(*, body: kopf.Body, namespace: str | None, **_: Any) -> None:
        pipeline = owning_pipeline(body)
        if pipeline is not None and namespace is not None:
            run(reconciler, namespace, pipeline, "child")

    signals = PodSignals()

    def on_pod(*, body: kopf.Body, namespace: str | None, type: str | None, **_: Any) -> None:
        pipeline = body.get("metadata", {}).get("labels", {}).get(PIPELINE_LABEL)
        uid = str(body.get("metadata", {}).get("uid", ""))
        if pipeline is None or namespace is None:
            return
        if signals.changed(uid, body, gone=type == "DELETED"):
            run(reconciler, namespace, str(pipeline), "pod")

    labels = {"app.kubernetes.io/managed-by": MANAGED_BY}
    for group, version, plural in WATCHED:
        kopf.on.event(
            group, version, plural, id=f"child-{plural}", labels=labels, registry=registry
        )(on_child)
    kopf.on.event(*PODS, id="child-pods", labels=labels, registry=registry)(on_pod)
