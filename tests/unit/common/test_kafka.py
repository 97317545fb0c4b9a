"""The Kafka settings every client shares, and the reading of librdkafka's statistics."""

import orjson

from clima.common.kafka import (
    CONNECTION_CONFIG,
    any_broker_up,
    client_config,
    durable_producer_config,
)


def test_durable_producer_waits_for_every_replica_once_with_bounded_connections() -> None:
    """The writer's and the dead letters' producer: acks=all, idempotent, bounded waits."""
    config = durable_producer_config("k:9092")
    assert config["bootstrap.servers"] == "k:9092"
    assert config["acks"] == "all"
    assert config["enable.idempotence"] is True
    assert CONNECTION_CONFIG.items() <= config.items()
    assert CONNECTION_CONFIG.items() <= client_config("k:9092").items()


def test_any_broker_up_reads_the_broker_states() -> None:
    """Only a broker in state UP counts; none at all is not up."""

    def stats(*states: str) -> bytes:
        return orjson.dumps({"brokers": {str(i): {"state": s} for i, s in enumerate(states)}})

    assert any_broker_up(stats("INIT", "UP"))
    assert not any_broker_up(stats("DOWN", "CONNECT", "APIVERSION_QUERY"))
    assert not any_broker_up(orjson.dumps({"name": "rdkafka"}))
