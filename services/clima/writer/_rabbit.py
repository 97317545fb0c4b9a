"""A RabbitMQ channel with publisher confirms, on a connection the writer supervises."""

import asyncio
import logging

from aio_pika.abc import AbstractChannel, AbstractConnection
from aio_pika.exceptions import DeliveryError

from clima.common.amqp import ERRORS, AmqpLink, declare_queues, publish_persistent
from clima.wiring import RabbitQueueType
from clima.writer.errors import BrokerUnavailableError

logger = logging.getLogger(__name__)
CONTENT_TYPE = "application/x-protobuf; proto=clima.v1.ReportBatch"
BLOCKED = (
    "blocked by the broker: a resource alarm (free disk under disk_free_limit, or memory over "
    "vm_memory_high_watermark); publishing resumes when it clears"
)


class RabbitPublisher:
    """Publishes persistent messages to a durable queue and waits for the broker's confirm."""

    def __init__(
        self, url: str, queue: str, timeout_s: float, queue_type: RabbitQueueType = "classic"
    ) -> None:
        self._queue = queue
        self._queue_type = queue_type
        self._timeout_s = timeout_s
        self._link: AmqpLink[AbstractChannel] = AmqpLink(url, "rabbitmq", self._setup, self._check)
        self._stop = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Connects in the background and again after every loss; publishing fails fast
        while there is no connection."""
        self._supervisor = asyncio.create_task(self._link.run(self._stop))

    async def _setup(self, connection: AbstractConnection) -> AbstractChannel:
        # every new channel: confirms on, queues declared (a crashed broker may have lost a
        # queue that was never made durable elsewhere)
        # a message no queue takes (the queue was deleted) comes back as basic.return before
        # its confirm: raise it, never count it as confirmed
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        await declare_queues(channel, self._queue, self._queue_type)
        return channel

    async def _check(self, channel: AbstractChannel) -> None:
        # one round trip on the publishing channel: answered while the broker is there
        await channel.declare_queue(self._queue, passive=True)

    @property
    def healthy(self) -> bool:
        """True while the connection and its channel are open and the broker takes
        publishes (it blocks every publishing connection during a disk or memory alarm)."""
        channel = self._link.session
        return channel is not None and not channel.is_closed and not self.blocked

    @property
    def blocked(self) -> bool:
        """True while the broker has blocked this connection (connection.blocked): a
        publish would wait, unanswered, until the alarm clears."""
        return self._link.blocked

    @property
    def alive(self) -> bool:
        """Always: a lost connection is reconnected in the process."""
        return True

    @property
    def problem(self) -> str:
        """Why the broker is unusable now ('' when it is usable)."""
        if self.healthy:
            return ""
        if self.blocked:
            return BLOCKED
        return self._link.problem or "channel closed"

    async def publish(self, messages: list[tuple[bytes, bytes]]) -> None:
        """Returns once the broker confirmed every message (persisted to its durable queue)."""
        channel = self._link.session
        if channel is None or channel.is_closed:
            raise BrokerUnavailableError(f"rabbitmq: not connected ({self.problem})")
        sends = [
            publish_persistent(
                channel,
                self._queue,
                value,
                {"municipality": key.decode()},
                timeout_s=self._timeout_s,
                content_type=CONTENT_TYPE,
            )
            for key, value in messages
        ]
        try:
            await asyncio.gather(*sends)
        except DeliveryError as exc:  # nacked or returned unroutable: the connection is fine
            raise BrokerUnavailableError(f"rabbitmq: {exc!r}") from exc
        except ERRORS as exc:
            # a confirm that never came is what a half-open connection looks like; a broken
            # channel cannot publish again: either way, connect afresh
            self._link.drop(f"publish failed: {exc!r}")
            raise BrokerUnavailableError(f"rabbitmq: {exc!r}") from exc

    async def close(self) -> None:
        """Closes the connection."""
        self._stop.set()
        if self._supervisor is not None:
            await self._supervisor
