"""Helpers of the operator's e2e tests: kubectl, polling, static volumes, the operator process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
CLUSTER = ROOT / "tools" / "cluster" / "cluster.sh"
CRD = ROOT / "chart" / "files" / "crds" / "climapipelines.clima.io.yaml"
SAMPLE = ROOT / "samples" / "pipeline.yaml"
OPERATOR = ROOT / ".venv" / "bin" / "clima-operator"
OUT = ROOT / "out"
E2E_LABEL = "clima.io/e2e=operator"
STORAGE_CLASS = "clima-e2e-static"
RECONCILE_INTERVAL = 10


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


class Kubectl:
    """kubectl against the local cluster, in the test namespace unless told otherwise."""

    def __init__(self, env: dict[str, str], namespace: str | None = None) -> None:
        self.env = env
        self.namespace = namespace

    def in_namespace(self, namespace: str) -> Kubectl:
        return Kubectl(self.env, namespace)

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        scope = ["-n", self.namespace] if self.namespace else []
        done = subprocess.run(
            ["kubectl", *scope, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr or done.stdout}")
        return done

    def json(self, *args: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.run(*args, "-o", "json").stdout)
        return loaded

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        done = self.run("get", kind, name, "-o", "json", check=False)
        return json.loads(done.stdout) if done.returncode == 0 else None


def cluster_env() -> dict[str, str]:
    """KUBECONFIG and PATH as ``cluster.sh env`` prints them."""
    env = dict(os.environ)
    printed = subprocess.run([CLUSTER, "env"], capture_output=True, text=True, check=True)
    for line in printed.stdout.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value.replace("$PATH", os.environ.get("PATH", ""))
    return env


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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class OperatorProcess:
    """The real ``clima-operator`` as a subprocess, scoped to the test namespace."""

    def __init__(self, env: dict[str, str], namespace: str, log: Path) -> None:
        self.liveness_port, self.metrics_port = _free_port(), _free_port()
        self.env = {
            **env,
            "CLIMA_OPERATOR_NAMESPACES": namespace,
            "CLIMA_OPERATOR_BIND_ADDRESS": "127.0.0.1",
            "CLIMA_OPERATOR_LIVENESS_PORT": str(self.liveness_port),
            "CLIMA_OPERATOR_METRICS_PORT": str(self.metrics_port),
            "CLIMA_OPERATOR_RECONCILE_INTERVAL": str(RECONCILE_INTERVAL),
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
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
