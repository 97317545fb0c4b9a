"""A Kafka topic deleted under a running pipeline (F18): the reports in it go with it, but
the pipeline comes back by itself and applies every report accepted afterwards, once.
Deleted and left alone, the writer creates the topic again once every consumer has let go of
it; deleted and created again at once by a person, with more reports published into the new
topic than the consumer had read of the old one, the consumer notices the topic's new id and
reads it from its start instead of from its old offsets. Real api, writer, consumer and
Kafka."""

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import valkey
from clima_process_support import wait_until
from confluent_kafka.admin import AdminClient, NewTopic

from clima.contract import MUNICIPALITIES
from clima.local import LocalPipeline, Ports

pytestmark = pytest.mark.integration
PARTITIONS = 2


@pytest.fixture
def pipeline(
    infra: dict[str, str], names: dict[str, str], tmp_path: Path
) -> Iterator[LocalPipeline]:
    env = {**infra, **names, "CLIMA_KAFKA_PARTITIONS": str(PARTITIONS),
           "CLIMA_STREAM_MAXLEN": "1000000"}  # fmt: skip
    running = LocalPipeline("kafka", env, tmp_path / "logs", Ports.free())
    running.start()
    yield running
    running.stop()


def _send(api: str, count: int, prefix: str, timeout_s: float = 120) -> list[str]:
    """Posts `count` reports with ids of our own, resending each refused batch until it is
    accepted; the ids."""
    towns = [town.name for town in MUNICIPALITIES[:4]]
    ids = [f"{prefix}-{i}" for i in range(count)]
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=api, timeout=30) as client:
        for start in range(0, count, 50):
            body = [{"id": ident, "municipality": towns[i % 4], "temperature": 20.0,
                     "humidity": 50, "weather": 1}
                    for i, ident in enumerate(ids[start:start + 50])]  # fmt: skip
            while True:
                answer = client.post("/clima/batch", json=body)
                if answer.status_code == 202:
                    break
                assert answer.status_code == 503, answer.text
                assert time.monotonic() < deadline, f"still refused: {answer.text}"
                time.sleep(0.5)
    return ids


def _applied(store: "valkey.Valkey", ids: list[str]) -> int:
    return sum(1 for found in store.mget([f"clima:seen:{i}" for i in ids]) if found)


def test_left_alone_the_writer_creates_the_topic_again_and_nothing_later_is_lost(
    pipeline: LocalPipeline, infra: dict[str, str], names: dict[str, str], store: "valkey.Valkey"
) -> None:
    before = _send(pipeline.api_url, 300, "left-before")
    wait_until(lambda: _applied(store, before) == len(before), 60, "the first reports applied")
    admin = AdminClient({"bootstrap.servers": infra["KAFKA_BROKER"]})
    admin.delete_topics([names["CLIMA_KAFKA_TOPIC"]])[names["CLIMA_KAFKA_TOPIC"]].result(30)
    refused = httpx.post(f"{pipeline.api_url}/clima/batch", timeout=30, json=[
        {"municipality": MUNICIPALITIES[0].name, "temperature": 20.0, "humidity": 50,
         "weather": 1}])  # fmt: skip
    after = _send(pipeline.api_url, 300, "left-after", timeout_s=120)
    wait_until(lambda: _applied(store, after) == len(after), 90, "the later reports applied")
    assert refused.status_code in (202, 503), refused.text
    counts = store.hgetall("clima:stats")
    assert int(counts["applied"]) >= len(before) + len(after)


def test_created_again_at_once_the_consumer_reads_the_new_topic_from_its_start(
    pipeline: LocalPipeline, infra: dict[str, str], names: dict[str, str], store: "valkey.Valkey"
) -> None:
    topic = names["CLIMA_KAFKA_TOPIC"]
    before = _send(pipeline.api_url, 600, "again-before")
    wait_until(lambda: _applied(store, before) == len(before), 60, "the first reports applied")
    admin = AdminClient({"bootstrap.servers": infra["KAFKA_BROKER"]})
    admin.delete_topics([topic])[topic].result(30)
    deadline = time.monotonic() + 30
    while True:  # a person creating it again at once
        try:
            admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(30)
            break
        except Exception:
            assert time.monotonic() < deadline, "could not create the topic again"
            time.sleep(0.2)
    after = _send(pipeline.api_url, 3000, "again-after")
    wait_until(lambda: _applied(store, after) == len(after), 120,
              f"the {len(after)} reports accepted into the new topic applied")  # fmt: skip
