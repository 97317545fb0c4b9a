"""What the operator and chart e2e suites share: kubectl, polling, the operator process."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "tools" / "cluster" / "cluster.sh"
OPERATOR = ROOT / ".venv" / "bin" / "clima-operator"
OUT = ROOT / "out"


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
        raise AssertionError(
            f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr or done.stdout}"
        )
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


def cluster_env() -> dict[str, str]:
    """KUBECONFIG and PATH (kubectl, helm) as ``cluster.sh env`` prints them."""
    env = dict(os.environ)
    printed = subprocess.run([CLUSTER, "env"], capture_output=True, text=True, check=True)
    for line in printed.stdout.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value.replace("$PATH", os.environ.get("PATH", ""))
    return env


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class OperatorProcess:
    """The real ``clima-operator`` as a subprocess, on free loopback ports.

    ``settings`` are its CLIMA_OPERATOR_* variables (the served namespaces, or the whole
    environment of the chart's Deployment); the probe ports and bind address are set here.
    """

    def __init__(self, env: dict[str, str], settings: dict[str, str], log: Path) -> None:
        self.liveness_port, self.metrics_port = free_port(), free_port()
        self.env = {
            **env,
            # the chart sets the operator's own image; pipelines without spec.image run it
            "CLIMA_OPERATOR_DEFAULT_IMAGE": "127.0.0.1:5000/clima/clima:0.1.0",
            **settings,
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
        """SIGTERM, then SIGKILL after 30 s; the exit code (0 when it never ran)."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def log_size(self) -> int:
        """Bytes of log so far (a mark for ``forbidden_lines``)."""
        return self.log.stat().st_size if self.log.exists() else 0

    def forbidden_lines(self, upto: int | None = None) -> list[str]:
        """Log lines where the API server refused the operator something (in the first
        ``upto`` bytes of its log, when given)."""
        with self.log.open("rb") as log:
            text = log.read(upto if upto is not None else -1).decode(errors="replace")
        # a status 403, not the milliseconds of a timestamp such as "15:05:05,403"
        status = re.compile(r"(?<![,.\d])403(?!\d)")
        return [line for line in text.splitlines() if status.search(line) or "orbidden" in line]


class StaticVolumes:
    """A no-provisioner StorageClass of one e2e suite and Available volumes for it: kwok has
    no provisioner, so the managed StatefulSets' claims bind to these static volumes."""

    def __init__(self, kubectl: Kubectl, suite: str, storage_class: str) -> None:
        self.kubectl = kubectl
        self.suite = suite
        self.storage_class = storage_class
        self.label = f"clima.io/e2e={suite}"

    def create_class(self, default: bool = False) -> None:
        """Applies the StorageClass (the cluster's default one with ``default``)."""
        metadata: dict[str, Any] = {
            "name": self.storage_class,
            "labels": {"clima.io/e2e": self.suite},
        }
        if default:
            metadata["annotations"] = {"storageclass.kubernetes.io/is-default-class": "true"}
        body = {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": metadata,
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "Immediate",
        }
        self.kubectl.run("apply", "-f", "-", stdin=json.dumps(body))

    def ensure_free(self, wanted: int) -> None:
        """Adds volumes until ``wanted`` of this suite's are Available."""
        listed = self.kubectl.json("get", "pv", "-l", self.label)["items"]
        free = [pv for pv in listed if pv.get("status", {}).get("phase") == "Available"]
        items = [self._volume() for _ in range(wanted - len(free))]
        if items:
            body = {"apiVersion": "v1", "kind": "List", "items": items}
            self.kubectl.run("apply", "-f", "-", stdin=json.dumps(body))

    def remove(self) -> None:
        """Deletes the suite's volumes and its StorageClass."""
        self.kubectl.run("delete", "pv", "-l", self.label, "--ignore-not-found", "--wait=false")
        self.kubectl.run(
            "delete", "storageclass", self.storage_class, "--ignore-not-found", "--wait=false"
        )

    def _volume(self) -> dict[str, Any]:
        name = f"clima-{self.suite}-e2e-{uuid.uuid4().hex[:8]}"
        return {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name, "labels": {"clima.io/e2e": self.suite}},
            "spec": {
                "capacity": {"storage": "10Gi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": self.storage_class,
                "hostPath": {"path": f"/tmp/clima-e2e/{name}"},
            },
        }
