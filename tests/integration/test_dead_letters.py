"""Messages that can never be applied land in the dead-letter destination with their reason."""

import asyncio
import time
from collections.abc import Callable

import aio_pika
import httpx
import pytest
import valkey
from confluent_kafka import Consumer, Producer

from clima.contract import Report, ReportBatch
from clima.local import LocalPipeline

pytestmark = pytest.mark.integration
GARBAGE = b"\x0a\xff\xff\xff\xff"


def _out_of_range() -> bytes:
    report = Report(
        id="hot-1",
        event_time_ms=1_764_585_600_000,
        municipality=1,
        temperature_c=99,
        humidity_pct=5,
        weather=1,
    )
    return ReportBatch(reports=[report]).SerializeToString()


def _far_future() -> bytes:
    """Passed the old checks, then crashed the consumer in the store's date formatting."""
    report = Report(
        id="future-1", event_time_ms=10**15, municipality=1, temperature_c=20, humidity_pct=5,
        weather=1,
    )  # fmt: skip
    return ReportBatch(reports=[report]).SerializeToString()


def _wait_dead(store: "valkey.Valkey", n: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while int(store.hget("clima:stats", "dead_letters") or 0) < n:
        assert time.monotonic() < deadline, "dead letters not counted in time"
        time.sleep(0.2)


def test_kafka_poison_goes_to_dead_topic(
    pipeline_factory: Callable[[str], LocalPipeline],
    store: "valkey.Valkey",
    infra: dict[str, str],
    names: dict[str, str],
) -> None:
    """Undecodable and out-of-range messages reach `<topic>.dead` with the reason; none applied."""
    pipeline_factory("kafka")
    topic = names["CLIMA_KAFKA_TOPIC"]
    producer = Producer({"bootstrap.servers": infra["KAFKA_BROKER"]})
    producer.produce(topic, GARBAGE)
    producer.produce(topic, _out_of_range())
    assert producer.flush(10) == 0
    _wait_dead(store, 2)
    consumer = Consumer(
        {
            "bootstrap.servers": infra["KAFKA_BROKER"],
            "group.id": f"{topic}-reader",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([f"{topic}.dead"])
    letters = []
    deadline = time.monotonic() + 30
    while len(letters) < 2 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            letters.append(dict(message.headers() or [])["x-clima-reason"].decode())
    consumer.close()
    assert any("not a clima.v1.ReportBatch" in r for r in letters), letters
    assert any("temperature_c" in r for r in letters), letters
    assert int(store.hget("clima:stats", "applied") or 0) == 0


def test_rabbit_poison_goes_to_dead_queue(
    pipeline_factory: Callable[[str], LocalPipeline],
    store: "valkey.Valkey",
    infra: dict[str, str],
    names: dict[str, str],
) -> None:
    """Undecodable messages reach `<queue>.dead` with the reason, and the consumer keeps going."""
    pipeline = pipeline_factory("rabbit")
    queue = names["CLIMA_RABBIT_QUEUE"]

    async def exchange() -> list[str]:
        connection = await aio_pika.connect(infra["RABBITMQ_URL"])
        async with connection:
            channel = await connection.channel()
            for body in (GARBAGE, b"", _out_of_range(), _far_future()):
                await channel.default_exchange.publish(aio_pika.Message(body), routing_key=queue)
            await asyncio.to_thread(_wait_dead, store, 4)
            dead = await channel.declare_queue(f"{queue}.dead", durable=True)
            reasons = []
            for _ in range(4):
                message = await dead.get(timeout=5)
                assert message is not None
                reasons.append(str((message.headers or {})["x-clima-reason"]))
                await message.ack()
            return reasons

    reasons = asyncio.run(exchange())
    assert sum("not a clima.v1.ReportBatch" in r for r in reasons) == 2, reasons
    assert sum("temperature_c" in r for r in reasons) == 1, reasons
    assert sum("event_time_ms" in r for r in reasons) == 1, reasons
    body = {"municipality": 1, "temperature": 20, "humidity": 50, "weather": 1}
    assert httpx.post(f"{pipeline.api_url}/clima", json=body).status_code == 202
    deadline = time.monotonic() + 30
    while int(store.hget("clima:stats", "applied") or 0) < 1:
        assert time.monotonic() < deadline, "consumer stopped after poison"
        time.sleep(0.2)
