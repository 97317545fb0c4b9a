"""Helpers of the chart's e2e tests: kubectl, helm, polling, static volumes, the operator."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import tarfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "chart"
CHART_SH = ROOT / "tools" / "dev" / "chart.sh"
CLUSTER = ROOT / "tools" / "cluster" / "cluster.sh"
REGISTRY_SH = ROOT / "tools" / "registry" / "registry.sh"
OPERATOR = ROOT / ".venv" / "bin" / "clima-operator"
PYTHON = ROOT / ".venv" / "bin" / "python"
OUT = ROOT / "out"
CRD_NAME = "climapipelines.clima.io"
E2E_LABEL = "clima.io/e2e=chart"
STORAGE_CLASS = "clima-chart-e2e"
REGISTRY = "127.0.0.1:5000"
CHART_REF = f"oci://{REGISTRY}/charts/clima"


def eventually(check: Callable[[], Any], timeout: float = 60, interval: float = 0.5) -> Any:
    """Call ``check`` until it returns a truthy value without raising AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        else:
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"still false after {timeout}s: {check}")
        time.sleep(interval)


def cluster_env() -> dict[str, str]:
    """KUBECONFIG and PATH (kubectl, helm) as ``cluster.sh env`` prints them."""
    env = dict(os.environ)
    printed = subprocess.run([CLUSTER, "env"], capture_output=True, text=True, check=True)
    for line in printed.stdout.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value.replace("$PATH", os.environ.get("PATH", ""))
    return env


def run(
    args: list[str],
    env: dict[str, str],
    stdin: str | None = None,
    check: bool = True,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run a command; with ``check``, a failure raises AssertionError carrying its output."""
    done = subprocess.run(
        args, input=stdin, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done


class Kubectl:
    """kubectl against the local cluster, in one namespace unless told otherwise."""

    def __init__(self, env: dict[str, str], namespace: str | None = None) -> None:
        self.env = env
        self.namespace = namespace

    def in_namespace(self, namespace: str) -> Kubectl:
        return Kubectl(self.env, namespace)

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        scope = ["-n", self.namespace] if self.namespace else []
        return run(["kubectl", *scope, *args], self.env, stdin, check, timeout)

    def json(self, *args: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.run(*args, "-o", "json").stdout)
        return loaded

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        done = self.run("get", kind, name, "-o", "json", check=False)
        return json.loads(done.stdout) if done.returncode == 0 else None


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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


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


def _persistent_volume() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": f"clima-chart-e2e-{uuid.uuid4().hex[:8]}",
            "labels": {"clima.io/e2e": "chart"},
        },
        "spec": {
            "capacity": {"storage": "10Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": STORAGE_CLASS,
            "hostPath": {"path": "/tmp/clima-chart-e2e"},
        },
    }


@contextmanager
def static_volumes(kubectl: Kubectl) -> Iterator[Callable[[int], None]]:
    """A StorageClass of this suite (not the default) and a way to add Available volumes.

    kwok has no provisioner, so the managed StatefulSets' claims name this class and bind to
    static volumes; everything is removed at the end.
    """
    storage_class = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS, "labels": {"clima.io/e2e": "chart"}},
        "provisioner": "kubernetes.io/no-provisioner",
        "volumeBindingMode": "Immediate",
    }
    kubectl.run("apply", "-f", "-", stdin=json.dumps(storage_class))

    def ensure_free(wanted: int) -> None:
        listed = kubectl.json("get", "pv", "-l", E2E_LABEL)["items"]
        free = [pv for pv in listed if pv.get("status", {}).get("phase") == "Available"]
        items = [_persistent_volume() for _ in range(wanted - len(free))]
        if items:
            body = {"apiVersion": "v1", "kind": "List", "items": items}
            kubectl.run("apply", "-f", "-", stdin=json.dumps(body))

    try:
        yield ensure_free
    finally:
        kubectl.run("delete", "pv", "-l", E2E_LABEL, "--ignore-not-found", "--wait=false")
        kubectl.run("delete", "storageclass", STORAGE_CLASS, "--ignore-not-found", "--wait=false")


def container_env(container: dict[str, Any]) -> dict[str, str]:
    """Literal environment variables of a container."""
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


class OperatorProcess:
    """The real ``clima-operator``, out of the cluster, configured like the chart's pod.

    It gets the environment of the Deployment's container (ports and bind address moved to
    free loopback ports), the dashboards of the chart's ConfigMap in a folder, and a kubeconfig
    holding a token of the chart's ServiceAccount: it has exactly the chart's permissions.
    """

    def __init__(self, env: dict[str, str], deployment_env: dict[str, str], log: Path) -> None:
        self.liveness_port, self.metrics_port = free_port(), free_port()
        self.env = {
            **env,
            **deployment_env,
            "CLIMA_OPERATOR_BIND_ADDRESS": "127.0.0.1",
            "CLIMA_OPERATOR_LIVENESS_PORT": str(self.liveness_port),
            "CLIMA_OPERATOR_METRICS_PORT": str(self.metrics_port),
        }
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, port: int, path: str) -> str:
        return f"http://127.0.0.1:{port}{path}"

    def _alive(self) -> bool:
        assert self.process is not None
        assert self.process.poll() is None, f"operator exited; see {self.log}"
        try:
            with urllib.request.urlopen(self.url(self.liveness_port, "/healthz"), timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def start(self) -> None:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen([OPERATOR], env=self.env, stdout=sink, stderr=sink)
        eventually(self._alive, timeout=60)

    def stop(self) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def forbidden_lines(self) -> list[str]:
        """Log lines where the API server refused the operator something."""
        text = self.log.read_text(errors="replace")
        # a status 403, not the milliseconds of a timestamp such as "15:05:05,403"
        status = re.compile(r"(?<![,.\d])403(?!\d)")
        return [line for line in text.splitlines() if status.search(line) or "orbidden" in line]


def write_dashboards(configmap: dict[str, Any], folder: Path) -> Path:
    """The dashboards ConfigMap's files in a folder, as the pod's volume would hold them."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (configmap.get("data") or {}).items():
        (folder / name).write_text(text)
    for name, blob in (configmap.get("binaryData") or {}).items():
        (folder / name).write_bytes(base64.b64decode(blob))
    return folder
