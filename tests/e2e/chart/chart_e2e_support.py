"""Helpers of the chart's e2e tests: helm, rendering, static volumes (the rest: kube_support)."""

from __future__ import annotations

import base64
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from kube_support import (
    CLUSTER,
    OUT,
    ROOT,
    Kubectl,
    OperatorProcess,
    StaticVolumes,
    cluster_env,
    eventually,
    free_port,
    run,
)

__all__ = [
    "CLUSTER",
    "OUT",
    "Kubectl",
    "OperatorProcess",
    "cluster_env",
    "eventually",
    "free_port",
    "run",
]

CHART = ROOT / "chart"
CHART_SH = ROOT / "tools" / "dev" / "chart.sh"
REGISTRY_SH = ROOT / "tools" / "registry" / "registry.sh"
PYTHON = ROOT / ".venv" / "bin" / "python"
CRD_NAME = "climapipelines.clima.io"
E2E_LABEL = "clima.io/e2e=chart"
STORAGE_CLASS = "clima-chart-e2e"
REGISTRY = "127.0.0.1:5000"
CHART_REF = f"oci://{REGISTRY}/charts/clima"


class Helm:
    """helm against the local cluster, in one namespace."""

    def __init__(self, env: dict[str, str], namespace: str) -> None:
        self.env = env
        self.namespace = namespace

    def run(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        return run(["helm", "-n", self.namespace, *args], self.env, None, check, timeout)

    def template(self, *args: str, chart: str | Path = CHART) -> list[dict[str, Any]]:
        """The rendered objects (hooks and tests included)."""
        text = self.run("template", "clima", str(chart), *args).stdout
        return [doc for doc in yaml.safe_load_all(text) if doc]


def sets(values: dict[str, str]) -> list[str]:
    """``--set k=v`` arguments."""
    return [arg for key, value in values.items() for arg in ("--set", f"{key}={value}")]


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The one rendered object of a kind (and name)."""
    found = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''} in {[o['kind'] for o in objects]}"
    return found[0]


def packaged_files(tgz: Path) -> dict[str, tarfile.TarInfo]:
    """Entries of a packaged chart by path."""
    with tarfile.open(tgz) as archive:
        return {member.name: member for member in archive.getmembers()}


def token_kubeconfig(kubectl: Kubectl, namespace: str, account: str, path: Path) -> Path:
    """A kubeconfig that authenticates as a ServiceAccount (a TokenRequest token)."""
    admin = kubectl.json("config", "view", "--raw", "--minify", "--flatten")
    cluster = admin["clusters"][0]["cluster"]
    token = kubectl.run("-n", namespace, "create", "token", account, "--duration=2h").stdout.strip()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": cluster}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "local", "user": account}}],
        "current-context": "sa",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


@contextmanager
def static_volumes(kubectl: Kubectl) -> Iterator[Callable[[int], None]]:
    """This suite's StorageClass (not the default) and a way to add Available volumes;
    everything is removed at the end."""
    volumes = StaticVolumes(kubectl, "chart", STORAGE_CLASS)
    volumes.create_class()
    try:
        yield volumes.ensure_free
    finally:
        volumes.remove()


def container_env(container: dict[str, Any]) -> dict[str, str]:
    """Literal environment variables of a container."""
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def write_dashboards(configmap: dict[str, Any], folder: Path) -> Path:
    """The dashboards ConfigMap's files in a folder, as the pod's volume would hold them."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (configmap.get("data") or {}).items():
        (folder / name).write_text(text)
    for name, blob in (configmap.get("binaryData") or {}).items():
        (folder / name).write_bytes(base64.b64decode(blob))
    return folder
