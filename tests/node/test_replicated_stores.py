"""Replicated stores on the real node: a store pod SIGKILLed, and a store pod deleted with
its disk, while a client sends reports with its own ids and resends whatever did not get a
202. Every accepted id is applied exactly once, and the store is whole again afterwards.

The sample pipeline `make kube-up` applies runs Kafka, RabbitMQ and Valkey with three nodes
each.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from node_support import PIPELINE, Cluster, eventually, record

pytestmark = [pytest.mark.node, pytest.mark.timeout(900)]
KAFKA = f"{PIPELINE}-kafka"
RABBITMQ = f"{PIPELINE}-rabbitmq"
VALKEY = f"{PIPELINE}-valkey"
REPORTS = 8000  # batches of 50, 0.4 s apart: about two minutes, longer with resends
KAFKA_CLASSPATH = "/opt/kafka/libs/*"


def _sigkill(cluster: Cluster, pod: str, container: str) -> int:
    """Kills the container's main process on the node with SIGKILL; returns its pid."""
    listed = cluster.run(
        "crictl", "ps", "-q", "--label", f"io.kubernetes.pod.name={pod}",
        "--label", f"io.kubernetes.container.name={container}",
    )  # fmt: skip
    ids = listed.stdout.split()
    assert ids, f"no running container {container} in pod {pod}"
    info = json.loads(cluster.run("crictl", "inspect", ids[0]).stdout)
    pid = int(info["info"]["pid"])
    os.kill(pid, signal.SIGKILL)
    return pid


def _topics(cluster: Cluster) -> dict[str, list[dict[str, Any]]]:
    """Every partition of every topic: its leader, replicas and in-sync replicas."""
    done = cluster.kubectl(
        "exec", f"{KAFKA}-0", "--", "java", "-cp", KAFKA_CLASSPATH,
        "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", "localhost:9092",
        "--command-config", "/etc/clima/kafka/client.properties", "--describe", timeout=120,
    )  # fmt: skip
    found: dict[str, list[dict[str, Any]]] = {}
    pattern = r"Topic: (\S+)\tPartition: (\d+)\tLeader: (-?\d+)\tReplicas: (\S+)\tIsr: (\S*)"
    for topic, part, leader, replicas, isr in re.findall(pattern, done.stdout):
        found.setdefault(topic, []).append(
            {"partition": int(part), "leader": int(leader),
             "replicas": replicas.split(","), "isr": isr.split(",") if isr else []}
        )  # fmt: skip
    return found


def _whole(cluster: Cluster, copies: int) -> bool:
    """Every partition has ``copies`` replicas, all of them in sync."""
    topics = _topics(cluster)
    return bool(topics) and all(
        len(p["replicas"]) == copies and len(p["isr"]) == copies
        for parts in topics.values()
        for p in parts
    )


def _statefulset_ready(cluster: Cluster, name: str, replicas: int) -> bool:
    status = cluster.json("get", "statefulset", name)["status"]
    return int(status.get("readyReplicas", 0)) == replicas


@dataclass
class Ordeal:
    """What one store went through under traffic: its pod SIGKILLed, then a pod deleted
    with its claim; how long each took to be whole again, and what the client saw."""

    victim: str
    lost_disk: str
    back_after_kill: float
    back_after_disk: float
    out: str

    @property
    def sent(self) -> str:
        return next(line for line in self.out.splitlines() if line.startswith("sent "))


def _kill_then_lose_a_disk(
    cluster: Cluster,
    store: str,
    victim: str,
    lost_disk: Callable[[], str],
    whole: Callable[[], bool] = lambda: True,
) -> Ordeal:
    """Under traffic: SIGKILLs ``victim``'s main container and waits until the store is
    whole with it restarted; then deletes the pod ``lost_disk()`` names together with its
    claim and waits until the store is whole on a new disk. Every accepted id must have been
    applied exactly once."""
    name = f"{PIPELINE}-{store}"
    traffic = cluster.traffic_in_background(reports=REPORTS, timeout=600, pace=0.4)
    try:
        time.sleep(8)
        killed = time.monotonic()
        _sigkill(cluster, victim, store)
        eventually(
            lambda: (
                _statefulset_ready(cluster, name, 3) and _restarted(cluster, victim) and whole()
            ),
            timeout=300,
            interval=1,
        )
        back_after_kill = time.monotonic() - killed
        pod = lost_disk()
        claim = f"data-{pod}"
        uid = cluster.json("get", "pvc", claim)["metadata"]["uid"]
        deleted = time.monotonic()
        cluster.kubectl("delete", "pvc", claim, "--wait=false")
        cluster.kubectl("delete", "pod", pod, "--wait=false")
        eventually(
            lambda: (
                _new_claim(cluster, claim, uid) and _statefulset_ready(cluster, name, 3) and whole()
            ),
            timeout=300,
            interval=1,
        )
        back_after_disk = time.monotonic() - deleted
        out, _ = traffic.communicate(timeout=900)
    finally:
        traffic.kill()
    assert traffic.returncode == 0, out
    assert f"applied by this run: {REPORTS} of {REPORTS} ids" in out, out
    return Ordeal(victim, pod, back_after_kill, back_after_disk, out)


def test_kafka_node_killed_and_disk_lost_under_traffic_lose_nothing(cluster: Cluster) -> None:
    """Kafka with three nodes: the leader of the reports' first partition is SIGKILLed, then
    another node is deleted together with its claim (its disk is gone). Reports keep being
    accepted with min.insync.replicas 2, every accepted id is applied once, and the node that
    lost its disk copies every partition back (3 replicas, all in sync)."""
    sts = cluster.json("get", "statefulset", KAFKA)
    assert sts["spec"]["replicas"] == 3, "the sample pipeline runs three Kafka nodes"
    topics = _topics(cluster)
    assert all(len(p["replicas"]) == 3 for p in topics[PIPELINE]), topics
    leader = next(p["leader"] for p in topics[PIPELINE] if p["partition"] == 0)
    victim = f"{KAFKA}-{leader - 1}"  # node.id is the ordinal + 1
    ordeal = _kill_then_lose_a_disk(cluster, "kafka", victim, lambda: f"{KAFKA}-{leader % 3}")
    started = time.monotonic()
    eventually(lambda: _whole(cluster, 3), timeout=300, interval=5)
    in_sync_after = time.monotonic() - started
    record(
        "kafka-replicated",
        f"kafka 3 nodes: SIGKILL of {victim} (leader of partition 0): ready again in "
        f"{ordeal.back_after_kill:.0f}s; {ordeal.lost_disk} deleted with its claim: ready on a "
        f"new disk in {ordeal.back_after_disk:.0f}s, every partition 3/3 in sync "
        f"{in_sync_after:.0f}s after the traffic ended; {ordeal.sent}; applied {REPORTS} of "
        f"{REPORTS} ids once",
    )


def _restarted(cluster: Cluster, pod: str) -> bool:
    statuses = cluster.json("get", "pod", pod)["status"].get("containerStatuses", [])
    return any(int(s.get("restartCount", 0)) > 0 and s.get("ready") for s in statuses)


def _new_claim(cluster: Cluster, claim: str, old_uid: str) -> bool:
    found = cluster.kubectl("get", "pvc", claim, "-o", "json", check=False)
    if found.returncode != 0:
        return False
    pvc = json.loads(found.stdout)
    return bool(pvc["metadata"]["uid"] != old_uid and pvc["status"].get("phase") == "Bound")


def _rabbit_queues(cluster: Cluster, pod: str) -> dict[str, dict[str, Any]]:
    """The work and dead-letter queues as one RabbitMQ node lists them: type, leader,
    members and the members online."""
    done = cluster.kubectl(
        "exec", pod, "--", "rabbitmqctl", "-q", "list_queues", "name", "type", "leader",
        "members", "online", "--formatter", "json", timeout=120,
    )  # fmt: skip
    return {q["name"]: q for q in json.loads(done.stdout)}


def _rabbit_whole(cluster: Cluster, nodes: int) -> bool:
    queues = _rabbit_queues(cluster, f"{RABBITMQ}-0")
    return all(
        len(queues[name]["members"]) == nodes and len(queues[name]["online"]) == nodes
        for name in (PIPELINE, f"{PIPELINE}.dead")
    )


def test_rabbitmq_node_killed_and_disk_lost_under_traffic_lose_nothing(
    cluster: Cluster,
) -> None:
    """RabbitMQ with three nodes: the work queue's leader is SIGKILLed, then another node
    is deleted together with its claim. The quorum queues stay available on the majority,
    every accepted id is applied once, and the node on its new disk becomes a member of
    both queues again."""
    sts = cluster.json("get", "statefulset", RABBITMQ)
    assert sts["spec"]["replicas"] == 3, "the sample pipeline runs three RabbitMQ nodes"
    queues = _rabbit_queues(cluster, f"{RABBITMQ}-0")
    assert queues[PIPELINE]["type"] == "quorum", queues
    assert len(queues[PIPELINE]["members"]) == 3, queues
    leader_node = queues[PIPELINE]["leader"]  # rabbit@<pod>.<service>.<namespace>.svc
    victim = leader_node.removeprefix("rabbit@").split(".")[0]
    ordinal = int(victim.rsplit("-", 1)[1])
    lost = f"{RABBITMQ}-{(ordinal + 1) % 3}"
    ordeal = _kill_then_lose_a_disk(cluster, "rabbitmq", victim, lambda: lost)
    started = time.monotonic()
    eventually(lambda: _rabbit_whole(cluster, 3), timeout=180, interval=5)
    members_after = time.monotonic() - started
    record(
        "rabbitmq-replicated",
        f"rabbitmq 3 nodes: SIGKILL of {victim} (leader of the work queue): ready again in "
        f"{ordeal.back_after_kill:.0f}s; {lost} deleted with its claim: ready on a new disk in "
        f"{ordeal.back_after_disk:.0f}s, both queues 3/3 members online {members_after:.0f}s "
        f"after the traffic ended; {ordeal.sent}; applied {REPORTS} of {REPORTS} ids once",
    )


def _valkey_roles(cluster: Cluster) -> dict[str, dict[str, str]]:
    """Every Valkey pod's replication section (role, its primary, link state, offset)."""
    roles = {}
    for ordinal in range(3):
        pod = f"{VALKEY}-{ordinal}"
        done = cluster.kubectl("exec", pod, "-c", "valkey", "--", "valkey-cli", "INFO",
                               "replication", check=False)  # fmt: skip
        fields = dict(
            line.strip().split(":", 1) for line in done.stdout.splitlines() if ":" in line
        )
        roles[pod] = fields
    return roles


def _valkey_primary(cluster: Cluster) -> str:
    primaries = [
        pod for pod, info in _valkey_roles(cluster).items() if info.get("role") == "master"
    ]
    assert len(primaries) == 1, primaries
    return primaries[0]


def _valkey_whole(cluster: Cluster) -> bool:
    """One primary, two replicas linked to it."""
    roles = _valkey_roles(cluster)
    primaries = [pod for pod, info in roles.items() if info.get("role") == "master"]
    linked = [
        pod
        for pod, info in roles.items()
        if info.get("role") == "slave" and info.get("master_link_status") == "up"
    ]
    return (
        len(primaries) == 1
        and len(linked) == 2
        and roles[primaries[0]].get("connected_slaves") == "2"
    )


def test_valkey_primary_killed_then_lost_with_its_disk_under_traffic_lose_nothing(
    cluster: Cluster,
) -> None:
    """Valkey with a primary and two replicas: the primary is SIGKILLed, then the primary of
    that moment is deleted together with its claim. Every apply waited for a replica, so the
    promoted replica has it; the node back on an empty disk becomes a replica instead of
    serving its empty set; every accepted id is applied once."""
    assert cluster.json("get", "statefulset", VALKEY)["spec"]["replicas"] == 3
    assert _valkey_whole(cluster), _valkey_roles(cluster)
    first = _valkey_primary(cluster)
    primaries: list[str] = []

    def current_primary() -> str:
        primaries.append(_valkey_primary(cluster))
        return primaries[-1]

    ordeal = _kill_then_lose_a_disk(
        cluster, "valkey", first, current_primary, whole=lambda: _valkey_whole(cluster)
    )
    second, third = primaries[0], _valkey_primary(cluster)
    assert third != second, "the node on the empty disk must not have become the primary"
    record(
        "valkey-replicated",
        f"valkey primary + 2 replicas: SIGKILL of the primary {first}: whole again in "
        f"{ordeal.back_after_kill:.0f}s (primary then {second}); {second} deleted with its "
        f"claim: whole again in {ordeal.back_after_disk:.0f}s with {third} promoted and "
        f"{second} its replica; {ordeal.sent}; applied {REPORTS} of {REPORTS} ids once",
    )
