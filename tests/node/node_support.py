"""kubectl, helm and the traffic script against the local cluster with its real node."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# the e2e suites' polling helper, shared rather than written again
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from kube_support import eventually  # noqa: E402

__all__ = ["eventually"]
KUBE = ROOT / "tools" / "dev" / "kube.sh"
TRAFFIC = ROOT / "tools" / "node" / "traffic.py"
SAMPLE = ROOT / "tools" / "node" / "sample.py"
OUT = ROOT / "out"
PIPELINE = "clima"


@dataclass
class Cluster:
    """The environment ``make kube-env`` prints, and the namespace of the pipeline."""

    env: dict[str, str]
    namespace: str

    @classmethod
    def from_kube_env(cls, namespace: str) -> Cluster:
        env = dict(os.environ)
        printed = subprocess.run(
            ["bash", str(KUBE), "env"], capture_output=True, text=True, check=True
        )
        for line in printed.stdout.splitlines():
            if line.startswith("export "):
                key, _, value = line.removeprefix("export ").partition("=")
                env[key] = value.replace('"$PATH"', env.get("PATH", "")).strip("'\"")
        return cls(env, namespace)

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            list(args), input=stdin, capture_output=True, text=True, env=self.env,
            timeout=timeout, check=False,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed: {done.stderr or done.stdout}")
        return done

    def kubectl(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return self.run("kubectl", "-n", self.namespace, *args, **kw)

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def pods(self) -> list[dict[str, Any]]:
        return list(self.json("get", "pods")["items"])

    def pipeline(self) -> dict[str, Any]:
        loaded: dict[str, Any] = self.json("get", "climapipeline", PIPELINE)
        return loaded

    def condition(self, kind: str) -> dict[str, Any]:
        conditions = self.pipeline().get("status", {}).get("conditions", [])
        return next((c for c in conditions if c["type"] == kind), {})

    def patch_spec(self, spec: dict[str, Any]) -> None:
        self.kubectl(
            "patch", "climapipeline", PIPELINE, "--type=merge", "-p", json.dumps({"spec": spec})
        )

    def traffic(self, reports: int, tweets: int, timeout: float = 180) -> str:
        """Runs tools/node/traffic.py; it exits non-zero unless Valkey counted every id once."""
        done = self.run(
            sys.executable, str(TRAFFIC), "--namespace", self.namespace, "--pipeline", PIPELINE,
            "--reports", str(reports), "--tweets", str(tweets), "--timeout", str(timeout),
            timeout=timeout + 120,
        )  # fmt: skip
        return done.stdout

    def traffic_in_background(
        self, reports: int, timeout: float, pace: float = 0.01
    ) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(TRAFFIC), "--namespace", self.namespace, "--pipeline",
             PIPELINE, "--reports", str(reports), "--tweets", "0", "--timeout", str(timeout),
             "--pace", str(pace)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env,
        )  # fmt: skip


def record(name: str, line: str) -> None:
    """Prints a test's figures and keeps them in out/<name> for the issue notes."""
    print(line)
    OUT.mkdir(exist_ok=True)
    (OUT / name).write_text(line + "\n")


def restarts(pod: dict[str, Any]) -> int:
    statuses = pod.get("status", {}).get("containerStatuses", [])
    return sum(int(s.get("restartCount", 0)) for s in statuses)


def running(pod: dict[str, Any]) -> bool:
    return bool(pod.get("status", {}).get("phase") == "Running")
