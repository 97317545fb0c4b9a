"""The Kafka consumer creates the work topic with the partitions the writer would use
(CLIMA_KAFKA_PARTITIONS, read by both), not a count of its own; a higher count later
(spec.kafka.partitions raised) grows the existing topic."""

import concurrent.futures
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient  # type: ignore[attr-defined]

from clima import wiring
from clima.common.kafka import ensure_topic
from clima.local import free_port

pytestmark = pytest.mark.integration


def _partitions(admin: AdminClient, topic: str, timeout_s: float) -> int:
    """The topic's partition count, once it exists."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = admin.list_topics(topic=topic, timeout=5).topics.get(topic)
        if found is not None and found.error is None and found.partitions:
            return len(found.partitions)
        time.sleep(0.5)
    raise TimeoutError(f"topic {topic} not created within {timeout_s}s")


def test_consumer_creates_the_topic_with_the_shared_partition_count(
    infra: dict[str, str], names: dict[str, str], tmp_path: Path
) -> None:
    """A consumer that starts before any writer creates its topic with CLIMA_KAFKA_PARTITIONS
    partitions (3 here, not the default 4), and the dead-letter topic with one."""
    env = {
        **os.environ,
        **infra,
        **names,
        wiring.KAFKA_PARTITIONS_ENV.name: "3",
        f"{wiring.CONSUMER_PREFIX}HOST": "127.0.0.1",
        f"{wiring.CONSUMER_PREFIX}PROBE_PORT": str(free_port()),
    }
    topic = names[wiring.KAFKA_TOPIC_ENV.name]
    with (tmp_path / "consumer.log").open("wb") as log:
        consumer = subprocess.Popen(
            [sys.executable, "-m", "clima", "consumer", "kafka"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        admin = AdminClient({"bootstrap.servers": infra[wiring.KAFKA_BROKER_ENV.name]})
        assert _partitions(admin, topic, 60) == 3
        assert _partitions(admin, f"{topic}.dead", 30) == 1
    finally:
        consumer.send_signal(signal.SIGTERM)
        code = consumer.wait(30)
    assert code == 0, (tmp_path / "consumer.log").read_text()


def test_raising_the_partition_count_grows_the_topic_and_lowering_keeps_it(
    infra: dict[str, str], names: dict[str, str]
) -> None:
    """ensure_topic on an existing topic raises its partitions (two callers at once, as the
    writer and a consumer restarting together, both succeed) and never lowers them."""
    bootstrap = infra[wiring.KAFKA_BROKER_ENV.name]
    topic = names[wiring.KAFKA_TOPIC_ENV.name] + "-grow"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    ensure_topic(bootstrap, topic, 2)
    assert _partitions(admin, topic, 30) == 2
    ensure_topic(bootstrap, topic, 4)
    assert _grown(admin, topic, 4, 30)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: ensure_topic(bootstrap, topic, 6), range(2)))
    assert _grown(admin, topic, 6, 30)
    ensure_topic(bootstrap, topic, 3)
    time.sleep(1)
    assert _partitions(admin, topic, 30) == 6


def _grown(admin: AdminClient, topic: str, count: int, timeout_s: float) -> bool:
    """Whether the metadata shows `count` partitions within the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _partitions(admin, topic, timeout_s) == count:
            return True
        time.sleep(0.5)
    return False
