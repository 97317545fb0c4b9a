"""Generated passwords rotated under traffic on the real node.

The RabbitMQ, Valkey and Kafka passwords of the sample pipeline (three nodes of each) are
replaced in its credentials Secret while reports flow. Every process that uses them must
roll onto the new ones by itself (the writer, both consumers and the stores), the old ones
must stop working, and every id answered 202 must be counted exactly once. Valkey takes the new
password in three rolls (see ``clima_operator.children.valkey``), Kafka likewise, its
clients moving to the new user in the second (``clima_operator.children.kafka_auth``).
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import pytest
from node_support import PIPELINE, Cluster, eventually, record

pytestmark = [pytest.mark.node, pytest.mark.timeout(2400)]
REPORTS = 8000  # batches of 50, 0.4 s apart: over two minutes, longer with resends
CHECKSUM = "clima.io/config-checksum"
USERS = {  # the workloads that read each password
    "rabbitmq-password": {"writer", "rabbit-consumer", "rabbitmq"},
    "valkey-password": {"kafka-consumer", "rabbit-consumer", "valkey"},
    "kafka-password": {"writer", "kafka-consumer", "kafka"},
}
#: rolled by the first step of a rotation (the Kafka clients move in the second)
FIRST = {"writer", "rabbit-consumer", "rabbitmq", "kafka-consumer", "valkey", "kafka"}
KAFKA_TOOL = "java -Xmx128m -cp '/opt/kafka/libs/*' org.apache.kafka.tools.TopicCommand"


def _workloads(cluster: Cluster) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for kind in ("deployments", "statefulsets"):
        items += cluster.json("get", kind, "-l", f"clima.io/pipeline={PIPELINE}")["items"]
    return items


def _checksums(cluster: Cluster) -> dict[str, str]:
    prefix = f"{PIPELINE}-"
    return {
        w["metadata"]["name"].removeprefix(prefix): w["spec"]["template"]["metadata"][
            "annotations"
        ][CHECKSUM]
        for w in _workloads(cluster)
    }


def _rolled(cluster: Cluster) -> bool:
    """Every workload's pods run its current template and are ready."""
    for item in _workloads(cluster):
        meta, spec, status = item["metadata"], item["spec"], item.get("status", {})
        want = int(spec.get("replicas", 1))
        if int(status.get("observedGeneration", 0)) < int(meta["generation"]):
            return False
        if int(status.get("readyReplicas", 0)) != want:
            return False
        if item["kind"] == "StatefulSet":
            if status.get("currentRevision") != status.get("updateRevision"):
                return False
        elif {int(status.get("updatedReplicas", 0)), int(status.get("replicas", 0))} != {want}:
            return False
    return True


def _rabbit_accepts(cluster: Cluster, pod: str, password: str) -> bool:
    done = cluster.kubectl(
        "exec", "-i", pod, "-c", "rabbitmq", "--", "rabbitmqctl", "-q", "authenticate_user",
        "clima", stdin=password + "\n", check=False,
    )  # fmt: skip
    return done.returncode == 0


def _valkey_accepts(cluster: Cluster, pod: str, password: str) -> bool:
    script = 'read -r p; REDISCLI_AUTH="$p" valkey-cli --no-auth-warning PING'
    done = cluster.kubectl(
        "exec", "-i", pod, "-c", "valkey", "--", "sh", "-c", script, stdin=password + "\n",
        check=False,
    )  # fmt: skip
    return done.stdout.strip() == "PONG"


def _kafka_accepts(cluster: Cluster, password: str, user: str) -> bool:
    """Whether Kafka lets `user` list its topics with `password` (from a broker's pod)."""
    jaas = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{user}" password="{password}";'
    )
    script = (
        "f=/tmp/rotation-check.properties; read -r line;"
        " printf 'security.protocol=SASL_PLAINTEXT\\nsasl.mechanism=PLAIN\\n"
        'sasl.jaas.config=%s\\n\' "$line" > $f;'
        f" timeout 60 {KAFKA_TOOL} --bootstrap-server localhost:9092 --command-config $f --list"
    )
    done = cluster.kubectl(
        "exec", "-i", f"{PIPELINE}-kafka-0", "-c", "kafka", "--", "sh", "-c", script,
        stdin=jaas + "\n", check=False, timeout=120,
    )  # fmt: skip
    return done.returncode == 0 and "clima" in done.stdout.split()


def _kafka_users(cluster: Cluster) -> list[list[str]]:
    secret = cluster.json("get", "secret", f"{PIPELINE}-kafka-config")
    users = json.loads(cluster.run("base64", "-d", stdin=secret["data"]["users.json"]).stdout)
    found: list[list[str]] = users["users"]
    return found


def test_rotated_passwords_roll_every_user_and_lose_nothing(cluster: Cluster) -> None:
    """New RabbitMQ and Valkey passwords in the Secret, under traffic: the processes that
    use them roll by themselves, the new ones work and the old ones no longer do, and every
    accepted id is applied once."""
    secret = cluster.json("get", "secret", f"{PIPELINE}-credentials")
    old = {key: cluster.run("base64", "-d", stdin=secret["data"][key]).stdout for key in USERS}
    ((old_user, _),) = _kafka_users(cluster)
    before = _checksums(cluster)
    new = {key: secrets.token_urlsafe(24) for key in USERS}
    traffic = cluster.traffic_in_background(reports=REPORTS, timeout=1200, pace=0.4)
    try:
        time.sleep(15)  # reports flow
        assert traffic.poll() is None, "the traffic ended before the rotation"
        started = time.monotonic()
        patch = json.dumps({"stringData": new})
        cluster.kubectl("patch", "secret", f"{PIPELINE}-credentials", "--type=merge", "-p", patch)
        users = set().union(*USERS.values())

        def rerendered() -> bool:
            now = _checksums(cluster)
            return all(now[name] != before[name] for name in FIRST)

        eventually(rerendered, timeout=180, interval=2)
        noticed = time.monotonic() - started
        flowing = traffic.poll() is None

        def rotated() -> bool:
            """Every workload rolled and Ready, and Valkey past its last step (it rolls
            three times, one step of the rotation each; Ready holds between them)."""
            if not _rolled(cluster) or cluster.condition("Ready").get("status") != "True":
                return False
            if len(_kafka_users(cluster)) != 1 or _kafka_users(cluster)[0][0] == old_user:
                return False
            pods = [f"{PIPELINE}-valkey-{ordinal}" for ordinal in range(3)]
            return not any(_valkey_accepts(cluster, pod, old["valkey-password"]) for pod in pods)

        eventually(rotated, timeout=1200, interval=3)
        rolled = time.monotonic() - started
        out, _ = traffic.communicate(timeout=1500)
    finally:
        traffic.kill()
    assert traffic.returncode == 0, out
    assert f"applied by this run: {REPORTS} of {REPORTS} ids" in out, out
    after = _checksums(cluster)
    assert all(after[name] != before[name] for name in users), (before, after)
    ((new_user, _),) = _kafka_users(cluster)
    assert _kafka_accepts(cluster, new["kafka-password"], new_user)
    assert not _kafka_accepts(cluster, old["kafka-password"], old_user)
    untouched = {name for name in before if name not in users and before[name] == after[name]}
    assert {"api", "proxy"} <= untouched, (before, after)
    for ordinal in range(3):
        pod = f"{PIPELINE}-rabbitmq-{ordinal}"
        assert _rabbit_accepts(cluster, pod, new["rabbitmq-password"]), pod
        assert not _rabbit_accepts(cluster, pod, old["rabbitmq-password"]), pod
        pod = f"{PIPELINE}-valkey-{ordinal}"
        assert _valkey_accepts(cluster, pod, new["valkey-password"]), pod
        assert not _valkey_accepts(cluster, pod, old["valkey-password"]), pod
    steps = cluster.json("get", "events", "--field-selector", "reason=ValkeyPasswordRotation")[
        "items"
    ]
    assert sorted(e["message"].split(":")[0] for e in steps) == [
        f"Valkey password rotation, step {n} of 3" for n in (1, 2, 3)
    ], [e["message"] for e in steps]
    steps = cluster.json("get", "events", "--field-selector", "reason=KafkaPasswordRotation")[
        "items"
    ]
    assert sorted(e["message"].split(":")[0] for e in steps) == [
        f"Kafka password rotation, step {n} of 3" for n in (1, 2, 3)
    ], [e["message"] for e in steps]
    line = (
        f"RabbitMQ, Valkey and Kafka passwords rotated under traffic: re-rendered after "
        f"{noticed:.0f}s, every workload rolled and Ready after {rolled:.0f}s; traffic still "
        f"flowing when the re-render was seen: {flowing}\n"
        f"{out.strip().splitlines()[0]}\n{out.strip().splitlines()[-1]}"
    )
    record("node-rotation.txt", line)
