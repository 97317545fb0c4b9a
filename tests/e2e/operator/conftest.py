"""The real local control plane, the CRD, a fresh namespace and the real operator process.

The cluster comes from ``tools/cluster/cluster.sh up`` (idempotent; a cluster someone else
started is reused and never stopped). The namespace enforces the "restricted" Pod Security
Standard, so every pod the operator creates proves it complies. kwok has no volume
provisioner: when the cluster has no default StorageClass, one is added with static
PersistentVolumes for the managed StatefulSets, and removed again at the end.
"""

import json
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from clima_e2e_support import (
    CLUSTER,
    CRD,
    OUT,
    RECONCILE_INTERVAL,
    STORAGE_CLASS,
    Kubectl,
    OperatorProcess,
    StaticVolumes,
    cluster_env,
)


@pytest.fixture(scope="session")
def kubectl() -> Kubectl:
    """Brings the local cluster up (a no-op when it already is) and returns a cluster kubectl."""
    if not CLUSTER.exists():
        pytest.fail(f"{CLUSTER} is missing: the local cluster cannot be started")
    subprocess.run([CLUSTER, "up"], check=True, timeout=3600)
    return Kubectl(cluster_env())


@pytest.fixture(scope="session")
def crd(kubectl: Kubectl) -> None:
    """Installs (or upgrades) the ClimaPipeline CRD and waits until it is served."""
    kubectl.run("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    kubectl.run("wait", "--for=condition=Established", "crd/climapipelines.clima.io")


@pytest.fixture(scope="session")
def volumes(kubectl: Kubectl) -> Iterator[StaticVolumes | None]:
    """A default StorageClass with static volumes, unless the cluster has a default already."""
    classes = kubectl.json("get", "storageclass")["items"]
    annotation = "storageclass.kubernetes.io/is-default-class"
    if any(c["metadata"].get("annotations", {}).get(annotation) == "true" for c in classes):
        yield None
        return
    volumes = StaticVolumes(kubectl, "operator", STORAGE_CLASS)
    volumes.create_class(default=True)
    yield volumes
    volumes.remove()


def _check_pods_run(kubectl: Kubectl) -> None:
    """Fail early and clearly when kwok does not bring pods to Ready."""
    security = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    probe = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "kwok-probe"},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65532,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                            "securityContext": security}],
        },
    }  # fmt: skip
    kubectl.run("apply", "-f", "-", stdin=json.dumps(probe))
    waited = kubectl.run(
        "wait", "--for=condition=Ready", "pod/kwok-probe", "--timeout=60s", check=False
    )
    kubectl.run("delete", "pod", "kwok-probe", "--wait=false")
    if waited.returncode != 0:
        pytest.fail("kwok does not bring pods to Ready (a probe pod stayed Pending): check kwok")


@pytest.fixture(scope="session")
def namespace(kubectl: Kubectl, crd: None) -> Iterator[str]:
    """A fresh namespace enforcing the restricted Pod Security Standard."""
    name = f"clima-e2e-{uuid.uuid4().hex[:6]}"
    kubectl.run("create", "namespace", name)
    kubectl.run("label", "namespace", name, "pod-security.kubernetes.io/enforce=restricted")
    _check_pods_run(kubectl.in_namespace(name))
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="session")
def operator(kubectl: Kubectl, namespace: str) -> Iterator[OperatorProcess]:
    """Starts the operator for the session and checks it exits cleanly on SIGTERM."""
    OUT.mkdir(exist_ok=True)
    process = OperatorProcess(
        kubectl.env,
        {
            "CLIMA_OPERATOR_NAMESPACES": namespace,
            "CLIMA_OPERATOR_RECONCILE_INTERVAL": str(RECONCILE_INTERVAL),
        },
        OUT / "operator-e2e.log",
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture
def ns_kubectl(kubectl: Kubectl, namespace: str) -> Kubectl:
    """kubectl in the test namespace."""
    return kubectl.in_namespace(namespace)
