"""The real local control plane, helm, the OCI registry on loopback and fresh namespaces.

The cluster comes from ``tools/cluster/cluster.sh up`` and the registry from
``tools/registry/registry.sh up`` (both idempotent). What someone else started is reused and
never stopped; the registry is stopped at the end only if this session started it.
Namespaces enforce (and warn about) the "restricted" Pod Security Standard, so every pod the
chart or the operator makes proves it complies.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest
from chart_e2e_support import (
    CHART_REF,
    CHART_SH,
    CLUSTER,
    CRD_NAME,
    REGISTRY_SH,
    Kubectl,
    cluster_env,
    run,
)


@pytest.fixture(scope="session")
def env() -> dict[str, str]:
    """Brings the local cluster up (a no-op when it already is): KUBECONFIG and PATH."""
    if not CLUSTER.exists():
        pytest.fail(f"{CLUSTER} is missing: the local cluster cannot be started")
    subprocess.run([CLUSTER, "up"], check=True, timeout=3600)
    return cluster_env()


@pytest.fixture(scope="session")
def kubectl(env: dict[str, str]) -> Kubectl:
    """kubectl against the local cluster."""
    return Kubectl(env)


@pytest.fixture(scope="session")
def registry(env: dict[str, str]) -> Iterator[str]:
    """The OCI registry on 127.0.0.1:5000 (plain http)."""
    was_up = run([str(REGISTRY_SH), "status"], env, check=False).returncode == 0
    run([str(REGISTRY_SH), "up"], env, timeout=600)
    yield "127.0.0.1:5000"
    if not was_up:
        run([str(REGISTRY_SH), "down"], env, check=False)


@pytest.fixture(scope="session")
def pushed(env: dict[str, str], registry: str) -> str:
    """The packaged chart, pushed once per session with `chart.sh push` (helm push --plain-http)."""
    run([str(CHART_SH), "push", f"oci://{registry}/charts"], env)
    return CHART_REF


@pytest.fixture(scope="session")
def make_namespace(kubectl: Kubectl) -> Iterator[Callable[[str], str]]:
    """Creates fresh namespaces enforcing the restricted Pod Security Standard."""
    made: list[str] = []

    def make(prefix: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        kubectl.run("create", "namespace", name)
        kubectl.run(
            "label",
            "namespace",
            name,
            "pod-security.kubernetes.io/enforce=restricted",
            "pod-security.kubernetes.io/warn=restricted",
            "clima.io/e2e=chart",
        )
        made.append(name)
        return name

    yield make
    for name in made:
        kubectl.run("delete", "namespace", name, "--ignore-not-found", "--wait=false")


OWNERSHIP = ("meta.helm.sh/release-name", "meta.helm.sh/release-namespace")


@pytest.fixture(scope="session")
def adopt_crd(kubectl: Kubectl) -> Iterator[Callable[[str, str], None]]:
    """Lets a release take over the CRD when it exists already (applied by kubectl, or owned
    by an earlier release) the documented way: Helm's ownership label and annotations. At the
    end, an ownership still naming a release of this session is put back as it was found."""
    found: dict[str, str | None] = {}

    def adopt(release: str, namespace: str) -> None:
        crd = kubectl.get("crd", CRD_NAME)
        if crd is None:
            return
        if not found:
            annotations = crd["metadata"].get("annotations") or {}
            found.update({key: annotations.get(key) for key in OWNERSHIP})
        kubectl.run("label", "crd", CRD_NAME, "app.kubernetes.io/managed-by=Helm", "--overwrite")
        kubectl.run(
            "annotate",
            "crd",
            CRD_NAME,
            f"{OWNERSHIP[0]}={release}",
            f"{OWNERSHIP[1]}={namespace}",
            "--overwrite",
        )
        adopted.add((release, namespace))

    adopted: set[tuple[str, str]] = set()
    yield adopt
    crd = kubectl.get("crd", CRD_NAME)
    if crd is None or not found:
        return
    annotations = crd["metadata"].get("annotations") or {}
    if (annotations.get(OWNERSHIP[0]), annotations.get(OWNERSHIP[1])) in adopted:
        restore = [f"{key}={value}" if value else f"{key}-" for key, value in found.items()]
        kubectl.run("annotate", "crd", CRD_NAME, *restore, "--overwrite")
