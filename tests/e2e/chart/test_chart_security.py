"""Least privilege of the installed chart, judged by the real API server.

The chart is installed from the loopback OCI registry serving two namespaces (the release's
and one more); a third namespace is not served. ``kubectl auth can-i --as`` the operator's
ServiceAccount then asks the API server's authorizer, row by row, what the operator may and
may not do. The chart's own pods (operator, ``helm test`` pod, cleanup Job) are checked
against the "restricted" Pod Security Standard by PodSecurity admission itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from chart_e2e_support import CHART, CRD_NAME, Helm, Kubectl

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

RELEASE = "clima"
VERSION = "0.1.0"
ACCOUNT = "clima-operator"

HOME, SERVED, OUTSIDE, CLUSTER, EVERYWHERE = "home", "served", "outside", "cluster", "all"

# What the operator does in a namespace it serves (read from operator/clima_operator/).
CHILD_KINDS = [
    "deployments.apps",
    "statefulsets.apps",
    "services",
    "configmaps",
    "ingresses.networking.k8s.io",
    "horizontalpodautoscalers.autoscaling",
    "networkpolicies.networking.k8s.io",
    "poddisruptionbudgets.policy",
]
SERVED_YES = [
    *[(verb, "climapipelines.clima.io") for verb in ("get", "list", "watch", "patch")],
    ("patch", "climapipelines.clima.io/status"),
    *[(verb, kind) for kind in CHILD_KINDS for verb in ("list", "create", "patch", "delete")],
    ("watch", "deployments.apps"),
    ("watch", "statefulsets.apps"),
    *[(verb, "jobs.batch") for verb in ("list", "watch", "create", "patch", "delete")],
    *[(verb, "secrets") for verb in ("get", "create", "patch")],
    ("create", "events"),
]
SERVED_NO = [
    *[(verb, "secrets") for verb in ("list", "watch", "delete", "update")],
    ("delete", "climapipelines.clima.io"),
    ("create", "climapipelines.clima.io"),
    ("update", "climapipelines.clima.io"),
    ("create", "pods"),
    ("create", "pods/exec"),
    ("create", "pods/portforward"),
    ("create", "serviceaccounts/token"),
    ("delete", "persistentvolumeclaims"),
    *[(verb, "roles.rbac.authorization.k8s.io") for verb in ("create", "escalate", "bind")],
    ("create", "rolebindings.rbac.authorization.k8s.io"),
]
OUTSIDE_NO = [
    ("get", "secrets"),
    ("list", "secrets"),
    ("get", "climapipelines.clima.io"),
    ("list", "climapipelines.clima.io"),
    ("create", "deployments.apps"),
    ("patch", "configmaps"),
    ("create", "networkpolicies.networking.k8s.io"),
    ("create", "events"),
]
CLUSTER_YES = [
    ("list", "customresourcedefinitions.apiextensions.k8s.io"),
    ("watch", "customresourcedefinitions.apiextensions.k8s.io"),
    ("list", "namespaces"),
    ("watch", "namespaces"),
]
CLUSTER_NO = [
    *[(verb, "customresourcedefinitions.apiextensions.k8s.io") for verb in ("create", "delete")],
    ("patch", "customresourcedefinitions.apiextensions.k8s.io"),
    *[(verb, "nodes") for verb in ("get", "patch", "delete")],
    *[(verb, "clusterroles.rbac.authorization.k8s.io") for verb in ("create", "escalate", "bind")],
    ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
    *[("impersonate", kind) for kind in ("users", "groups", "serviceaccounts")],
    ("create", "namespaces"),
    ("delete", "namespaces"),
    ("*", "*"),
]
EVERYWHERE_NO = [
    ("get", "secrets"),
    ("list", "secrets"),
    ("list", "deployments.apps"),
    ("list", "climapipelines.clima.io"),
]

CAN_I: list[tuple[str, str, str, bool]] = [
    *[(verb, kind, scope, True) for scope in (HOME, SERVED) for verb, kind in SERVED_YES],
    *[(verb, kind, scope, False) for scope in (HOME, SERVED) for verb, kind in SERVED_NO],
    *[(verb, kind, OUTSIDE, False) for verb, kind in OUTSIDE_NO],
    *[(verb, kind, CLUSTER, True) for verb, kind in CLUSTER_YES],
    *[(verb, kind, CLUSTER, False) for verb, kind in CLUSTER_NO],
    *[(verb, kind, EVERYWHERE, False) for verb, kind in EVERYWHERE_NO],
]


@pytest.fixture(scope="module")
def namespaces(make_namespace: Callable[[str], str]) -> dict[str, str]:
    """The release namespace, a second served namespace and one the operator does not serve."""
    return {scope: make_namespace(f"clima-rbac-{scope}") for scope in (HOME, SERVED, OUTSIDE)}


@pytest.fixture(scope="module")
def crd(kubectl: Kubectl) -> None:
    """The CRD, so that kubectl resolves climapipelines (the release leaves it alone)."""
    if kubectl.get("crd", CRD_NAME) is None:
        crd_file = CHART / "files" / "crds" / "climapipelines.clima.io.yaml"
        kubectl.run("apply", "--server-side", "-f", str(crd_file))
    kubectl.run("wait", "--for=condition=Established", f"crd/{CRD_NAME}")


@pytest.fixture(scope="module")
def release(
    env: dict[str, str], pushed: str, namespaces: dict[str, str], crd: None
) -> Iterator[Helm]:
    """`helm install` from the registry serving HOME and SERVED; uninstalled at the end."""
    helm = Helm(env, namespaces[HOME])
    served = f"{{{namespaces[HOME]},{namespaces[SERVED]}}}"
    helm.run(
        "install", RELEASE, pushed, "--version", VERSION, "--plain-http",
        "--set", "crds.enabled=false",
        "--set", "image.registry=127.0.0.1:5000",
        "--set", f"operator.watchNamespaces={served}",
        "--wait", "--timeout", "2m",
    )  # fmt: skip
    yield helm
    helm.run("uninstall", RELEASE, "--wait", "--timeout", "2m", check=False)


def _can_i(
    kubectl: Kubectl, namespaces: dict[str, str], verb: str, resource: str, scope: str
) -> bool:
    kind, _, sub = resource.partition("/")
    args = ["auth", "can-i", verb, kind, f"--as=system:serviceaccount:{namespaces[HOME]}:{ACCOUNT}"]
    args += [f"--subresource={sub}"] if sub else []
    if scope == EVERYWHERE:
        args.append("--all-namespaces")
    elif scope != CLUSTER:
        args += ["-n", namespaces[scope]]
    done = kubectl.run(*args, check=False)
    answer = done.stdout.strip()
    assert answer in ("yes", "no"), done.stderr
    return answer == "yes"


@pytest.mark.parametrize(
    ("verb", "resource", "scope", "expected"),
    CAN_I,
    ids=[
        f"{scope}-{verb}-{resource}-{'yes' if yes else 'no'}"
        for verb, resource, scope, yes in CAN_I
    ],
)
def test_operator_can_exactly_what_it_needs(
    release: Helm,
    kubectl: Kubectl,
    namespaces: dict[str, str],
    verb: str,
    resource: str,
    scope: str,
    expected: bool,
) -> None:
    """`kubectl auth can-i --as` the operator's ServiceAccount answers as the row says."""
    assert _can_i(kubectl, namespaces, verb, resource, scope) is expected


def _as_pod(name: str, template: dict[str, Any]) -> dict[str, Any]:
    """A pod template (or a Pod) as a bare Pod, for PodSecurity admission. The ServiceAccount
    is left out: it may not exist in the dry run's namespace, and the standard ignores it."""
    spec = {k: v for k, v in template["spec"].items() if k != "serviceAccountName"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": template.get("metadata", {}).get("labels", {})},
        "spec": spec,
    }


def _pods_of(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    pods = {}
    for obj in objects:
        name = f"{obj['kind'].lower()}-{obj['metadata']['name']}"
        if obj["kind"] == "Pod":
            pods[name] = _as_pod(name, obj)
        elif obj["kind"] in ("Deployment", "StatefulSet", "Job", "DaemonSet"):
            pods[name] = _as_pod(name, obj["spec"]["template"])
    return pods


def test_restricted_namespace_refuses_a_privileged_pod(
    kubectl: Kubectl, namespaces: dict[str, str]
) -> None:
    """The control: PodSecurity admission in these namespaces does refuse a non-compliant pod,
    so the dry runs below can fail."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "not-restricted"},
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
    }
    done = kubectl.in_namespace(namespaces[HOME]).run(
        "create", "--dry-run=server", "-f", "-", stdin=json.dumps(pod), check=False
    )
    assert done.returncode != 0
    assert 'violates PodSecurity "restricted' in done.stderr, done.stderr


def test_every_chart_pod_is_admitted_restricted(
    env: dict[str, str], kubectl: Kubectl, namespaces: dict[str, str]
) -> None:
    """The operator pod, the `helm test` pod and the cleanup Job's pod, rendered with every
    optional part on, are each admitted as Pods by a server dry run in a namespace enforcing
    the restricted standard, without a warning."""
    objects = Helm(env, namespaces[HOME]).template("--set", "pipeline.enabled=true")
    pods = _pods_of(objects)
    assert set(pods) == {"deployment-clima-operator", "pod-clima-test", "job-clima-cleanup"}
    for name, pod in pods.items():
        done = kubectl.in_namespace(namespaces[HOME]).run(
            "create", "--dry-run=server", "-f", "-", stdin=json.dumps(pod), check=False
        )
        assert done.returncode == 0, f"{name}: {done.stderr}"
        assert "Warning" not in done.stderr, f"{name}: {done.stderr}"


def test_installed_operator_pod_was_admitted(release: Helm, kubectl: Kubectl) -> None:
    """The installed operator Deployment has its pod and no ReplicaSet was refused one."""
    k = kubectl.in_namespace(release.namespace)
    deployment = k.json("get", "deployment", "clima-operator")
    assert deployment["status"].get("readyReplicas") == 1
    refused = k.json("get", "events", "--field-selector", "reason=FailedCreate")["items"]
    assert [event["message"] for event in refused] == []
