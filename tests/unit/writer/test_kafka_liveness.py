"""The writer's liveness follows the Kafka poll thread, the only thread that settles
deliveries (no broker needed: nothing is produced)."""

from clima.writer._kafka import KafkaPublisher


async def test_alive_while_the_poll_thread_turns() -> None:
    """Alive from the start; not alive once the poll thread has stopped."""
    publisher = KafkaPublisher("127.0.0.1:9", "clima-liveness", 1.0)
    assert publisher.alive
    publisher.close(0.1)
    assert not publisher.alive
