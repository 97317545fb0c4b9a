"""Kafka topics are created by Clima itself (brokers run with auto-creation off)."""

import logging

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

logger = logging.getLogger(__name__)


def ensure_topic(bootstrap: str, topic: str, partitions: int, timeout_s: float = 10.0) -> None:
    """Creates the topic if it is missing (replication 1 for a one-node cluster)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
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
