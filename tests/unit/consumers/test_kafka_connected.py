"""The Kafka consumer's `connected` follows librdkafka's view of the brokers, both ways."""

import time

import orjson

from clima.consumers import _kafka


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
    source._consumer.close()


def test_statistics_of_an_unreachable_broker_reset_connected(
    source: _kafka.KafkaSource,
) -> None:
    """librdkafka's own statistics, served by the consumer's poll, say no broker is up: a
    `connected` left over from earlier goes back to False."""
    source.connected = True
    source._subscribe()
    deadline = time.monotonic() + 5 * _kafka.STATS_EVERY_MS / 1000
    while source.connected and time.monotonic() < deadline:
        source._consumer.poll(0.2)
    source._consumer.close()
    assert not source.connected
