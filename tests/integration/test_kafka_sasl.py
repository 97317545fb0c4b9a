"""The managed Kafka requires its users: a real Kafka started from the operator's own
rendered ``server.properties`` (at the step of a rotation where it accepts two users) serves
the writer's and consumers' client settings for either user, refuses a client without the
password and one with a wrong password (so an unrelated pod can neither commit the group's
offsets nor delete the topic), and Kafka's own tools work from the rendered
``client.properties``. The new password has characters the files must escape."""

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from clima_process_support import free_port, wait_listening
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient  # type: ignore[attr-defined]

from clima.common.kafka import client_config, durable_producer_config, ensure_topic
from clima.wiring import KafkaAccess
from clima_operator.children import Context, KafkaUsers, Owner, kafka, kafka_auth
from clima_operator.spec import parse_spec

OLD = "old-kafka-password"
NEW = 'n3w "kafka" p@ss \\ ünï = ok'
USERS = kafka_auth.next_users(NEW, kafka_auth.single(OLD), replicas=3, rolled=True)


@pytest.fixture(scope="module")
def sasl_kafka(
    infra_settings: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """A one-node Kafka on the operator's rendering (the local one installed the jars); its
    bootstrap address and config dir."""
    config = infra_settings
    home, java = config["kafka-home"], config["java"]
    assert home, "Kafka is installed by tools/local/infra.sh install kafka"
    folder = tmp_path_factory.mktemp("sasl-kafka")
    port, controller = free_port(), free_port()
    spec = parse_spec({"mode": "kafka"})
    ctx = Context(Owner("demo", "ns", "uid-sasl"), spec, kafka_users=USERS)
    files = kafka.files(ctx)
    props = files[kafka.PROPERTIES]
    props = props.replace(f"CLIENT://:{kafka.KAFKA_PORT}", f"CLIENT://127.0.0.1:{port}")
    props = props.replace(f"CONTROLLER://:{kafka.CONTROLLER_PORT}",
                          f"CONTROLLER://127.0.0.1:{controller}")  # fmt: skip
    props = props.replace(f"CLIENT://{kafka.pod_host(ctx, 0)}:{kafka.KAFKA_PORT}",
                          f"CLIENT://127.0.0.1:{port}")  # fmt: skip
    props = props.replace(f"1@localhost:{kafka.CONTROLLER_PORT}", f"1@127.0.0.1:{controller}")
    props = props.replace(f"log.dirs={kafka.LOG_DIR}", f"log.dirs={folder / 'data'}")
    (folder / kafka.PROPERTIES).write_text(props)
    client_props = files[kafka_auth.CLIENT_PROPERTIES].replace(
        f"localhost:{kafka.KAFKA_PORT}", f"127.0.0.1:{port}"
    )
    (folder / kafka_auth.CLIENT_PROPERTIES).write_text(client_props)
    classpath = f"{home}/libs/*"
    base = [java, "-Xmx512m", "-cp", classpath]
    subprocess.run([*base, "kafka.tools.StorageTool", "format", "--cluster-id=" +
                    kafka.cluster_id("uid-sasl"), "-c", str(folder / kafka.PROPERTIES)],
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    log = (folder / "kafka.log").open("w")
    process = subprocess.Popen([*base, "kafka.Kafka", str(folder / kafka.PROPERTIES)],
                               stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, "KAFKA_HEAP_OPTS": ""})  # fmt: skip
    try:
        wait_listening(port, process, 90, folder / "kafka.log")
        yield f"127.0.0.1:{port}", folder
    finally:
        process.kill()
        process.wait(30)
        log.close()


def _access(bootstrap: str, name: str) -> KafkaAccess:
    return KafkaAccess(bootstrap, name, dict(USERS.users)[name])


def test_both_users_of_a_rotation_step_publish_and_consume(sasl_kafka: tuple[str, Path]) -> None:
    bootstrap, _ = sasl_kafka
    (old_name, _), (new_name, _) = USERS.users
    topic = "sasl-reports"
    ensure_topic(_access(bootstrap, old_name), topic, 2, timeout_s=60)
    for name in (old_name, new_name):
        producer = Producer(durable_producer_config(_access(bootstrap, name)))
        producer.produce(topic, f"from {name}".encode())
        assert producer.flush(30) == 0, name
    consumer = Consumer({**client_config(_access(bootstrap, new_name)),
                         "group.id": "sasl-group", "auto.offset.reset": "earliest"})  # fmt: skip
    consumer.subscribe([topic])
    seen: set[bytes] = set()
    deadline = time.monotonic() + 60
    while len(seen) < 2 and time.monotonic() < deadline:
        message = consumer.poll(1)
        if message is not None and message.error() is None:
            seen.add(message.value())
    consumer.commit(asynchronous=False)
    consumer.close()
    assert seen == {f"from {old_name}".encode(), f"from {new_name}".encode()}


def _refused(access: KafkaAccess | str) -> None:
    """Neither reads the cluster nor deletes the topic (nor, through the same connection,
    commits offsets: every request needs the authenticated connection)."""
    admin = AdminClient({**client_config(access), "socket.timeout.ms": 3000})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=6)
    deleted = admin.delete_topics(["sasl-reports"], operation_timeout=5, request_timeout=5)
    with pytest.raises(KafkaException):
        deleted["sasl-reports"].result(15)


def test_no_password_or_a_wrong_one_reaches_nothing(sasl_kafka: tuple[str, Path]) -> None:
    bootstrap, _ = sasl_kafka
    _refused(bootstrap)  # an unrelated pod: no SASL at all
    name, _ = USERS.users[0]
    _refused(replace(_access(bootstrap, name), password="guessed"))
    admin = AdminClient(client_config(_access(bootstrap, name)))
    assert "sasl-reports" in admin.list_topics(timeout=30).topics


def test_kafkas_own_tools_work_from_the_rendered_client_properties(
    sasl_kafka: tuple[str, Path], infra_settings: dict[str, str]
) -> None:
    bootstrap, folder = sasl_kafka
    config = infra_settings
    done = subprocess.run(
        [config["java"], "-Xmx256m", "-cp", f"{config['kafka-home']}/libs/*",
         "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", bootstrap,
         "--command-config", str(folder / kafka_auth.CLIENT_PROPERTIES), "--list"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sasl-reports" in done.stdout.split()


def test_the_step_gives_the_old_user_and_accepts_both() -> None:
    assert isinstance(USERS, KafkaUsers)
    assert [name for name, _ in USERS.users] == ["clima1", "clima2"]
    assert USERS.outgoing == "clima1"
