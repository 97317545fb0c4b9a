"""The writer never counts a message no queue took as confirmed."""

import asyncio
import uuid

import aio_pika
import pytest

from clima.writer._rabbit import RabbitPublisher
from clima.writer.errors import BrokerUnavailableError

pytestmark = pytest.mark.integration


async def test_publish_to_a_deleted_queue_fails(infra: dict[str, str]) -> None:
    """With the queue deleted under a connected writer, RabbitMQ returns the message
    (mandatory) and the publish fails (the api answers 503) instead of being confirmed."""
    queue = f"unroutable-{uuid.uuid4().hex[:6]}"
    publisher = RabbitPublisher(infra["RABBITMQ_URL"], queue, timeout_s=2.0)
    publisher.start()
    try:
        for _ in range(100):
            if publisher.healthy:
                break
            await asyncio.sleep(0.1)
        await publisher.publish([(b"k", b"v")])  # routed: confirmed
        connection = await aio_pika.connect(infra["RABBITMQ_URL"])
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(queue)
        with pytest.raises(BrokerUnavailableError, match="rabbitmq"):
            await publisher.publish([(b"k", b"v")])
    finally:
        await publisher.close()
        connection = await aio_pika.connect(infra["RABBITMQ_URL"])
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(queue)
            await channel.queue_delete(f"{queue}.dead")
