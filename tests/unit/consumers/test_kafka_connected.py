"""The Kafka consumer's `connected` follows librdkafka's view of the brokers, both ways."""

import time
from collections.abc import AsyncIterator

import orjson
import pytest

from clima.consumers import _kafka
from clima.consumers.settings import ConsumerSettings
from clima.store import Store, StoreSettings


@pytest.fixture
async def source() -> AsyncIterator[_kafka.KafkaSource]:
    settings = ConsumerSettings(kafka_broker="127.0.0.1:9", kafka_topic="clima-connected")
    store = Store(StoreSettings(valkey_url="redis://127.0.0.1:9/0"))
    made = _kafka.KafkaSource(settings, store)
    yield made
    made._consumer.close()
    await store.close()
    made._dead.purge()
    del made._dead  # its idempotent producer would keep dialling the absent broker


def _stats(*states: str) -> str:
    brokers = {f"b{i}": {"name": f"b{i}", "nodeid": i, "state": s} for i, s in enumerate(states)}
    return orjson.dumps({"name": "consumer", "brokers": brokers}).decode()


def test_connected_is_set_and_reset_by_the_broker_states(source: _kafka.KafkaSource) -> None:
    """A broker UP sets `connected`; every broker down (or connecting) resets it."""
    assert not source.connected
    source._on_stats(_stats("DOWN", "UP"))
    assert source.connected
    source._on_stats(_stats("DOWN", "CONNECT"))
    assert not source.connected
    source._on_stats(_stats("UP"))
    assert source.connected
    source._on_stats(_stats())
    assert not source.connected


def test_statistics_of_an_unreachable_broker_reset_connected(source: _kafka.KafkaSource) -> None:
    """librdkafka's own statistics, served by the consumer's poll, say no broker is up: a
    `connected` left over from earlier goes back to False."""
    source.connected = True
    source._subscribe()
    deadline = time.monotonic() + 5 * _kafka.STATS_EVERY_MS / 1000
    while source.connected and time.monotonic() < deadline:
        source._consumer.poll(0.2)
    assert not source.connected
