"""Through the real api and consumer: a second copy of an id in another clock hour counts once."""

import time
from collections.abc import Callable

import httpx
import pytest
import valkey
from confluent_kafka import Producer

from clima.contract import Report, ReportBatch
from clima.local import LocalPipeline

pytestmark = pytest.mark.integration
HOUR_MS = 3_600_000


def _wait_stat(store: "valkey.Valkey", field: str, n: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while int(store.hget("clima:stats", field) or 0) < n:
        assert time.monotonic() < deadline, f"{field} never reached {n}"
        time.sleep(0.2)


def test_copy_in_another_hour_counts_once(
    pipeline_factory: Callable[[str], LocalPipeline],
    store: "valkey.Valkey",
    infra: dict[str, str],
    names: dict[str, str],
) -> None:
    """A report accepted by the api, then the same id stamped two hours later (as a client's
    retry in another hour would be) reaching the consumer: applied once, counted a duplicate."""
    pipeline = pipeline_factory("kafka")
    body = {"municipality": 1, "temperature": 20, "humidity": 50, "weather": 1, "id": "win-1"}
    assert httpx.post(f"{pipeline.api_url}/clima", json=body).status_code == 202
    _wait_stat(store, "applied", 1)
    later = Report(
        id="win-1",
        event_time_ms=time.time_ns() // 1_000_000 + 2 * HOUR_MS,
        municipality=1,
        temperature_c=21,
        humidity_pct=50,
        weather=1,
    )
    producer = Producer({"bootstrap.servers": infra["KAFKA_BROKER"]})
    producer.produce(names["CLIMA_KAFKA_TOPIC"], ReportBatch(reports=[later]).SerializeToString())
    assert producer.flush(10) == 0
    _wait_stat(store, "duplicates", 1)
    assert store.hget("clima:stats", "applied") == "1"
    assert store.xlen("clima:mixco") == 1
