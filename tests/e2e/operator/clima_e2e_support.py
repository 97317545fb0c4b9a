"""Helpers of the operator's e2e tests: static volumes and names (the rest is kube_support)."""

from __future__ import annotations

from kube_support import (
    CLUSTER,
    OUT,
    ROOT,
    Kubectl,
    OperatorProcess,
    StaticVolumes,
    cluster_env,
    eventually,
)

__all__ = [
    "CLUSTER",
    "OUT",
    "Kubectl",
    "OperatorProcess",
    "StaticVolumes",
    "cluster_env",
    "eventually",
]

CRD = ROOT / "chart" / "files" / "crds" / "climapipelines.clima.io.yaml"
SAMPLE = ROOT / "samples" / "pipeline.yaml"
E2E_LABEL = "clima.io/e2e=operator"
STORAGE_CLASS = "clima-e2e-static"
RECONCILE_INTERVAL = 10
