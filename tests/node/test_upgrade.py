"""`helm upgrade` and `helm rollback` of Clima on the real node, with reports flowing.

"Next" is built here from the release `make kube-up` installed: the chart packaged with a
bumped version and appVersion, and a Clima image of that tag (the installed image with the
new version label on top, so a new digest the kubelet must pull). Throughout, a client
sends reports with its own ids and resends whatever did not get a 202. The upgrade must
replace the CRD and the operator and roll no pipeline; the pipeline moves to the new image
only when its owner removes its `clima.io/image` annotation, one pod at a time; the
rollback brings the previous operator back and leaves the pipeline where it is. Every
accepted id is applied exactly once.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from node_support import PIPELINE, ROOT, Cluster, eventually, record

pytestmark = [pytest.mark.node, pytest.mark.timeout(1800)]
REGISTRY = "127.0.0.1:5000"
RELEASE = "clima"
CRD = "climapipelines.clima.io"
IMAGE_ANNOTATION = "clima.io/image"
REPORTS = 12000  # batches of 50, 0.3 s apart: over three minutes, longer with resends
CONTAINERS_CONF = ROOT / "tools" / "node" / "config" / "containers.conf"


def _chart_version() -> str:
    for line in (ROOT / "chart" / "Chart.yaml").read_text(encoding="utf-8").splitlines():
        if line.startswith("version:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("chart/Chart.yaml has no version")


def _next(version: str) -> str:
    major, minor, patch = version.split(".")
    return f"{major}.{minor}.{int(patch) + 1}"


def _operator_image(cluster: Cluster) -> str:
    deployment = cluster.json("get", "deployment", f"{RELEASE}-operator")
    image: str = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


def _operator_running(cluster: Cluster, image: str) -> bool:
    pods = cluster.json("get", "pods", "-l", "app.kubernetes.io/component=operator")["items"]
    return len(pods) == 1 and all(
        s["image"].endswith(image.split("/", 1)[1]) and s.get("ready")
        for p in pods
        for s in p.get("status", {}).get("containerStatuses", [])
    )


def _generations(cluster: Cluster) -> dict[str, int]:
    """metadata.generation of every workload of the pipeline: a roll changes one."""
    items = cluster.json("get", "deployment,statefulset", "-l", f"clima.io/pipeline={PIPELINE}")
    return {
        f"{i['kind']}/{i['metadata']['name']}": i["metadata"]["generation"] for i in items["items"]
    }


def _clima_images(cluster: Cluster) -> set[str]:
    items = cluster.json("get", "deployment", "-l", f"clima.io/pipeline={PIPELINE}")["items"]
    return {
        c["image"]
        for i in items
        if not i["metadata"]["name"].endswith("-grafana")
        for c in i["spec"]["template"]["spec"]["containers"]
    }


def _crd_chart_label(cluster: Cluster) -> str:
    crd = json.loads(cluster.run("kubectl", "get", "crd", CRD, "-o", "json").stdout)
    return str(crd["metadata"]["labels"].get("helm.sh/chart"))


def _build_next(cluster: Cluster, tmp: Path, current_tag: str, version: str) -> str:
    """The Clima image of `version` (a new digest) and the chart `version`, both pushed."""
    tag = f"{version}-{current_tag.partition('-')[2] or 'next'}"
    (tmp / "Containerfile").write_text(
        f"FROM localhost/clima/clima:{current_tag}\n"
        f'LABEL org.opencontainers.image.version="{version}"\n',
        encoding="utf-8",
    )
    env = {**cluster.env, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
    for args in (
        ["podman", "build", "--quiet", "--pull=never", "-t", f"localhost/clima/clima:{tag}",
         str(tmp)],
        ["podman", "push", "--quiet", "--tls-verify=false", f"localhost/clima/clima:{tag}",
         f"docker://{REGISTRY}/clima/clima:{tag}"],
    ):  # fmt: skip
        done = subprocess.run(
            args, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode == 0, f"{args[:2]}: {done.stderr}"
    cluster.run("helm", "package", str(ROOT / "chart"), "--version", version, "--app-version",
                version, "--destination", str(tmp))  # fmt: skip
    cluster.run("helm", "push", str(tmp / f"clima-{version}.tgz"), f"oci://{REGISTRY}/charts",
                "--plain-http")  # fmt: skip
    return tag


def _helm(cluster: Cluster, *args: str) -> str:
    return cluster.run("helm", "-n", cluster.namespace, *args, timeout=600).stdout


def _ready(cluster: Cluster) -> bool:
    return cluster.condition("Ready").get("status") == "True"


def test_upgrade_opt_in_roll_and_rollback_under_traffic(cluster: Cluster, tmp_path: Path) -> None:
    """helm upgrade replaces the CRD and the operator and rolls no pipeline; removing the
    image annotation rolls the pipeline to the new image; helm rollback restores the old
    operator and CRD and leaves the pipeline running; every accepted id counts once."""
    current = _chart_version()
    version = _next(current)
    old_image = _operator_image(cluster)
    old_tag = old_image.rsplit(":", 1)[1]
    assert cluster.pipeline()["metadata"]["annotations"][IMAGE_ANNOTATION] == old_image
    assert cluster.pipeline()["status"]["image"] == old_image
    new_tag = _build_next(cluster, tmp_path, old_tag, version)
    new_image = f"{REGISTRY}/clima/clima:{new_tag}"
    before = _generations(cluster)
    revision = json.loads(_helm(cluster, "history", RELEASE, "-o", "json"))[-1]["revision"]
    timings: dict[str, float] = {}

    traffic = cluster.traffic_in_background(reports=REPORTS, timeout=1200, pace=0.3)
    try:
        time.sleep(10)
        assert traffic.poll() is None, "the traffic ended before the upgrade"
        started = time.monotonic()
        _helm(cluster, "upgrade", RELEASE, f"oci://{REGISTRY}/charts/clima", "--version",
              version, "--plain-http", "--reuse-values", "--set", f"image.tag={new_tag}",
              "--wait", "--timeout", "5m")  # fmt: skip
        eventually(lambda: _operator_running(cluster, new_image), timeout=180, interval=2)
        timings["upgrade"] = time.monotonic() - started
        assert _crd_chart_label(cluster) == f"clima-{version}"
        time.sleep(15)  # the new operator has resumed and reconciled the pipeline
        assert _generations(cluster) == before, "the upgrade rolled the pipeline"
        assert cluster.pipeline()["metadata"]["annotations"][IMAGE_ANNOTATION] == old_image
        assert _ready(cluster)

        started = time.monotonic()
        cluster.kubectl("annotate", "climapipeline", PIPELINE, f"{IMAGE_ANNOTATION}-")
        eventually(lambda: _clima_images(cluster) == {new_image}, timeout=120, interval=2)
        eventually(lambda: cluster.pipeline()["status"].get("image") == new_image, timeout=60)
        eventually(lambda: _ready(cluster), timeout=600, interval=2)
        timings["opt-in roll"] = time.monotonic() - started
        rolled = _generations(cluster)

        started = time.monotonic()
        _helm(cluster, "rollback", RELEASE, str(revision), "--wait", "--timeout", "5m")
        eventually(lambda: _operator_running(cluster, old_image), timeout=180, interval=2)
        timings["rollback"] = time.monotonic() - started
        assert _crd_chart_label(cluster) == f"clima-{current}"
        time.sleep(15)
        assert _generations(cluster) == rolled, "the rollback rolled the pipeline"
        assert cluster.pipeline()["metadata"]["annotations"][IMAGE_ANNOTATION] == new_image
        assert _ready(cluster)
        flowing = traffic.poll() is None
        out, _ = traffic.communicate(timeout=1500)
    finally:
        traffic.kill()
    assert traffic.returncode == 0, out
    assert f"applied by this run: {REPORTS} of {REPORTS} ids" in out, out
    line = (
        f"helm upgrade {current} -> {version} under traffic: operator replaced in "
        f"{timings['upgrade']:.0f}s, no pipeline rolled; opt-in roll to the new image Ready in "
        f"{timings['opt-in roll']:.0f}s; helm rollback in {timings['rollback']:.0f}s; traffic "
        f"still flowing after the rollback: {flowing}\n"
        f"{out.strip().splitlines()[-1]}"
    )
    record("node-upgrade.txt", line)
