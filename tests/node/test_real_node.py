"""The user's whole path on a real node: every pod a real container, every count exact."""

from __future__ import annotations

import re
import subprocess
import time

import pytest
from node_support import PIPELINE, Cluster, eventually, restarts, running

pytestmark = [pytest.mark.node, pytest.mark.timeout(3600)]


def test_kube_up_reaches_ready_and_counts_every_report_once(
    kube_up: subprocess.CompletedProcess[str],
) -> None:
    """`make kube-up` ends with 1,000 reports through the api Service and 100 through the
    proxy's /tweet counted exactly once by Valkey, read inside its pod."""
    assert "applied by this run: 1100 of 1100 ids" in kube_up.stdout


def test_every_pod_runs_a_real_container_without_restarts(cluster: Cluster) -> None:
    """Every pod of the pipeline is Running on the real node, and 60 s after Ready none has
    restarted."""
    ready = cluster.condition("Ready")
    assert ready.get("status") == "True", ready
    time.sleep(60)
    pods = cluster.pods()
    components = {p["metadata"]["labels"].get("app.kubernetes.io/component") for p in pods}
    assert {"api", "proxy", "writer", "kafka", "rabbitmq", "valkey"} <= components, components
    for pod in pods:
        name = pod["metadata"]["name"]
        assert running(pod), f"{name} is {pod['status'].get('phase')}"
        assert pod["spec"]["nodeName"] == "clima-host", f"{name} is on {pod['spec']['nodeName']}"
        assert restarts(pod) == 0, f"{name} restarted {restarts(pod)} times"
        ids = [s.get("containerID", "") for s in pod["status"]["containerStatuses"]]
        assert all(i.startswith("containerd://") for i in ids), ids


def test_helm_test_passes_for_real(cluster: Cluster) -> None:
    """The chart's test pod runs on the node and passes."""
    done = cluster.run("helm", "test", "clima", "-n", cluster.namespace, "--timeout", "5m")
    assert "Phase:          Succeeded" in done.stdout, done.stdout


def test_operator_runs_restricted_under_its_own_account_and_logs_no_error(
    cluster: Cluster,
) -> None:
    """The chart's operator pod runs in a namespace enforcing the restricted profile, as its
    own ServiceAccount, and has written nothing at level ERROR."""
    namespace = cluster.run("kubectl", "get", "namespace", cluster.namespace, "-o", "json")
    assert '"pod-security.kubernetes.io/enforce": "restricted"' in namespace.stdout
    (operator,) = [
        p for p in cluster.pods()
        if p["metadata"]["labels"].get("app.kubernetes.io/component") == "operator"
    ]  # fmt: skip
    assert running(operator)
    assert operator["spec"]["serviceAccountName"] not in ("", "default")
    log = cluster.kubectl("logs", operator["metadata"]["name"]).stdout
    assert log, "the operator wrote no log at all"
    errors = [
        line for line in log.splitlines() if re.search(r"\bERROR\b|\"level\": ?\"error\"", line)
    ]
    assert errors == [], "\n".join(errors[:10])


def test_pods_deleted_under_traffic_lose_nothing_and_count_nothing_twice(
    cluster: Cluster,
) -> None:
    """The writer, a consumer and Valkey are deleted while reports flow; every report is
    resent with its id until accepted, and Valkey counts each exactly once."""
    # 158 requests 0.5 s apart: about 80 s of traffic, longer than the three deletions
    traffic = cluster.traffic_in_background(reports=3000, timeout=400, pace=0.5)
    try:
        for component in ("writer", "kafka-consumer", "valkey"):
            time.sleep(4)
            assert traffic.poll() is None, f"the traffic ended before {component} was deleted"
            cluster.kubectl(
                "delete", "pod", "-l", f"app.kubernetes.io/component={component}", "--wait=false"
            )
            eventually(
                lambda: cluster.condition("Ready").get("status") == "True", timeout=180, interval=2
            )
        out, _ = traffic.communicate(timeout=600)
    finally:
        traffic.kill()
    assert traffic.returncode == 0, out
    assert "applied by this run: 3000 of 3000 ids" in out, out


def test_bad_image_and_crash_loop_degrade_then_recover(cluster: Cluster) -> None:
    """An image that does not exist reads Degraded/ImagePullBackOff within 60 s; a container
    that keeps exiting reads CrashLoopBackOff; the fixed spec is Ready again."""

    def degraded_by(reason: str) -> bool:
        degraded = cluster.condition("Degraded")
        writer = cluster.condition("WriterReady")
        assert degraded.get("status") == "True", degraded
        assert writer.get("reason") == reason, writer
        assert "pod " in writer.get("message", ""), writer
        assert "writer" in writer["message"], writer
        return True

    cluster.patch_spec({"writer": {"image": "127.0.0.1:5000/clima/does-not-exist:0"}})
    eventually(lambda: degraded_by("ImagePullBackOff"), timeout=60, interval=2)
    # an image whose container cannot run `clima`: it exits at once, again and again
    cluster.patch_spec({"writer": {"image": "docker.io/valkey/valkey:8.0.2"}})
    eventually(lambda: degraded_by("CrashLoopBackOff"), timeout=180, interval=2)
    cluster.patch_spec({"writer": {"image": None}})
    eventually(lambda: cluster.condition("Ready").get("status") == "True", timeout=180, interval=2)
    assert cluster.condition("Degraded").get("status") != "True"
    print(cluster.traffic(reports=50, tweets=10))


def test_pipeline_name_is_what_kube_up_applied(cluster: Cluster) -> None:
    """`kubectl get cp` lists the sample pipeline with its mode and readiness columns."""
    done = cluster.kubectl("get", "cp")
    assert PIPELINE in done.stdout, done.stdout
    assert "both" in done.stdout, done.stdout


def test_two_writers_and_two_consumers_per_broker_count_each_report_once(
    cluster: Cluster,
) -> None:
    """Scaled out to two writers and two consumers per broker (each group sharing Kafka's
    partitions, RabbitMQ's queue shared by its two), with one consumer of each broker deleted
    mid-traffic: every id is applied once, and each scaled component has a disruption
    budget of one pod."""
    scaled = {"writer": {"replicas": 2}, "kafkaConsumer": {"replicas": 2},
              "rabbitConsumer": {"replicas": 2}}  # fmt: skip
    cluster.patch_spec(scaled)
    components = ("writer", "kafka-consumer", "rabbit-consumer")

    def budgets() -> dict[str, dict[str, object]]:
        return {b["metadata"]["name"]: b["spec"] for b in cluster.json("get", "pdb")["items"]}

    def scaled_out() -> bool:
        """Every scaled Deployment has its two pods ready (the Ready condition alone was
        True before the operator even saw the patch)."""
        for component in components:
            status = cluster.json("get", "deployment", f"{PIPELINE}-{component}")["status"]
            if status.get("readyReplicas") != 2 or status.get("updatedReplicas") != 2:
                return False
        return cluster.condition("Ready").get("status") == "True"

    try:
        eventually(lambda: {f"{PIPELINE}-{c}" for c in components} <= set(budgets()),
                   timeout=120, interval=2)  # fmt: skip
        eventually(scaled_out, timeout=300, interval=2)
        for component in components:
            assert budgets()[f"{PIPELINE}-{component}"]["maxUnavailable"] == 1
        traffic = cluster.traffic_in_background(reports=4000, timeout=400, pace=0.2)
        try:
            time.sleep(8)
            for component in ("kafka-consumer", "rabbit-consumer"):
                pods = cluster.json("get", "pods", "-l", f"app.kubernetes.io/component={component}")
                cluster.kubectl("delete", "pod", pods["items"][0]["metadata"]["name"],
                                "--wait=false")  # fmt: skip
            out, _ = traffic.communicate(timeout=600)
        finally:
            traffic.kill()
        assert traffic.returncode == 0, out
        assert "applied by this run: 4000 of 4000 ids" in out, out
        print(out.strip().splitlines()[-1])
    finally:
        cluster.patch_spec({"writer": {"replicas": 1}, "kafkaConsumer": {"replicas": 1},
                            "rabbitConsumer": {"replicas": 1}})  # fmt: skip
        eventually(lambda: cluster.condition("Ready").get("status") == "True", timeout=300,
                   interval=2)  # fmt: skip
