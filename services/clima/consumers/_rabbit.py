"""The RabbitMQ consumer: manual acks after Valkey has the reports, prefetch-bounded."""

import asyncio
import logging
from dataclasses import dataclass, field

from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage
from aio_pika.exceptions import DeliveryError

from clima.common.amqp import (
    ERRORS,
    AmqpLink,
    declare_queues,
    publish_persistent,
    queue_depth,
)
from clima.common.retry import Backoff
from clima.consumers._apply import apply_batch
from clima.consumers._decode import DeadLetter, sort_payloads
from clima.consumers._holding import DEAD_LETTERS, HOLD
from clima.consumers._metrics import record
from clima.consumers.settings import ConsumerSettings
from clima.store import Store

logger = logging.getLogger(__name__)
SOURCE = "rabbit"
DEAD_LETTER_TIMEOUT_S = 5.0


@dataclass
class _Session:
    """What one connection consumes on: deliveries arrive in its own inbox, so those of a
    lost connection (which the broker delivers again) are never acked on a new one."""

    dead_channel: AbstractChannel
    inbox: "asyncio.Queue[AbstractIncomingMessage]" = field(default_factory=asyncio.Queue)


class RabbitSource:
    """Gathers deliveries into batches, applies them, dead-letters the rest, then acks."""

    def __init__(self, settings: ConsumerSettings, store: Store) -> None:
        if not settings.rabbitmq_url:
            raise ValueError("RABBITMQ_URL is required for the rabbit consumer")
        self._settings = settings
        self._store = store
        self._link: AmqpLink[_Session] = AmqpLink(
            settings.rabbitmq_url, "rabbitmq", self._setup, self._check
        )
        self._in_hand = 0  # deliveries of the batch being applied, not acked yet
        self._received = 0  # deliveries taken so far; drain mode counts new ones as "not quiet"
        self._reported = 0

    def idle(self) -> str | None:
        """None: connected means subscribed (the session subscribes before it is up, and a
        cancelled subscription drops the connection)."""
        return None

    @property
    def alive(self) -> bool:
        """Always: its deliveries and applies run on the event loop, which /healthz
        answering proves alive (a lost connection is reconnected in the process)."""
        return True

    @property
    def connected(self) -> bool:
        """True while the AMQP connection is open."""
        return self._link.session is not None

    async def _setup(self, connection: AbstractConnection) -> _Session:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=self._settings.prefetch)
        # a dead letter no queue takes (its queue was deleted) comes back and raises, so it
        # is published again once the queue is declared, never confirmed into nothing
        session = _Session(await connection.channel(publisher_confirms=True, on_return_raises=True))
        # the dead-letter queue declared beside it is settings.dead_queue
        queue = await declare_queues(
            channel, self._settings.rabbit_queue, self._settings.rabbit_queue_type
        )
        # the broker cancels a consumer whose queue is deleted (or, for a quorum queue, whose
        # replica moves): the link is dropped, and the next set-up declares the queue again
        # and consumes anew, instead of waiting on an inbox nothing fills any more
        underlay = await channel.get_underlay_channel()
        underlay.on_consumer_cancel_callbacks.add(self._cancelled)
        await queue.consume(session.inbox.put)
        return session

    def _cancelled(self, _frame: object) -> None:
        logger.warning("rabbitmq: the broker cancelled the consumer; subscribing again")
        self._link.drop("consumer cancelled by the broker")

    async def _check(self, session: _Session) -> None:
        # one round trip: answered while the broker is there (deliveries may be idle)
        await session.dead_channel.declare_queue(self._settings.dead_queue, passive=True)

    async def run(self, stop: asyncio.Event) -> None:
        """Consumes until `stop` is set; unacked deliveries go back to the queue on close."""
        disconnect = asyncio.Event()  # only once the batch in hand is acked
        supervisor = asyncio.create_task(self._link.run(disconnect))
        try:
            while not stop.is_set():
                session = await self._link.wait_session(stop)
                if session is None:
                    continue
                batch = await self._next_batch(session.inbox, stop)
                self._received += len(batch)
                if batch and session is self._link.session:
                    self._in_hand = len(batch)
                    try:
                        await self._handle(session, batch, stop)
                    finally:
                        self._in_hand = 0
        finally:
            disconnect.set()
            await supervisor

    async def _next_batch(
        self, inbox: "asyncio.Queue[AbstractIncomingMessage]", stop: asyncio.Event
    ) -> list[AbstractIncomingMessage]:
        try:
            first = await asyncio.wait_for(inbox.get(), 0.5)
        except TimeoutError:
            return []
        batch = [first]
        if self._settings.linger_s and inbox.empty() and not stop.is_set():
            await asyncio.sleep(self._settings.linger_s)
        most, size = self._settings.max_batch_messages, len(first.body)
        while len(batch) < most and size < self._settings.max_batch_bytes and not inbox.empty():
            batch.append(inbox.get_nowait())
            size += len(batch[-1].body)
        return batch

    async def _handle(
        self, session: _Session, batch: list[AbstractIncomingMessage], stop: asyncio.Event
    ) -> None:
        sorted_ = sort_payloads([message.body for message in batch])
        result, dead = await apply_batch(self._store, sorted_.reports, sorted_.dead, stop)
        # after the apply decision, before the acks
        if dead and not await self._publish_dead(session, dead, stop):
            return  # the connection was lost: the broker delivers the batch again
        record(SOURCE, sorted_.reports, result, len(dead))
        for message in batch:
            try:
                await message.ack()
            except ERRORS as exc:
                # the channel was lost: the broker redelivers, and ids dedup
                logger.warning("rabbitmq: ack failed (%s); reports will be seen again", exc)
                self._link.drop(f"ack failed: {exc!r}")
                return

    async def remaining(self) -> int | None:
        """Deliveries still to apply (drain mode): the queue's ready messages plus what this
        consumer holds, plus what it received since the last reading (a publisher still
        trickling keeps the drain from calling the queue empty between two deliveries); None
        while disconnected or while another consumer is attached (its unacked deliveries are
        invisible here and return to the queue when it stops)."""
        session = self._link.session
        if session is None:
            return None
        try:
            depth = await queue_depth(
                session.dead_channel, self._settings.rabbit_queue, DEAD_LETTER_TIMEOUT_S
            )
        except ERRORS as exc:
            logger.warning("rabbitmq: cannot read the queue's depth (%s)", exc)
            return None
        if depth is None or depth.consumers > 1:
            return None
        fresh, self._reported = self._received - self._reported, self._received
        return depth.messages + session.inbox.qsize() + self._in_hand + fresh

    async def _publish_dead(
        self, session: _Session, dead: list[DeadLetter], stop: asyncio.Event
    ) -> bool:
        """Publishes the batch's dead letters, each until the broker confirmed it, holding
        the batch (nothing acked, nothing applied again) while the broker does not confirm;
        False when the connection was lost first (the broker then delivers the batch again,
        its reports count as duplicates and its letters are published then).

        While the broker blocks the connection (a resource alarm) a publish is waited for,
        not repeated: it goes out when the alarm clears, and a repeat would go out too."""
        pending = list(dead)
        backoff = Backoff()
        sending: asyncio.Future[None] | None = None
        while pending:
            if sending is None:
                sending = asyncio.ensure_future(self._send_dead(session.dead_channel, pending[0]))
            try:
                await asyncio.wait_for(asyncio.shield(sending), DEAD_LETTER_TIMEOUT_S)
            except TimeoutError as exc:
                current = session is self._link.session and not stop.is_set()
                if current and self._link.blocked:
                    HOLD.waiting(DEAD_LETTERS)
                    continue  # the same publish, sent when the broker unblocks
                sending.cancel()
                problem: BaseException = exc
            except (*ERRORS, DeliveryError) as exc:
                problem = exc
            else:
                pending.pop(0)
                sending = None
                backoff.reset()
                continue
            sending = None
            if stop.is_set() or session is not self._link.session:
                return False
            HOLD.waiting(DEAD_LETTERS)
            delay = backoff.next()
            logger.warning(
                "rabbitmq: dead letter not confirmed (%r); %d held, retrying in %.1fs",
                problem,
                len(pending),
                delay,
            )
            if isinstance(problem, DeliveryError) and not session.dead_channel.is_closed:
                await self._declare_dead(session)
            await asyncio.sleep(delay)
        HOLD.applied()
        return True

    async def _declare_dead(self, session: _Session) -> None:
        """Declares the dead-letter queue again (it was deleted: the letter came back)."""
        try:
            await declare_queues(
                session.dead_channel, self._settings.rabbit_queue, self._settings.rabbit_queue_type
            )
        except ERRORS as exc:
            logger.warning("rabbitmq: cannot declare %s (%r)", self._settings.dead_queue, exc)

    async def _send_dead(self, channel: AbstractChannel, letter: DeadLetter) -> None:
        logger.warning("rabbitmq: dead letter: %s", letter.reason)
        await publish_persistent(
            channel,
            self._settings.dead_queue,
            letter.payload,
            {"x-clima-reason": letter.reason},
            timeout_s=None,  # the caller bounds the wait (and keeps it while blocked)
        )
