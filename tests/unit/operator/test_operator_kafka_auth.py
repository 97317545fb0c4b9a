"""The managed Kafka's SASL users: one per password, three steps per rotation, the clients
moving to the new user once every broker accepts it, and values escaped for Kafka's files."""

from __future__ import annotations

import base64
from typing import Any

from clima_operator.children import KafkaUsers, kafka_auth
from clima_operator.reconciler import Reconciler

SPEC = {"mode": "kafka", "image": "r.example/clima:1", "kafka": {"managed": {"replicas": 3}}}


def test_a_rotation_adds_a_user_then_moves_to_it_then_drops_the_old() -> None:
    start = kafka_auth.single("old")
    first = kafka_auth.next_users("new", start, replicas=3, rolled=True)
    assert first == KafkaUsers((("clima1", "old"), ("clima2", "new")), "clima1")
    second = kafka_auth.next_users("new", first, replicas=3, rolled=True)
    assert second == KafkaUsers((("clima1", "old"), ("clima2", "new")), "clima2")
    third = kafka_auth.next_users("new", second, replicas=3, rolled=True)
    assert third == KafkaUsers((("clima2", "new"),), "clima2")
    assert kafka_auth.next_users("new", second, replicas=3, rolled=False) == second
    again = kafka_auth.next_users("newer", third, replicas=3, rolled=True)
    assert again == KafkaUsers((("clima2", "new"), ("clima3", "newer")), "clima2")


def test_a_single_broker_takes_the_new_user_at_once() -> None:
    assert kafka_auth.next_users("new", kafka_auth.single("old"), 1, rolled=True) == (
        KafkaUsers((("clima2", "new"),), "clima2")
    )


def test_the_record_reads_back_and_a_foreign_one_is_ignored() -> None:
    users = KafkaUsers((("clima1", 'a "b"'), ("clima2", "c\\nd")), "clima2")
    files = {kafka_auth.USERS_FILE: kafka_auth.recorded(users)}
    assert kafka_auth.recorded_users(files) == users
    assert kafka_auth.recorded_users({}) is None
    bad = '{"users": [["root", "x"]], "outgoing": "root"}'
    assert kafka_auth.recorded_users({kafka_auth.USERS_FILE: bad}) is None


def test_jaas_and_properties_escape_what_they_must() -> None:
    users = kafka_auth.single('a"b\\c\nd')
    text = kafka_auth.jaas(users, server=True)
    assert text == (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        'username="clima1" password="a\\"b\\\\c\\nd" user_clima1="a\\"b\\\\c\\nd";'
    )
    assert kafka_auth.property_value(" x\\ü😀") == "\\ x\\\\\\u00fc\\ud83d\\ude00"


def _files(cluster: Any) -> dict[str, str]:
    data = cluster.child("Secret", "demo-kafka-config")["data"]
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


def _username(cluster: Any, name: str) -> str:
    container = cluster.child("Deployment", name)["spec"]["template"]["spec"]["containers"][0]
    return next(e["value"] for e in container["env"] if e["name"] == "KAFKA_USERNAME")


def _rotating(cluster: Any, events: Any) -> Reconciler:
    """A reconciled, ready pipeline whose Kafka password was just edited."""
    cluster.add_pipeline(spec=SPEC)
    reconciler = Reconciler(cluster, events, now=lambda: "2025-01-01T00:00:00Z")
    reconciler.reconcile("ns", "demo")
    cluster.mark_ready()
    secret = cluster.child("Secret", "demo-credentials")
    secret["data"]["kafka-password"] = base64.b64encode(b"rotated").decode()
    return reconciler


def test_the_clients_move_to_the_new_user_in_the_second_step(cluster: Any, events: Any) -> None:
    reconciler = _rotating(cluster, events)
    seen = []
    for _ in range(3):
        reconciler.reconcile("ns", "demo")
        users = kafka_auth.recorded_users(_files(cluster))
        assert users is not None
        clients = {_username(cluster, "demo-writer"), _username(cluster, "demo-kafka-consumer")}
        seen.append((len(users.users), users.outgoing, clients))
        assert _files(cluster)["client-password"] == users.password
        reconciler.reconcile("ns", "demo")  # nothing rolled yet: no further step
        assert kafka_auth.recorded_users(_files(cluster)) == users
        cluster.mark_ready()
    assert seen == [(2, "clima1", {"clima1"}), (2, "clima2", {"clima2"}),
                    (1, "clima2", {"clima2"})]  # fmt: skip
    steps = [m for _, reason, m in events.posted if reason == "KafkaPasswordRotation"]
    assert [m.split(":")[0] for m in steps] == [
        f"Kafka password rotation, step {n} of 3" for n in (1, 2, 3)
    ]


def test_a_client_still_rolling_holds_the_next_step(cluster: Any, events: Any) -> None:
    reconciler = _rotating(cluster, events)
    reconciler.reconcile("ns", "demo")
    cluster.mark_ready()
    reconciler.reconcile("ns", "demo")  # step 2: the writer rolls to the new user
    writer = cluster.child("Deployment", "demo-writer")
    cluster.mark_ready()
    writer["status"]["updatedReplicas"] = 0  # its new pod is not up yet
    reconciler.reconcile("ns", "demo")
    users = kafka_auth.recorded_users(_files(cluster))
    assert users is not None
    assert len(users.users) == 2
