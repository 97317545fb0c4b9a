"""Kafka's retention by bytes never deletes a report the consumers have not applied: the
writer refuses (503 "refused") once a partition holds its bound in bytes, sized under the
retention as the operator sizes it; the real api, writer and consumer, on the real Kafka."""

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import valkey
from clima_process_support import wait_until
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from clima.contract import MUNICIPALITIES
from clima.local import LocalPipeline, Ports

pytestmark = pytest.mark.integration

SEGMENT = 2**20  # Kafka's least segment; the operator uses 1/8 of the retention
RETENTION = 8 * SEGMENT
BOUND = RETENTION - 2 * SEGMENT  # what the operator gives the writer for this retention
BATCH = 1000  # the api's largest batch
TOWN = MUNICIPALITIES[0].name


def _create_topic(bootstrap: str, topic: str) -> None:
    """Two partitions with a small retention by bytes (the one partition the town's key
    maps to takes every report)."""
    config = {"retention.bytes": str(RETENTION), "segment.bytes": str(SEGMENT)}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    future = admin.create_topics([NewTopic(topic, 2, 1, config=config)])[topic]
    future.result(30)


def _log_starts(bootstrap: str, topic: str) -> list[int]:
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": f"look-{uuid.uuid4().hex}"})
    try:
        return [
            reader.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[0]
            for p in (0, 1)
        ]
    finally:
        reader.close()


@pytest.fixture
def bounded(
    infra: dict[str, str], names: dict[str, str], tmp_path: Path
) -> Iterator[Callable[[int], LocalPipeline]]:
    """A kafka-mode pipeline whose writer has a bound in bytes per partition (0: none)."""
    started: list[LocalPipeline] = []

    def start(bound: int) -> LocalPipeline:
        _create_topic(infra["KAFKA_BROKER"], names["CLIMA_KAFKA_TOPIC"])
        env = {
            **infra,
            **names,
            "CLIMA_WRITER_KAFKA_MAX_PARTITION_BACKLOG_BYTES": str(bound),
            "CLIMA_WRITER_BACKLOG_INTERVAL_S": "0.2",
            "CLIMA_STREAM_MAXLEN": "1000000",  # keep every report, to compare the ids
        }
        pipeline = LocalPipeline("kafka", env, tmp_path / "logs", Ports.free())
        started.append(pipeline)
        pipeline.start()
        return pipeline

    yield start
    for pipeline in started:
        pipeline.stop()


def _fill(api: str, until_bytes: int) -> tuple[list[str], list[str]]:
    """Posts batches of one town's reports until refused three times in a row or about
    `until_bytes` of reports were accepted; returns the accepted ids and the refusals."""
    accepted: list[str] = []
    refusals: list[str] = []
    body = [{"municipality": TOWN, "temperature": 21.5, "humidity": 40, "weather": 1}] * BATCH
    with httpx.Client(base_url=api, timeout=30) as client:
        while len(refusals) < 3 and len(accepted) * 60 < until_bytes:
            answer = client.post("/clima/batch", json=body)
            if answer.status_code == 202:
                accepted.extend(answer.json()["ids"])
                refusals.clear()
                continue
            assert answer.status_code == 503, answer.text
            assert answer.json()["outcome"] == "refused", answer.text
            refusals.append(answer.json()["detail"])
            time.sleep(0.3)
    return accepted, refusals


def test_retention_deletes_unread_reports_without_the_bound(
    bounded: Callable[[int], LocalPipeline], infra: dict[str, str], names: dict[str, str]
) -> None:
    """What the bound prevents, seen on this Kafka: with no consumer and no bound in bytes,
    three retentions' worth of reports are all accepted and Kafka deletes the oldest of them
    unread."""
    pipeline = bounded(0)
    pipeline.terminate("kafka-consumer")
    accepted, refusals = _fill(pipeline.api_url, 3 * RETENTION)
    assert refusals == []
    topic = names["CLIMA_KAFKA_TOPIC"]
    wait_until(
        lambda: max(_log_starts(infra["KAFKA_BROKER"], topic)) > 0,
        45,
        f"retention deleting some of the {len(accepted)} unread reports",
    )


def test_writer_refuses_before_retention_reaches_unapplied_reports(
    bounded: Callable[[int], LocalPipeline],
    infra: dict[str, str],
    names: dict[str, str],
    store: "valkey.Valkey",
) -> None:
    """With the consumer stopped, the writer accepts about its bound in bytes, then refuses
    saying the disk is filling; past two retention checks nothing was deleted, and once the
    consumer is back every accepted report is applied once and the writer accepts again."""
    pipeline = bounded(BOUND)
    pipeline.terminate("kafka-consumer")
    accepted, refusals = _fill(pipeline.api_url, 3 * RETENTION)
    assert len(refusals) == 3, f"never refused after {len(accepted)} reports"
    assert "kafka is filling its disk: its fullest partition holds about" in refusals[0]
    # the estimate counts the messages as published (before lz4), so refusing starts once
    # about BOUND bytes were accepted, give or take what arrives between two measurements
    per_report = BOUND / len(accepted)
    assert 40 < per_report < 120, f"{len(accepted)} reports accepted under a {BOUND}-byte bound"
    time.sleep(25)  # two retention checks
    assert _log_starts(infra["KAFKA_BROKER"], names["CLIMA_KAFKA_TOPIC"]) == [0, 0]
    pipeline.restart("kafka-consumer")
    wait_until(
        lambda: int(store.hget("clima:stats", "applied") or 0) >= len(accepted),
        120,
        f"{len(accepted)} reports applied",
    )
    time.sleep(1)
    assert int(store.hget("clima:stats", "applied") or 0) == len(accepted)
    slug = MUNICIPALITIES[0].slug
    seen = sorted(fields["id"] for _, fields in store.xrange(f"clima:{slug}"))
    assert seen == sorted(accepted)
    later, refused = _fill(pipeline.api_url, BATCH * 60)
    assert refused == []
    assert len(later) >= BATCH
