"""The writer's backlog figures, measured against the real Kafka and RabbitMQ."""

import asyncio

import aio_pika
from confluent_kafka import Consumer, Producer, TopicPartition

from clima.common.kafka import ensure_topic
from clima.writer._backlog import Backlog, KafkaBacklogProbe, RabbitBacklogProbe


def _measure(probe: KafkaBacklogProbe, backlog: Backlog, expected: int) -> None:
    """Measures until the figure is `expected` (a new topic's leaders take a moment)."""
    for _ in range(10):
        probe.measure_once()
        found = backlog.figure("kafka")
        if found is not None and found.messages == expected:
            return
    raise AssertionError(f"kafka backlog {backlog.figure('kafka')}, expected {expected}")


def _fresh(backlog: Backlog, broker: str) -> int:
    found = backlog.figure(broker)
    assert found is not None, f"no {broker} figure"
    return found.messages


def test_kafka_backlog_is_end_minus_committed(infra: dict[str, str], names: dict[str, str]) -> None:
    """30 messages over 2 partitions and no commit read 30; after the group commits 10 on
    one partition, 20."""
    bootstrap, topic = infra["KAFKA_BROKER"], names["CLIMA_KAFKA_TOPIC"]
    group = names["CLIMA_CONSUMER_KAFKA_GROUP"]
    ensure_topic(bootstrap, topic, partitions=2)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for n in range(30):
        producer.produce(topic, b"x", partition=n % 2)
    assert producer.flush(10) == 0
    backlog = Backlog(bound=25, stale_s=60)
    probe = KafkaBacklogProbe(bootstrap, topic, group, backlog, interval_s=1)
    _measure(probe, backlog, 30)
    assert backlog.refusal(["kafka"]) is not None
    committer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    committer.commit(offsets=[TopicPartition(topic, 0, 10)], asynchronous=False)
    committer.close()
    _measure(probe, backlog, 20)
    assert backlog.refusal(["kafka"]) is None


def test_kafka_backlog_of_a_missing_topic_is_no_figure(
    infra: dict[str, str], names: dict[str, str]
) -> None:
    """A topic that does not exist gives a failure, not a figure (so nothing is refused)."""
    backlog = Backlog(bound=1, stale_s=60)
    probe = KafkaBacklogProbe(
        infra["KAFKA_BROKER"], names["CLIMA_KAFKA_TOPIC"], "g", backlog, interval_s=1
    )
    probe.measure_once()
    assert backlog.figure("kafka") is None
    assert backlog.refusal(["kafka"]) is None


async def test_rabbit_backlog_is_the_queue_count(
    infra: dict[str, str], names: dict[str, str]
) -> None:
    """12 persistent messages in the work queue read 12, measured in the background."""
    queue = names["CLIMA_RABBIT_QUEUE"]
    connection = await aio_pika.connect(infra["RABBITMQ_URL"])
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(queue, durable=True)
        for _ in range(12):
            await channel.default_exchange.publish(aio_pika.Message(b"x"), routing_key=queue)
        backlog = Backlog(bound=5, stale_s=60)
        probe = RabbitBacklogProbe(infra["RABBITMQ_URL"], queue, backlog, interval_s=0.2)
        probe.start()
        try:
            for _ in range(50):
                if backlog.figure("rabbit") is not None:
                    break
                await asyncio.sleep(0.1)
            assert _fresh(backlog, "rabbit") == 12
            assert "rabbit holds 12 messages" in (backlog.refusal(["rabbit", "kafka"]) or "")
        finally:
            await probe.close()
        await channel.queue_delete(queue)
    finally:
        await connection.close()
