"""`clima consumer <broker> --drain` on real brokers: exit 0 only once every report the broker
held, including those published while it ran, is in Valkey; never 0 when stopped early."""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import aio_pika
import pytest
import valkey
from confluent_kafka import Consumer, Producer, TopicPartition

from clima.common.kafka import ensure_topic
from clima.contract import Report, ReportBatch
from clima.local import free_port

pytestmark = pytest.mark.integration
PER_MESSAGE = 50
BACKLOG_MESSAGES = 60  # 3,000 reports waiting before the drain starts
TRICKLE_S = 4.0  # then one message every 0.2 s while it runs
QUIET_S = 2.0


def _report(report_id: str, i: int) -> Report:
    return Report(
        id=report_id, event_time_ms=1_764_585_600_000, municipality=1 + i % 4,
        temperature_c=20, humidity_pct=50, weather=1 + i % 4,
    )  # fmt: skip


def _message(prefix: str, n: int) -> bytes:
    reports = [_report(f"{prefix}-{n}-{i}", i) for i in range(PER_MESSAGE)]
    return ReportBatch(reports=reports).SerializeToString()


Publish = Callable[[list[bytes]], None]


@pytest.fixture
def publish_kafka(infra: dict[str, str], names: dict[str, str]) -> Publish:
    """Publishes messages to the test's topic (4 partitions, as the writer makes it) and
    waits for Kafka's acknowledgement."""
    topic = names["CLIMA_KAFKA_TOPIC"]
    ensure_topic(infra["KAFKA_BROKER"], topic, partitions=4)
    producer = Producer({"bootstrap.servers": infra["KAFKA_BROKER"], "acks": "all"})

    def publish(bodies: list[bytes]) -> None:
        for n, body in enumerate(bodies):
            producer.produce(topic, body, key=str(n % 4).encode())
        assert producer.flush(10) == 0

    return publish


@pytest.fixture
def publish_rabbit(infra: dict[str, str], names: dict[str, str]) -> Publish:
    """Publishes persistent messages to the test's durable queue with publisher confirms."""
    queue = names["CLIMA_RABBIT_QUEUE"]

    async def send(bodies: list[bytes]) -> None:
        connection = await aio_pika.connect(infra["RABBITMQ_URL"])
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            await channel.declare_queue(queue, durable=True)
            for body in bodies:
                message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
                await channel.default_exchange.publish(message, routing_key=queue)

    return lambda bodies: asyncio.run(send(bodies))


def _drain(infra: dict[str, str], names: dict[str, str], broker: str, log: Path,
           **extra: str) -> subprocess.Popen[bytes]:  # fmt: skip
    env = {
        **os.environ, **infra, **names,
        "CLIMA_CONSUMER_PROBE_PORT": str(free_port()),
        "CLIMA_CONSUMER_DRAIN_QUIET_S": str(QUIET_S),
        **extra,
    }  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "clima", "consumer", broker, "--drain"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _applied(store: "valkey.Valkey") -> int:
    return int(store.hget("clima:stats", "applied") or 0)


def _trickle(publish: Publish, prefix: str, until: float) -> threading.Thread:
    def run() -> None:
        n = BACKLOG_MESSAGES
        while time.monotonic() < until:
            publish([_message(prefix, n)])
            n += 1
            time.sleep(0.2)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _drains_everything(
    broker: str, publish: Publish, infra: dict[str, str], names: dict[str, str],
    store: "valkey.Valkey", log: Path,
) -> tuple[int, float]:  # fmt: skip
    """A backlog, a drain consumer, more messages while it runs: it exits 0 only after the
    last of them, with every report applied once. Returns (reports, seconds to exit)."""
    publish([_message(broker, n) for n in range(BACKLOG_MESSAGES)])
    summary = log.with_name("termination-log")  # as Kubernetes provides it: present, empty
    summary.write_text("")
    started = time.monotonic()
    process = _drain(infra, names, broker, log, CLIMA_CONSUMER_TERMINATION_LOG=str(summary))
    trickle_end = started + TRICKLE_S
    trickle = _trickle(publish, broker, trickle_end)
    try:
        code = process.wait(120)
    finally:
        process.kill()
    took = time.monotonic() - started
    trickle.join()
    assert code == 0, f"drain exited {code}; see {log}"
    assert took >= TRICKLE_S + QUIET_S - 0.5, f"exited after {took:.1f}s, while messages came"
    applied = _applied(store)
    # the summary the operator puts in its DrainCompleted event: this process applied them all
    told = summary.read_text()
    assert told.startswith(f"{broker} drained: {applied} reports applied, 0 duplicates, "), told
    return applied, took


def test_kafka_drain_exits_after_every_report_is_applied(
    publish_kafka: Publish, infra: dict[str, str], names: dict[str, str],
    store: "valkey.Valkey", tmp_path: Path,
) -> None:  # fmt: skip
    """Kafka: exit 0 only once the group's committed offsets reach the high watermarks, and
    by then Valkey holds every report published before and during the drain."""
    applied, took = _drains_everything(
        "kafka", publish_kafka, infra, names, store, tmp_path / "drain.log"
    )
    topic, group = names["CLIMA_KAFKA_TOPIC"], names["CLIMA_CONSUMER_KAFKA_GROUP"]
    reader = Consumer({"bootstrap.servers": infra["KAFKA_BROKER"], "group.id": group})
    try:
        parts = reader.list_topics(topic, timeout=10).topics[topic].partitions
        committed = reader.committed([TopicPartition(topic, p) for p in parts], timeout=10)
        total = 0
        for tp in committed:
            _, high = reader.get_watermark_offsets(TopicPartition(topic, tp.partition), 10)
            assert max(tp.offset, 0) == high, f"partition {tp.partition}: {tp.offset} of {high}"
            total += high
    finally:
        reader.close()
    assert applied == total * PER_MESSAGE, (applied, total)
    assert total > BACKLOG_MESSAGES  # the trickle's messages were drained too
    print(f"kafka: {applied} reports drained in {took:.1f}s (quiet period {QUIET_S}s)")


def test_rabbit_drain_exits_after_every_report_is_applied(
    publish_rabbit: Publish, infra: dict[str, str], names: dict[str, str],
    store: "valkey.Valkey", tmp_path: Path,
) -> None:  # fmt: skip
    """RabbitMQ: exit 0 only once the queue is empty with nothing unacked, and by then
    Valkey holds every report published before and during the drain."""
    published: list[bytes] = []

    def counting(bodies: list[bytes]) -> None:
        publish_rabbit(bodies)
        published.extend(bodies)

    applied, took = _drains_everything(
        "rabbit", counting, infra, names, store, tmp_path / "drain.log"
    )

    async def depth() -> int | None:
        connection = await aio_pika.connect(infra["RABBITMQ_URL"])
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(names["CLIMA_RABBIT_QUEUE"], passive=True)
            return queue.declaration_result.message_count

    assert asyncio.run(depth()) == 0
    assert applied == len(published) * PER_MESSAGE, (applied, len(published))
    assert len(published) > BACKLOG_MESSAGES
    print(f"rabbit: {applied} reports drained in {took:.1f}s (quiet period {QUIET_S}s)")


@pytest.mark.parametrize("broker", ["kafka", "rabbit"])
def test_drain_stopped_early_exits_non_zero(
    broker: str, request: pytest.FixtureRequest, infra: dict[str, str],
    names: dict[str, str], store: "valkey.Valkey", tmp_path: Path,
) -> None:  # fmt: skip
    """With Valkey out of reach the backlog cannot be applied; SIGTERM then ends the drain
    with a non-zero status (a Job must not read "succeeded"), and nothing is lost."""
    publish: Publish = request.getfixturevalue(f"publish_{broker}")
    publish([_message(f"{broker}-early", n) for n in range(5)])
    process = _drain(
        infra, names, broker, tmp_path / "drain.log",
        VALKEY_SERVICE_URL=f"redis://127.0.0.1:{free_port()}/1",
    )  # fmt: skip
    try:
        time.sleep(6)
        assert process.poll() is None, "a drain whose reports cannot be applied must not end"
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
    finally:
        process.kill()
    assert code != 0
    # the same backlog, now with Valkey: every report of it is applied
    again = _drain(infra, names, broker, tmp_path / "again.log")
    try:
        assert again.wait(60) == 0
    finally:
        again.kill()
    assert _applied(store) == 5 * PER_MESSAGE
