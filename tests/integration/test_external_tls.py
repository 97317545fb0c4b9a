"""External stores over TLS, as a GKE user's managed services require: the operator renders a
consumer for an external Kafka (SASL_SSL, SCRAM-SHA-512), RabbitMQ (amqps) and Valkey
(rediss), each with a CA bundle from a Secret; that consumer's settings, started from the
rendered environment with the bundle where the pod mounts it, reach real servers that speak
only TLS, and the same settings with another CA's bundle are refused (the server's
certificate is verified)."""

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import aio_pika
import pytest
from clima_env_support import resolve
from clima_process_support import free_port, wait_listening
from confluent_kafka import Consumer, Producer

from clima.common.kafka import client_config, durable_producer_config, ensure_topic
from clima.consumers.settings import ConsumerSettings
from clima.contract import Report
from clima.store import Store, StoreSettings
from clima_operator.children import Context, Owner, consumers
from clima_operator.children._clima import Process
from clima_operator.children._connections import ca_file
from clima_operator.spec import parse_spec

PASSWORDS = {"valkey-pw": "v@lkey pw", "kafka-pw": "kafka-secret", "rabbit-pw": ""}
TLS = {"enabled": True, "caSecretRef": {"name": "store-ca"}}


def _ca(folder: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate it signs for 127.0.0.1 and localhost: (CA, cert, key)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = folder / f"{name}-ca.pem", folder / f"{name}-ca.key"
    cert, key, csr = folder / f"{name}.pem", folder / f"{name}.key", folder / f"{name}.csr"
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run = [["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", f"/CN={name} CA", "-keyout", ca_key, "-out", ca],
           ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", key, "-out", csr],
           ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
            "-CAcreateserial", "-days", "2", "-extfile", folder / "san.ext",
            "-out", cert]]  # fmt: skip
    for command in run:
        subprocess.run([str(part) for part in command], check=True, capture_output=True)
    return ca, cert, key


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tls")
    ca, cert, key = _ca(folder, "stores")
    other, _, _ = _ca(folder, "other")
    return {"ca": ca, "cert": cert, "key": key, "other": other, "folder": folder}


@pytest.fixture(scope="module")
def tls_valkey(certs: dict[str, Path]) -> Iterator[int]:
    """A Valkey that answers on TLS only, with a password."""
    port, log = free_port(), certs["folder"] / "valkey.log"
    output = log.open("w")
    process = subprocess.Popen(
        ["valkey-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(certs["cert"]), "--tls-key-file", str(certs["key"]),
         "--tls-ca-cert-file", str(certs["ca"]), "--tls-auth-clients", "no",
         "--requirepass", PASSWORDS["valkey-pw"], "--save", "", "--appendonly", "no",
         "--dir", str(certs["folder"])],
        stdout=output, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_listening(port, process, 20, log)
        yield port
    finally:
        process.kill()
        process.wait(10)
        output.close()


@pytest.fixture(scope="module")
def tls_kafka(infra_settings: dict[str, str], certs: dict[str, Path]) -> Iterator[int]:
    """A Kafka whose client listener is SASL_SSL with SCRAM-SHA-512 user ``clima``."""
    config = infra_settings
    folder = certs["folder"] / "kafka"
    folder.mkdir()
    port, internal, controller = free_port(), free_port(), free_port()
    keystore = folder / "keystore.pem"
    keystore.write_text(certs["key"].read_text() + certs["cert"].read_text())
    props = folder / "server.properties"
    props.write_text(
        "process.roles=broker,controller\nnode.id=1\n"
        f"controller.quorum.voters=1@127.0.0.1:{controller}\n"
        f"listeners=EXTERNAL://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal},"
        f"CONTROLLER://127.0.0.1:{controller}\n"
        f"advertised.listeners=EXTERNAL://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal}\n"
        "listener.security.protocol.map=EXTERNAL:SASL_SSL,INTERNAL:PLAINTEXT,"
        "CONTROLLER:PLAINTEXT\n"
        "controller.listener.names=CONTROLLER\ninter.broker.listener.name=INTERNAL\n"
        "sasl.enabled.mechanisms=SCRAM-SHA-512\n"
        "listener.name.external.scram-sha-512.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required;\n"
        f"ssl.keystore.type=PEM\nssl.keystore.location={keystore}\n"
        f"log.dirs={folder / 'data'}\noffsets.topic.replication.factor=1\n"
        "offsets.topic.num.partitions=1\ntransaction.state.log.replication.factor=1\n"
        "transaction.state.log.min.isr=1\ngroup.initial.rebalance.delay.ms=0\n"
    )
    base = [config["java"], "-Xmx512m", "-cp", f"{config['kafka-home']}/libs/*"]
    scram = f"SCRAM-SHA-512=[name=clima,password={PASSWORDS['kafka-pw']}]"
    subprocess.run([*base, "kafka.tools.StorageTool", "format", "--cluster-id",
                    "tls-kafka-cluster-00", "-c", str(props), "--add-scram", scram],
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    log = folder / "kafka.log"
    output = log.open("w")
    process = subprocess.Popen([*base, "kafka.Kafka", str(props)], stdout=output,
                               stderr=subprocess.STDOUT, env=dict(os.environ))  # fmt: skip
    try:
        wait_listening(port, process, 90, log)
        yield port
    finally:
        process.kill()
        process.wait(30)
        output.close()


def _consumer(spec: dict[str, object], broker: str) -> Process:
    ctx = Context(Owner("demo", "ns", "uid-tls"), parse_spec(spec))
    return consumers.kafka_process(ctx) if broker == "kafka" else consumers.rabbit_process(ctx)


Secrets = Callable[[str, str], str]


def _started(
    process: Process, secrets: dict[tuple[str, str], str], ca: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[ConsumerSettings, StoreSettings]:
    """The consumer's settings from its rendered environment, the CA bundles where the pod
    mounts them replaced by `ca` (the mount itself is checked against the volumes)."""
    mounts = {mount["mountPath"] for _, mount in process.volumes}
    env = resolve(process.env, lambda name, key: secrets[(name, key)])
    for name, rendered in env.items():
        value = rendered
        for store in ("kafka", "rabbitmq", "valkey"):
            if ca_file(store) in value:
                assert ca_file(store).rsplit("/", 1)[0] in mounts, (store, mounts)
                value = value.replace(ca_file(store), str(ca))
        monkeypatch.setenv(name, value)
    return ConsumerSettings(), StoreSettings()


REPORT = Report(id="tls-1", event_time_ms=1_764_585_600_000, municipality=1,
                temperature_c=20.5, humidity_pct=40.0, weather=1)  # fmt: skip


def _spec(valkey_port: int, kafka_port: int, rabbit_port: int, username: str) -> dict[str, object]:
    return {
        "mode": "both",
        "kafka": {"type": "external", "external": {
            "address": f"127.0.0.1:{kafka_port}", "tls": TLS,
            "sasl": {"username": "clima", "secretRef": {"name": "kafka-pw"}}}},
        "rabbitmq": {"type": "external", "external": {
            "address": f"127.0.0.1:{rabbit_port}", "username": username, "tls": TLS,
            "secretRef": {"name": "rabbit-pw"}}},
        "valkey": {"type": "external", "external": {
            "address": f"127.0.0.1:{valkey_port}", "tls": TLS,
            "secretRef": {"name": "valkey-pw"}}},
    }  # fmt: skip


@pytest.fixture
def spec(
    tls_valkey: int, tls_kafka: int, infra: dict[str, str], infra_settings: dict[str, str]
) -> tuple[dict[str, object], dict[tuple[str, str], str], Path]:
    """The spec, the Secrets' values and the local RabbitMQ's CA (its TLS listener)."""
    config = infra_settings
    url = infra["RABBITMQ_URL"]
    username, password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)
    secrets = {(name, "password"): value for name, value in PASSWORDS.items()}
    secrets[("rabbit-pw", "password")] = password
    rabbit = int(config["rabbit-tls"])
    return _spec(tls_valkey, tls_kafka, rabbit, username), secrets, Path(config["rabbit-ca"])


def _apply(store_settings: StoreSettings) -> int:
    async def apply() -> int:
        store = Store(store_settings)
        try:
            return (await asyncio.wait_for(store.apply([REPORT]), 20)).applied
        finally:
            await store.close()

    return asyncio.run(apply())


def test_valkey_over_tls_with_the_ca_from_the_secret(
    spec: tuple[dict[str, object], dict[tuple[str, str], str], Path],
    certs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline, secrets, _ = spec
    process = _consumer(pipeline, "kafka")
    _, store = _started(process, secrets, certs["ca"], monkeypatch)
    assert store.valkey_url.startswith("rediss://")
    assert _apply(store) in (0, 1)  # 0 when a rerun finds the id applied
    _, wrong = _started(process, secrets, certs["other"], monkeypatch)
    with pytest.raises(Exception, match=r"(?i)certificate|ssl|unavailable"):
        _apply(wrong)


def test_kafka_over_sasl_ssl_with_scram(
    spec: tuple[dict[str, object], dict[tuple[str, str], str], Path],
    certs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline, secrets, _ = spec
    settings, _ = _started(_consumer(pipeline, "kafka"), secrets, certs["ca"], monkeypatch)
    access = settings.kafka
    assert (access.protocol, access.mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    ensure_topic(access, "tls-reports", 1, timeout_s=60)
    producer = Producer(durable_producer_config(access))
    producer.produce("tls-reports", b"over tls")
    assert producer.flush(30) == 0
    consumer = Consumer(
        {**client_config(access), "group.id": "tls", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe(["tls-reports"])
    deadline, got = time.monotonic() + 60, None
    while got is None and time.monotonic() < deadline:
        message = consumer.poll(1)
        if message is not None and message.error() is None:
            got = message.value()
    consumer.close()
    assert got == b"over tls"
    wrong, _ = _started(_consumer(pipeline, "kafka"), secrets, certs["other"], monkeypatch)
    refused = Producer({**durable_producer_config(wrong.kafka), "message.timeout.ms": 5000})
    outcomes: list[object] = []
    refused.produce("tls-reports", b"never", on_delivery=lambda error, _: outcomes.append(error))
    refused.flush(15)
    assert outcomes, "no delivery report within 15 s"
    assert outcomes[0] is not None, "a broker whose certificate the CA did not sign was trusted"


def test_rabbitmq_over_amqps_with_the_ca_from_the_secret(
    spec: tuple[dict[str, object], dict[tuple[str, str], str], Path],
    certs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline, secrets, rabbit_ca = spec
    settings, _ = _started(_consumer(pipeline, "rabbit"), secrets, rabbit_ca, monkeypatch)
    assert settings.rabbitmq_url is not None
    assert settings.rabbitmq_url.startswith("amqps://")

    queue_name = f"clima-tls-{uuid.uuid4().hex[:8]}"

    async def declare(url: str) -> int:
        """Publishes one message to a fresh queue over the URL; the queue's depth after."""
        connection = await asyncio.wait_for(aio_pika.connect(url), 20)
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(queue_name)
            await channel.default_exchange.publish(aio_pika.Message(b"x"), queue_name)
            await asyncio.sleep(0.2)
            declared = await channel.declare_queue(queue_name, passive=True)
            await queue.delete(if_unused=False, if_empty=False)
            return int(declared.declaration_result.message_count or 0)
        finally:
            await connection.close()

    assert asyncio.run(declare(settings.rabbitmq_url)) == 1
    wrong, _ = _started(_consumer(pipeline, "rabbit"), secrets, certs["other"], monkeypatch)
    assert wrong.rabbitmq_url is not None
    with pytest.raises(Exception, match=r"(?i)certificate|ssl"):
        asyncio.run(declare(wrong.rabbitmq_url))
