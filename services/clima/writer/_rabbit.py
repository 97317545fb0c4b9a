"""A long-lived RabbitMQ channel with publisher confirms, reconnecting by itself."""

import asyncio
import logging

import aio_pika
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection
from aiormq.exceptions import AMQPError

from clima.writer.errors import BrokerUnavailableError

logger = logging.getLogger(__name__)
CONTENT_TYPE = "application/x-protobuf; proto=clima.v1.ReportBatch"


class RabbitPublisher:
    """Publishes persistent messages to a durable queue and waits for the broker's confirm."""

    def __init__(self, url: str, queue: str, timeout_s: float) -> None:
        self._url = url
        self._queue = queue
        self._timeout_s = timeout_s
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._connector: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Connects in the background; until then (and during outages) publishing fails fast."""
        self._connector = asyncio.create_task(self._connect())

    async def _connect(self) -> None:
        delay = 0.5
        while True:
            try:
                connection = await aio_pika.connect_robust(self._url, timeout=5)
                channel = await connection.channel(publisher_confirms=True)
                await declare_queues(channel, self._queue)
            except (AMQPError, OSError, TimeoutError) as exc:
                logger.warning("rabbitmq: cannot connect (%r); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._connection, self._channel = connection, channel
            logger.info("rabbitmq: connected, queue %s declared", self._queue)
            return

    @property
    def healthy(self) -> bool:
        """True while the connection and channel are open."""
        return (
            self._connection is not None
            and not self._connection.is_closed
            and self._channel is not None
            and not self._channel.is_closed
        )

    async def publish(self, messages: list[tuple[bytes, bytes]]) -> None:
        """Returns once the broker confirmed every message (persisted to its durable queue)."""
        if not self.healthy or self._channel is None:
            raise BrokerUnavailableError("rabbitmq: not connected")
        exchange = self._channel.default_exchange
        sends = [
            exchange.publish(
                aio_pika.Message(
                    value,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    content_type=CONTENT_TYPE,
                    headers={"municipality": key.decode()},
                ),
                routing_key=self._queue,
                timeout=self._timeout_s,
            )
            for key, value in messages
        ]
        try:
            await asyncio.gather(*sends)
        except (AMQPError, ConnectionError, TimeoutError, RuntimeError) as exc:
            raise BrokerUnavailableError(f"rabbitmq: {exc!r}") from exc

    async def close(self) -> None:
        """Closes the connection."""
        if self._connector is not None:
            self._connector.cancel()
        if self._connection is not None:
            await self._connection.close()


async def declare_queues(channel: aio_pika.abc.AbstractChannel, queue: str) -> None:
    """Declares the durable work queue and its dead-letter queue `<queue>.dead`."""
    await channel.declare_queue(queue, durable=True)
    await channel.declare_queue(f"{queue}.dead", durable=True)
