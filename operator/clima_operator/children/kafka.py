"""The managed Kafka: one KRaft node (broker and controller) in a StatefulSet."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from clima_operator.children._connections import KAFKA_PORT
from clima_operator.children._meta import Context, Manifest
from clima_operator.children._pods import (
    env,
    tcp_probe,
)
from clima_operator.children._store import store_container, store_objects

COMPONENT = "kafka"
CONTROLLER_PORT = 9093
UID = 1000  # "appuser" of the apache/kafka image
DATA_DIR = "/var/lib/kafka/data"


def cluster_id(uid: str) -> str:
    """A KRaft cluster id (22 base64url characters) that is stable for the pipeline's life."""
    digest = hashlib.sha256(uid.encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def environment(ctx: Context) -> list[dict[str, Any]]:
    """KRaft combined-mode settings for a single node with internal topics at factor 1."""
    name = ctx.owner.child(COMPONENT)
    advertised = f"{name}-0.{name}.{ctx.owner.namespace}.svc:{KAFKA_PORT}"
    settings = {
        "CLUSTER_ID": cluster_id(ctx.owner.uid),
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": f"PLAINTEXT://:{KAFKA_PORT},CONTROLLER://:{CONTROLLER_PORT}",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://{advertised}",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": f"1@localhost:{CONTROLLER_PORT}",
        "KAFKA_LOG_DIRS": f"{DATA_DIR}/kraft",  # a sub-folder: the volume root has lost+found
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_HEAP_OPTS": "-Xms256m -Xmx512m",
    }
    return [env(key, value) for key, value in settings.items()]


PORTS = [("kafka", KAFKA_PORT), ("controller", CONTROLLER_PORT)]


def container(ctx: Context, variables: list[dict[str, Any]]) -> dict[str, Any]:
    """The Kafka container; the image renders its configuration into its own file system
    at start-up, so the root file system stays writable."""
    return store_container(
        ctx,
        COMPONENT,
        ctx.spec.kafka.managed,
        variables=variables,
        ports=PORTS,
        probes=(tcp_probe("kafka", period=5), tcp_probe("kafka", delay=60)),
        data_dir=DATA_DIR,
        read_only_root=False,
    )


def build(ctx: Context) -> list[Manifest]:
    """StatefulSet and headless Service, when the mode uses Kafka and it is managed."""
    if not ctx.spec.uses_kafka or ctx.spec.kafka.type != "managed":
        return []
    variables = environment(ctx)
    main = container(ctx, variables)
    managed = ctx.spec.kafka.managed
    return store_objects(
        ctx, COMPONENT, managed, main, inputs={"env": variables}, uid=UID, ports=PORTS
    )
