"""The platform on a real node: `make kube-up`'s own script brings it up, the tests use it.

The session starts with ``tools/dev/kube.sh up`` exactly as a user's ``make kube-up`` runs
it (packages, builds, images, chart push, helm install from oci://, the sample pipeline,
1,000 + 100 reports reconciled in Valkey) and ends with ``kube.sh down --keep-cluster`` (the
node goes; the control plane and registry stay for the other suites' fixtures). Every pod here is a
real container under containerd on this machine.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest
from node_support import KUBE, OUT, Cluster

pytestmark = pytest.mark.node


@pytest.fixture(scope="session")
def kube_up() -> Iterator[subprocess.CompletedProcess[str]]:
    """Runs ``kube.sh up`` once (its output is kept in out/kube-up.log) and tears it down."""
    OUT.mkdir(exist_ok=True)
    started = time.monotonic()
    done = subprocess.run(
        ["bash", str(KUBE), "up"], capture_output=True, text=True, timeout=3000, check=False,
        env={**os.environ, "KUBE_REPORTS": "1000", "KUBE_TWEETS": "100"},
    )  # fmt: skip
    (OUT / "kube-up.log").write_text(done.stdout + done.stderr)
    print(f"kube.sh up: {time.monotonic() - started:.0f}s, exit {done.returncode}")
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-60:])
        pytest.fail(f"make kube-up failed ({done.returncode}); last lines:\n{tail}")
    yield done
    # the node only: the control plane and registry serve the other suites' fixtures too,
    # whose teardown comes later (.ci/run stops them at the very end)
    down = subprocess.run(
        ["bash", str(KUBE), "down", "--keep-cluster"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    (OUT / "kube-down.log").write_text(down.stdout + down.stderr)


@pytest.fixture(scope="session")
def cluster(kube_up: subprocess.CompletedProcess[str]) -> Cluster:
    """kubectl and helm against the cluster kube.sh brought up, in the pipeline's namespace."""
    return Cluster.from_kube_env("clima")
