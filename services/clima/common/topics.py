"""What every Kafka client of Clima shares: bounded connection waits, and topics created by
Clima itself (brokers run with auto-creation off)."""

import logging

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from clima.common.retry import RECONNECT_CAP_S

logger = logging.getLogger(__name__)

# the Kafka consumers' group: the consumers join it, the writer reads its committed offsets
# to measure the backlog (both default to this; CLIMA_CONSUMER_KAFKA_GROUP sets both)
CONSUMER_GROUP = "clima-consumer-group"

# librdkafka's waits, bounded so a crashed, booting or silent broker is noticed and tried again
# within seconds (its defaults: 30 s to connect and handshake, 60 s per request before a
# half-open connection is torn down, up to 10 s between two connection attempts)
CONNECTION_CONFIG: dict[str, str | int | bool] = {
    "socket.connection.setup.timeout.ms": 3_000,
    "socket.timeout.ms": 5_000,
    "socket.keepalive.enable": True,
    "reconnect.backoff.max.ms": int(RECONNECT_CAP_S * 1000),
}


def ensure_topic(bootstrap: str, topic: str, partitions: int, timeout_s: float = 10.0) -> None:
    """Creates the topic if it is missing (replication 1 for a one-node cluster)."""
    admin = AdminClient({"bootstrap.servers": bootstrap, **CONNECTION_CONFIG})
    existing = admin.list_topics(timeout=timeout_s).topics
    if topic in existing:
        return
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=-1)]
    )
    try:
        futures[topic].result(timeout_s)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise
    logger.info("kafka: created topic %s with %d partitions", topic, partitions)
