"""Helpers of the operator's e2e tests: static volumes and names (the rest is kube_support)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from kube_support import (
    CLUSTER,
    OUT,
    ROOT,
    Kubectl,
    OperatorProcess,
    cluster_env,
    eventually,
)

__all__ = ["CLUSTER", "OUT", "Kubectl", "OperatorProcess", "cluster_env", "eventually"]

CRD = ROOT / "chart" / "files" / "crds" / "climapipelines.clima.io.yaml"
SAMPLE = ROOT / "samples" / "pipeline.yaml"
E2E_LABEL = "clima.io/e2e=operator"
STORAGE_CLASS = "clima-e2e-static"
RECONCILE_INTERVAL = 10


def _persistent_volume(index: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": f"clima-e2e-{uuid.uuid4().hex[:8]}-{index}",
            "labels": {"clima.io/e2e": "operator"},
        },
        "spec": {
            "capacity": {"storage": "10Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": STORAGE_CLASS,
            "hostPath": {"path": f"/tmp/clima-e2e/{index}"},
        },
    }


class Volumes:
    """Keeps enough Available static volumes for the managed StatefulSets' claims."""

    def __init__(self, kubectl: Kubectl) -> None:
        self.kubectl = kubectl
        self.created = 0

    def ensure_free(self, wanted: int) -> None:
        listed = self.kubectl.json("get", "pv", "-l", E2E_LABEL)["items"]
        free = [pv for pv in listed if pv.get("status", {}).get("phase") == "Available"]
        items = [_persistent_volume(self.created + i) for i in range(wanted - len(free))]
        if items:
            self.created += len(items)
            self.kubectl.run(
                "apply",
                "-f",
                "-",
                stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
            )
