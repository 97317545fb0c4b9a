"""Placement and disruptions: pod settings merged into every pod, soft spread, budgets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from clima_operator import drain
from clima_operator.children import Context, desired
from clima_operator.errors import InvalidSpecError
from clima_operator.spec import parse_spec

Build = Callable[..., Context]
WORKLOADS = ("Deployment", "StatefulSet", "Job")
LEAVE_LOST_NODES = [
    {"key": f"node.kubernetes.io/{taint}", "operator": "Exists", "effect": "NoExecute",
     "tolerationSeconds": 30}
    for taint in ("not-ready", "unreachable")
]  # fmt: skip


def _workloads(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] in WORKLOADS}


def _pod(workload: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = workload["spec"]["template"]
    return pod


def test_every_pod_spreads_softly_over_nodes_and_zones(make_ctx: Build) -> None:
    """Each template spreads its own component's pods (selector labels), never blocking."""
    for name, workload in _workloads(desired(make_ctx())).items():
        pod = _pod(workload)
        constraints = pod["spec"]["topologySpreadConstraints"]
        assert [c["topologyKey"] for c in constraints] == [
            "kubernetes.io/hostname",
            "topology.kubernetes.io/zone",
        ], name
        assert {c["whenUnsatisfiable"] for c in constraints} == {"ScheduleAnyway"}
        selector = workload["spec"]["selector"]["matchLabels"]
        assert all(c["labelSelector"]["matchLabels"] == selector for c in constraints), name


def test_pipeline_pod_settings_reach_every_pod_and_components_override(make_ctx: Build) -> None:
    """spec.pod goes to every pod; spec.writer.pod merges maps and replaces tolerations."""
    taint = {"key": "dedicated", "operator": "Equal", "value": "clima", "effect": "NoSchedule"}
    ctx = make_ctx(
        {
            "pod": {
                "nodeSelector": {"pool": "clima", "disk": "ssd"},
                "tolerations": [taint],
                "priorityClassName": "clima-high",
                "labels": {"team": "weather"},
                "annotations": {"example.com/owner": "platform"},
            },
            "writer": {"pod": {"nodeSelector": {"pool": "writers"}, "tolerations": []}},
            "valkey": {"managed": {"pod": {"affinity": {"nodeAffinity": {"x": 1}}}}},
        }
    )
    workloads = _workloads(desired(ctx))
    for name, workload in workloads.items():
        pod = _pod(workload)
        assert pod["spec"]["priorityClassName"] == "clima-high", name
        assert pod["metadata"]["labels"]["team"] == "weather", name
        assert pod["metadata"]["labels"]["app.kubernetes.io/instance"] == "demo", name
        assert pod["metadata"]["annotations"]["example.com/owner"] == "platform", name
        assert "clima.io/config-checksum" in pod["metadata"]["annotations"], name
        own = [t for t in pod["spec"].get("tolerations", []) if t not in LEAVE_LOST_NODES]
        if name == "demo-writer":
            assert pod["spec"]["nodeSelector"] == {"pool": "writers", "disk": "ssd"}
            assert own == []
        else:
            assert pod["spec"]["nodeSelector"] == {"pool": "clima", "disk": "ssd"}, name
            assert own == [taint], name
    assert _pod(workloads["demo-valkey"])["spec"]["affinity"] == {"nodeAffinity": {"x": 1}}
    assert "affinity" not in _pod(workloads["demo-api"])["spec"]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"pod": {"labels": {"app.kubernetes.io/name": "x"}}}, "spec.pod.labels"),
        ({"api": {"pod": {"annotations": {"clima.io/image": "x"}}}}, "spec.api.pod.annotations"),
        ({"pod": {"nodeSelector": {"bad key!": "x"}}}, "spec.pod.nodeSelector"),
        ({"pod": {"tolerations": [{"operator": "Sometimes"}]}}, "spec.pod.tolerations.0.operator"),
    ],
)
def test_bad_pod_settings_are_refused_naming_the_field(spec: dict[str, Any], field: str) -> None:
    """Clima's own label and annotation prefixes, bad keys and operators name the field."""
    with pytest.raises(InvalidSpecError) as caught:
        parse_spec(spec)
    assert field in str(caught.value)


def test_a_budget_for_each_component_of_several_pods(make_ctx: Build) -> None:
    """Two proxies and an api autoscaled from 2 get budgets of one eviction at a time; single
    pods and stores get none (a budget on one pod would block every node drain)."""
    ctx = make_ctx(
        {"proxy": {"replicas": 2}, "api": {"autoscaling": {"enabled": True, "minReplicas": 2}}}
    )
    budgets = {o["metadata"]["name"]: o for o in desired(ctx) if o["kind"] == "PodDisruptionBudget"}
    assert set(budgets) == {"demo-proxy", "demo-api"}
    proxy = budgets["demo-proxy"]["spec"]
    assert proxy["maxUnavailable"] == 1
    workloads = _workloads(desired(ctx))
    assert proxy["selector"] == workloads["demo-proxy"]["spec"]["selector"]
    assert budgets["demo-api"]["metadata"]["ownerReferences"][0]["uid"] == ctx.owner.uid
    assert not [o for o in desired(make_ctx()) if o["kind"] == "PodDisruptionBudget"]


def test_a_drain_consumer_is_placed_like_the_rest(make_ctx: Build) -> None:
    """The consumer kept for a leaving broker gets the pipeline's pod settings too."""
    ctx = make_ctx({"mode": "kafka", "pod": {"nodeSelector": {"pool": "clima"}}})
    leaving = drain.Drain(drain.RABBIT, drain.Stage.WRITERS, "writers rolling out")
    kept = _workloads(drain.manifests(ctx, [leaving]))
    consumer = kept["demo-rabbit-consumer"]
    assert _pod(consumer)["spec"]["nodeSelector"] == {"pool": "clima"}
    assert _pod(kept["demo-rabbitmq"])["spec"]["nodeSelector"] == {"pool": "clima"}


def test_deployments_leave_a_lost_node_after_30_s_and_stores_keep_the_default(
    make_ctx: Build,
) -> None:
    """Stateless pods are replaced 30 s after their node fails, not 300 s; StatefulSet pods
    keep Kubernetes' default (they move only once the node is deleted anyway); a pod's own
    toleration for the same taint wins."""
    own = {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
           "effect": "NoExecute", "tolerationSeconds": 600}  # fmt: skip
    workloads = _workloads(desired(make_ctx({"api": {"pod": {"tolerations": [own]}}})))
    for name, workload in workloads.items():
        tolerations = _pod(workload)["spec"].get("tolerations", [])
        if workload["kind"] != "Deployment":
            assert tolerations == [], name
        elif name == "demo-api":
            assert tolerations == [own, LEAVE_LOST_NODES[0]]
        else:
            assert tolerations == LEAVE_LOST_NODES, name
