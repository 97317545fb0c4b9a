"""The writer's liveness follows the Kafka poll thread, the only thread that settles
deliveries (no broker needed: nothing is produced)."""

from confluent_kafka import KafkaError

from clima.writer._kafka import KafkaPublisher


async def test_alive_while_the_poll_thread_turns() -> None:
    """Alive from the start; not alive once the poll thread has stopped."""
    publisher = KafkaPublisher("127.0.0.1:9", "clima-liveness", 1.0)
    assert publisher.alive
    await publisher.close(0.1)
    assert not publisher.alive


async def test_a_fatal_producer_error_fails_liveness_and_readiness() -> None:
    """An idempotent producer broken for good asks for a restart and refuses meanwhile."""
    publisher = KafkaPublisher("127.0.0.1:9", "clima-liveness", 1.0)
    try:
        publisher._on_error(KafkaError(KafkaError._FATAL, "out of order sequence", fatal=True))
        assert not publisher.alive
        assert not publisher.healthy
        assert "fatal producer error" in publisher.problem
    finally:
        await publisher.close(0.1)
