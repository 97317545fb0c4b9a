"""What every Kafka client of Clima shares (the writer's producer and leader probe, the
consumers' group member and dead-letter producer): bounded connection waits, the durable
producer's settings, topics created by Clima itself (brokers run with auto-creation off), and
how to tell from librdkafka's statistics whether a broker is reachable."""

import logging
from collections.abc import Mapping

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    NewPartitions,
    NewTopic,
)

from clima.common.retry import RECONNECT_CAP_S
from clima.wiring import KafkaAccess

logger = logging.getLogger(__name__)

# a committed offset of "none yet" (librdkafka's OFFSET_INVALID)
_NO_OFFSET = -1001

Config = dict[str, str | int | float | bool]

# librdkafka's waits, bounded so a crashed, booting or silent broker is noticed and tried again
# within seconds (its defaults: 30 s to connect and handshake, 60 s per request before a
# half-open connection is torn down, up to 10 s between two connection attempts)
CONNECTION_CONFIG: Config = {
    "socket.connection.setup.timeout.ms": 3_000,
    "socket.timeout.ms": 5_000,
    "socket.keepalive.enable": True,
    "reconnect.backoff.max.ms": int(RECONNECT_CAP_S * 1000),
    # partitions added to a topic (spec.kafka.partitions raised) reach producers and group
    # members within 10 s, not librdkafka's default 5 minutes
    "topic.metadata.refresh.interval.ms": 10_000,
}


Bootstrap = KafkaAccess | str  # a bare address: a cluster that requires no authentication


def client_config(bootstrap: Bootstrap) -> Config:
    """The settings of any client of the cluster at `bootstrap` (admin, consumer, producer):
    its security protocol, SASL user and CA file when it names them."""
    access = KafkaAccess(bootstrap) if isinstance(bootstrap, str) else bootstrap
    config: Config = {"bootstrap.servers": access.bootstrap, **CONNECTION_CONFIG}
    protocol = access.protocol or ("SASL_PLAINTEXT" if access.username else "PLAINTEXT")
    if protocol != "PLAINTEXT":
        config["security.protocol"] = protocol
    if protocol.startswith("SASL"):
        config.update({
            "sasl.mechanism": access.mechanism or "PLAIN",
            "sasl.username": access.username or "",
            "sasl.password": access.password or "",
        })  # fmt: skip
    if protocol.endswith("SSL"):  # "probe": the system's CA files, wherever they are
        config["ssl.ca.location"] = access.ca_file or "probe"
    return config


def durable_producer_config(bootstrap: Bootstrap) -> Config:
    """A producer whose delivery means every in-sync replica has the message, once: what the
    writer publishes and what the consumers dead-letter."""
    return {**client_config(bootstrap), "acks": "all", "enable.idempotence": True}


def ensure_topic(
    bootstrap: Bootstrap, topic: str, partitions: int, timeout_s: float = 10.0
) -> None:
    """Creates the topic if it is missing (replication 1 for a one-node cluster), or raises
    its partitions to `partitions`; a topic with more is left as it is (Kafka cannot remove
    partitions)."""
    admin = AdminClient(client_config(bootstrap))
    existing = admin.list_topics(timeout=timeout_s).topics
    if topic in existing:
        _raise_partitions(admin, topic, len(existing[topic].partitions), partitions, timeout_s)
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


def _raise_partitions(
    admin: AdminClient, topic: str, have: int, want: int, timeout_s: float
) -> None:
    if have > want:
        logger.warning(
            "kafka: topic %s has %d partitions, more than the %d asked for; keeping them",
            topic, have, want,
        )  # fmt: skip
        return
    if have == want:
        return
    futures = admin.create_partitions([NewPartitions(topic, want)])
    try:
        futures[topic].result(timeout_s)
    except KafkaException as exc:
        # another process (the writer or a consumer) raised them first
        if exc.args[0].code() != KafkaError.INVALID_PARTITIONS:
            raise
    logger.info("kafka: raised the partitions of %s from %d to %d", topic, have, want)


def ensure_topics(bootstrap: Bootstrap, partitions: Mapping[str, int]) -> None:
    """Creates each missing topic with its number of partitions (blocking: run in a thread)."""
    for topic, count in partitions.items():
        ensure_topic(bootstrap, topic, count)


def any_broker_up(stats: str | bytes) -> bool:
    """True when librdkafka's statistics (`stats_cb`) show a connection to a broker that is up;
    False while every broker, the bootstrap address included, is down or being connected."""
    brokers = orjson.loads(stats).get("brokers", {})
    return any(broker.get("state") == "UP" for broker in brokers.values())


def partition_backlogs(
    ends: Mapping[int, int], starts: Mapping[int, int], committed: Mapping[int, int]
) -> dict[int, int]:
    """Messages not yet consumed in each partition: high watermark minus the committed
    offset, or minus the log start where the group has committed nothing."""
    backlogs: dict[int, int] = {}
    for partition, end in ends.items():
        done = committed.get(partition, _NO_OFFSET)
        if done < 0:
            done = starts.get(partition, 0)
        backlogs[partition] = max(0, end - done)
    return backlogs


def kafka_backlog(
    ends: Mapping[int, int], starts: Mapping[int, int], committed: Mapping[int, int]
) -> int:
    """Messages not yet consumed over all partitions (see `partition_backlogs`)."""
    return sum(partition_backlogs(ends, starts, committed).values())


def lag_reader(bootstrap: Bootstrap, group: str) -> Consumer:
    """A client that reads `group`'s committed offsets without ever joining the group (it
    subscribes to nothing, so the members' assignment is untouched)."""
    return Consumer({**client_config(bootstrap), "group.id": group, "enable.auto.commit": False})


def group_lag(reader: Consumer, topic: str, timeout_s: float) -> int:
    """Messages of `topic` the reader's group has not committed yet, over all partitions:
    what the drain consumer reads (see `group_lags`)."""
    return sum(group_lags(reader, topic, timeout_s).values())


def group_lags(reader: Consumer, topic: str, timeout_s: float) -> dict[int, int]:
    """Messages of each partition of `topic` the reader's group has not committed yet: what
    the writer's backlog bounds read. Plain calls with timeouts, no futures: an admin
    client's futures left pending when Kafka stops answering crashed the process when the
    client was destroyed (raises KafkaException while the topic or the cluster does not
    answer)."""
    found = reader.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        raise KafkaException(f"topic {topic} not found")
    parts = [TopicPartition(topic, p) for p in found.partitions]
    committed = {tp.partition: tp.offset for tp in reader.committed(parts, timeout=timeout_s)}
    ends: dict[int, int] = {}
    starts: dict[int, int] = {}
    for tp in parts:
        low, high = reader.get_watermark_offsets(tp, timeout=timeout_s, cached=False)
        starts[tp.partition], ends[tp.partition] = low, high
    return partition_backlogs(ends, starts, committed)
