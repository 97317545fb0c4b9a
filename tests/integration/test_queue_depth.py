"""`common.amqp.queue_depth` against the real RabbitMQ: the one reading of a queue's depth
that the writer's backlog and the drain consumer share."""

import asyncio

import aio_pika
import pytest

from clima.common.amqp import ERRORS, queue_depth


async def test_depth_counts_ready_messages_and_consumers(
    infra: dict[str, str], names: dict[str, str]
) -> None:
    """12 messages, one consumer holding 2 unacknowledged: 10 ready, 1 consumer; after the
    consumer acknowledges and leaves, 10 and 0."""
    queue_name = names["CLIMA_RABBIT_QUEUE"]
    connection = await aio_pika.connect(infra["RABBITMQ_URL"])
    try:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(queue_name, durable=True)
        for i in range(12):
            await channel.default_exchange.publish(
                aio_pika.Message(str(i).encode()), routing_key=queue_name
            )
        depth = await queue_depth(channel, queue_name, 5.0)
        assert depth is not None
        assert (depth.messages, depth.consumers) == (12, 0)

        reader = await connection.channel()
        await reader.set_qos(prefetch_count=2)
        held: list[aio_pika.abc.AbstractIncomingMessage] = []
        got_two = asyncio.Event()

        async def hold(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            held.append(message)
            if len(held) == 2:
                got_two.set()

        tag = await (await reader.get_queue(queue_name)).consume(hold)
        await asyncio.wait_for(got_two.wait(), 5)
        depth = await queue_depth(channel, queue_name, 5.0)
        assert depth is not None
        assert (depth.messages, depth.consumers) == (10, 1)

        for message in held[:2]:  # a copy: each ack lets the prefetch refill `held`
            await message.ack()
        await (await reader.get_queue(queue_name)).cancel(tag)
        await reader.close()
        # the prefetch refilled after the acks; closing the channel returns those two
        for _ in range(50):
            depth = await queue_depth(channel, queue_name, 5.0)
            assert depth is not None
            if (depth.messages, depth.consumers) == (10, 0):
                break
            await asyncio.sleep(0.1)
        assert (depth.messages, depth.consumers) == (10, 0)
        await queue.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()


async def test_depth_of_a_missing_queue_raises(infra: dict[str, str]) -> None:
    """A passive declare creates nothing: a queue that does not exist is an error the callers
    catch (ERRORS), not a depth of 0."""
    connection = await aio_pika.connect(infra["RABBITMQ_URL"])
    try:
        channel = await connection.channel()
        with pytest.raises(ERRORS):
            await queue_depth(channel, "clima-test-no-such-queue", 5.0)
    finally:
        await connection.close()
