"""Placement and disruptions: what every pod template and every multi-pod component gets.

Every pod the operator builds (Deployments, StatefulSets, drain Jobs) gets its component's
pod settings (``spec.pod`` merged with ``spec.<component>.pod``: nodeSelector, tolerations,
affinity, priorityClassName, extra labels and annotations) and a soft topology spread over
nodes and zones. Every component that runs more than one pod gets a PodDisruptionBudget
allowing one pod at a time to be evicted, so a node drain never takes a component away.

A Deployment's pods leave a node that stopped answering after NODE_LOST_S, not Kubernetes'
default 300 s: they hold no data, so a replacement elsewhere is what restores the service. A
StatefulSet's pods keep the default: Kubernetes does not replace them until the node is
deleted (or back) anyway, since it cannot tell they stopped.
"""

from __future__ import annotations

import copy
from typing import Any

from clima_operator.children._meta import (
    COMPONENT_LABEL,
    WORKLOAD_KINDS,
    Context,
    Manifest,
    metadata,
    selector_labels,
)
from clima_operator.spec import PipelineSpec, PodSettings

SPREAD_KEYS = ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
NODE_LOST_S = 30
#: the taints a node gets when it is NotReady or stops reporting (NoExecute evicts)
NODE_FAILURE_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")


def pod_settings(spec: PipelineSpec, component: str) -> PodSettings:
    """The component's pod settings merged over the pipeline's."""
    own: dict[str, PodSettings | None] = {
        "api": spec.api.pod,
        "proxy": spec.proxy.pod,
        "writer": spec.writer.pod,
        "kafka-consumer": spec.kafka_consumer.pod,
        "rabbit-consumer": spec.rabbit_consumer.pod,
        "kafka": spec.kafka.managed.pod,
        "rabbitmq": spec.rabbitmq.managed.pod,
        "valkey": spec.valkey.managed.pod,
        "grafana": spec.grafana.pod,
    }
    found = own.get(component)
    return found.over(spec.pod) if found is not None else spec.pod


def spread(labels: dict[str, str]) -> list[dict[str, Any]]:
    """Soft spread of one component's pods over nodes, then zones: the scheduler prefers
    balance but still places a pod where only one node or zone has room."""
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(labels)},
        }
        for key in SPREAD_KEYS
    ]


def place_template(
    template: dict[str, Any], settings: PodSettings, selector: dict[str, str]
) -> None:
    """Merges the settings and the spread into a pod template (in place). Clima's own labels
    and annotations win: the spec model refuses their prefixes anyway."""
    meta = template.setdefault("metadata", {})
    meta["labels"] = {**settings.labels, **meta.get("labels", {})}
    annotations = {**settings.annotations, **meta.get("annotations", {})}
    if annotations:
        meta["annotations"] = annotations
    spec = template["spec"]
    if settings.node_selector:
        spec["nodeSelector"] = dict(settings.node_selector)
    if settings.tolerations:
        spec["tolerations"] = [
            t.model_dump(by_alias=True, exclude_none=True) for t in settings.tolerations
        ]
    if settings.affinity:
        spec["affinity"] = copy.deepcopy(settings.affinity)
    if settings.priority_class_name:
        spec["priorityClassName"] = settings.priority_class_name
    spec["topologySpreadConstraints"] = spread(selector)


def _template(manifest: Manifest) -> dict[str, Any] | None:
    if manifest.get("kind") not in WORKLOAD_KINDS:
        return None
    template: dict[str, Any] = manifest["spec"]["template"]
    return template


def leave_lost_nodes(spec: dict[str, Any]) -> None:
    """Tolerates a failed node's NoExecute taints for NODE_LOST_S only (in place), unless
    the pod's own tolerations already say how long for that taint."""
    own = {(t.get("key"), t.get("effect")) for t in spec.get("tolerations", [])}
    added = [
        {"key": key, "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": NODE_LOST_S}
        for key in NODE_FAILURE_TAINTS
        if (key, "NoExecute") not in own
    ]  # fmt: skip
    if added:
        spec["tolerations"] = [*spec.get("tolerations", []), *added]


def place(ctx: Context, manifests: list[Manifest]) -> list[Manifest]:
    """The manifests with every workload's pod template placed (in place; returned)."""
    for manifest in manifests:
        template = _template(manifest)
        if template is not None:
            component = template["metadata"]["labels"].get(COMPONENT_LABEL, "")
            settings = pod_settings(ctx.spec, component)
            place_template(template, settings, selector_labels(ctx.owner, component))
            if manifest["kind"] == "Deployment":
                leave_lost_nodes(template["spec"])
    return manifests


def _pods_at_least(manifest: Manifest, spec: PipelineSpec) -> int:
    """The fewest pods the workload runs: its replicas, or the api autoscaler's minimum."""
    replicas = manifest["spec"].get("replicas")
    if replicas is None and spec.api.autoscaling.enabled:
        return spec.api.autoscaling.min_replicas
    return int(replicas or 0)


def budgets(ctx: Context, manifests: list[Manifest]) -> list[Manifest]:
    """A PodDisruptionBudget (one pod evicted at a time) per Deployment or StatefulSet that
    runs more than one pod."""
    found = []
    for manifest in manifests:
        if manifest.get("kind") not in ("Deployment", "StatefulSet"):
            continue
        if _pods_at_least(manifest, ctx.spec) < 2:
            continue
        component = manifest["spec"]["template"]["metadata"]["labels"][COMPONENT_LABEL]
        found.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": metadata(ctx.owner, component, manifest["metadata"]["name"]),
                "spec": {
                    "maxUnavailable": 1,
                    "selector": {"matchLabels": selector_labels(ctx.owner, component)},
                },
            }
        )
    return found
