"""What the integration tests read of a RabbitMQ queue, with a passive declare of their own."""

from dataclasses import dataclass

import aio_pika


@dataclass(frozen=True)
class QueueState:
    """A queue's ready messages and consumers, as a passive declare answers."""

    messages: int
    consumers: int


async def queue_state(url: str, queue: str) -> QueueState | None:
    """The queue's state, or None while it does not exist."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        try:
            declared = await channel.declare_queue(queue, passive=True)
        except aio_pika.exceptions.ChannelClosed:
            return None
        result = declared.declaration_result
        return QueueState(int(result.message_count or 0), int(result.consumer_count or 0))
