"""The local control plane itself: real versions, Ready nodes, rollouts and garbage collection."""

import json

import pytest
from clima_e2e_support import Kubectl, eventually

pytestmark = pytest.mark.e2e


def test_server_and_client_report_the_built_version(kubectl: Kubectl) -> None:
    """kubectl and kube-apiserver both say v1.36.x, so version checks (helm kubeVersion) work."""
    versions = json.loads(kubectl.run("version", "-o", "json").stdout)
    assert versions["clientVersion"]["gitVersion"].startswith("v1.36.")
    assert versions["serverVersion"]["gitVersion"].startswith("v1.36.")


def test_nodes_are_ready(kubectl: Kubectl) -> None:
    """The kwok nodes registered by cluster.sh are Ready."""
    nodes = kubectl.json("get", "nodes")["items"]
    assert len(nodes) >= 3
    for node in nodes:
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True", node["metadata"]["name"]


def test_deployment_rolls_out_and_its_dependents_are_collected(ns_kubectl: Kubectl) -> None:
    """A Deployment reaches its ready replicas; deleting it garbage-collects its pods."""
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "cluster-check"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "cluster-check"}},
            "template": {
                "metadata": {"labels": {"app": "cluster-check"}},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65532,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "pause",
                            "image": "registry.k8s.io/pause:3.10",
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }
    ns_kubectl.run("apply", "-f", "-", stdin=json.dumps(manifest))
    ns_kubectl.run("rollout", "status", "deployment/cluster-check", "--timeout=120s")
    pods = ns_kubectl.json("get", "pods", "-l", "app=cluster-check")["items"]
    assert len(pods) == 2
    ns_kubectl.run("delete", "deployment", "cluster-check", "--wait=false")

    def collected() -> bool:
        left = ns_kubectl.json("get", "replicasets,pods", "-l", "app=cluster-check")["items"]
        return not left

    eventually(collected, timeout=120)
