"""The RabbitMQ consumer: manual acks after Valkey has the reports, prefetch-bounded."""

import asyncio
import contextlib
import logging

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from aiormq.exceptions import AMQPError

from clima.consumers._decode import DeadLetter, sort_payloads
from clima.consumers._metrics import record
from clima.consumers.settings import ConsumerSettings
from clima.store import Store

logger = logging.getLogger(__name__)
SOURCE = "rabbit"


class RabbitSource:
    """Gathers deliveries into batches, applies them, dead-letters the rest, then acks."""

    def __init__(self, settings: ConsumerSettings, store: Store) -> None:
        if not settings.rabbitmq_url:
            raise ValueError("RABBITMQ_URL is required for the rabbit consumer")
        self._settings = settings
        self._url = settings.rabbitmq_url
        self._store = store
        self._inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._connection: AbstractRobustConnection | None = None

    @property
    def connected(self) -> bool:
        """True while the AMQP connection is open."""
        return self._connection is not None and not self._connection.is_closed

    async def run(self, stop: asyncio.Event) -> None:
        """Consumes until `stop` is set; unacked deliveries go back to the queue on close."""
        self._connection = await _connect(self._url, stop)
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=self._settings.prefetch)
        dead_channel = await self._connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(self._settings.rabbit_queue, durable=True)
        await dead_channel.declare_queue(self._settings.dead_queue, durable=True)
        tag = await queue.consume(self._inbox.put)
        try:
            while not stop.is_set():
                batch = await self._next_batch(stop)
                if batch:
                    await self._handle(batch, dead_channel, stop)
        finally:
            with contextlib.suppress(AMQPError, RuntimeError):
                await queue.cancel(tag)
            await self._connection.close()

    async def _next_batch(self, stop: asyncio.Event) -> list[AbstractIncomingMessage]:
        try:
            first = await asyncio.wait_for(self._inbox.get(), 0.5)
        except TimeoutError:
            return []
        batch = [first]
        if self._settings.linger_s and self._inbox.empty() and not stop.is_set():
            await asyncio.sleep(self._settings.linger_s)
        while len(batch) < self._settings.max_batch_messages and not self._inbox.empty():
            batch.append(self._inbox.get_nowait())
        return batch

    async def _handle(
        self,
        batch: list[AbstractIncomingMessage],
        dead_channel: aio_pika.abc.AbstractChannel,
        stop: asyncio.Event,
    ) -> None:
        sorted_ = sort_payloads([message.body for message in batch])
        if sorted_.dead:
            await self._send_dead(dead_channel, sorted_.dead)
        result = await self._store.apply_until_done(sorted_.reports, len(sorted_.dead), stop)
        record(SOURCE, sorted_.reports, result, len(sorted_.dead))
        for message in batch:
            try:
                await message.ack()
            except (AMQPError, RuntimeError) as exc:
                # the channel was lost: the broker redelivers, and ids dedup
                logger.warning("rabbitmq: ack failed (%s); reports will be seen again", exc)
                return

    async def _send_dead(
        self, channel: aio_pika.abc.AbstractChannel, dead: list[DeadLetter]
    ) -> None:
        for letter in dead:
            logger.warning("rabbitmq: dead letter: %s", letter.reason)
            await channel.default_exchange.publish(
                aio_pika.Message(
                    letter.payload,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    headers={"x-clima-reason": letter.reason},
                ),
                routing_key=self._settings.dead_queue,
            )


async def _connect(url: str, stop: asyncio.Event) -> AbstractRobustConnection:
    """Connects, retrying while RabbitMQ is not there yet; later outages heal by themselves."""
    delay = 0.5
    while True:
        try:
            return await aio_pika.connect_robust(url, timeout=5)
        except (AMQPError, OSError, TimeoutError) as exc:
            if stop.is_set():
                raise
            logger.warning("rabbitmq: cannot connect (%r); retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
