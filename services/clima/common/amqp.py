"""What the writer and the consumers share of RabbitMQ: one connection that Clima supervises
itself (bounded connect and set-up, heartbeats, a reconnect after a capped back-off), the
queues it declares and the persistent messages it publishes.

aio-pika's robust connection is not used (issue 13). Its reconnect loop sleeps a fixed 5 s
between attempts, and its timeout covers only the AMQP handshake: the channel restore that
follows (Channel.Open, Confirm.Select, the declarations) has no bound and waits on a lock
that the channel's own close callback may hold, so an attempt that reached a restarted
broker could wait forever, silently. Here every attempt is one plain `aio_pika.connect`
plus the caller's `setup` (its channels and declarations), all under one timeout; any
failure closes the connection and starts over, and the connection is given up as soon as
it closes, stops answering heartbeats, or the caller `drop()`s it.
"""

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractQueue, FieldValue
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from yarl import URL

from clima.common.retry import Backoff
from clima.wiring import RabbitQueueType

logger = logging.getLogger(__name__)

# A connection silent for (HEARTBEAT_S + 1) * 3 = 9 s is closed by aiormq; the broker closes
# its end after two missed heartbeats (4 s).
HEARTBEAT_S = 2
# connect, AMQP handshake and the caller's set-up together; also the time a check may take
SETUP_TIMEOUT_S = 3.0
# an idle connection is checked with one round trip this often, so a silent one is given up
# within CHECK_EVERY_S + SETUP_TIMEOUT_S (5 s), before the heartbeats would notice
CHECK_EVERY_S = 2.0
ERRORS = (*CONNECTION_EXCEPTIONS, TimeoutError)

S = TypeVar("S")
#: aiormq keeps whether the broker blocked a connection (connection.blocked, sent during a
#: disk or memory alarm) in this event, set while not blocked, and offers no public way to
#: read it; uv.lock pins the version this was read from
_UNBLOCKED_ATTRIBUTE = "_Connection__connection_unblocked"


def unblocked_event(connection: AbstractConnection) -> asyncio.Event | None:
    """The event aiormq clears while the broker blocks `connection`, or None when this aiormq
    keeps it elsewhere (a block is then seen only as calls that time out)."""
    underlay = getattr(getattr(connection, "transport", None), "connection", None)
    event = getattr(underlay, _UNBLOCKED_ATTRIBUTE, None)
    if isinstance(event, asyncio.Event):
        return event
    logger.warning("rabbitmq: cannot see whether the broker blocks the connection")
    return None


def with_heartbeat(url: str, heartbeat_s: int = HEARTBEAT_S) -> str:
    """The URL with `heartbeat` set, unless the URL sets it already."""
    parsed = URL(url)
    if "heartbeat" in parsed.query:
        return url
    return str(parsed.update_query(heartbeat=heartbeat_s))


class AmqpLink(Generic[S]):
    """Keeps one connection and the session `setup` builds on it (its channels) alive."""

    def __init__(
        self,
        url: str,
        name: str,
        setup: Callable[[AbstractConnection], Awaitable[S]],
        check: Callable[[S], Awaitable[object]] | None = None,
        timeout_s: float = SETUP_TIMEOUT_S,
    ) -> None:
        self._url = with_heartbeat(url)
        self._name = name
        self._setup = setup
        self._check = check
        self._timeout_s = timeout_s
        self._connection: AbstractConnection | None = None
        self._session: S | None = None
        self._lost = asyncio.Event()
        self._up = asyncio.Event()
        self._unblocked: asyncio.Event | None = None
        self.problem = "not connected yet"

    @property
    def session(self) -> S | None:
        """The current session, None while disconnected."""
        return self._session

    @property
    def blocked(self) -> bool:
        """True while the broker blocks the connection (a resource alarm: free disk under
        disk_free_limit, or memory over its watermark): every call on it waits, unanswered,
        until the alarm clears."""
        return self._unblocked is not None and not self._unblocked.is_set()

    async def wait_session(self, stop: asyncio.Event) -> S | None:
        """The session once there is one; None when `stop` is set first."""
        await _wait(stop, None, self._up)
        return None if stop.is_set() else self._session

    async def run(self, stop: asyncio.Event) -> None:
        """Connects, waits until the connection is lost, and connects again, until `stop`."""
        backoff = Backoff()
        failures = 0
        while not stop.is_set():
            try:
                await self._open()
            except ERRORS as exc:
                problem, self.problem = self.problem, _describe(exc)
                delay = backoff.next()
                # once per cause, then every 10th attempt: an outage is not a log flood
                level = (
                    logging.WARNING
                    if problem != self.problem or failures % 10 == 0
                    else logging.DEBUG
                )
                logger.log(
                    level,
                    "%s: cannot connect (%s); retrying in %.1fs",
                    self._name,
                    self.problem,
                    delay,
                )
                failures += 1
                await _wait(stop, delay)
                continue
            backoff.reset()
            failures = 0
            logger.info("%s: connected", self._name)
            await self._watch(stop)
            await self._close()
            if not stop.is_set():
                logger.warning("%s: connection lost (%s); reconnecting", self._name, self.problem)
        await self._close()

    def drop(self, reason: str) -> None:
        """Gives the connection up (it failed a call, or a confirm never came, as on a
        half-open connection); `run` closes it and connects again."""
        if self._session is not None:
            self.problem = reason
            self._session = None
            self._up.clear()
            self._lost.set()

    async def _watch(self, stop: asyncio.Event) -> None:
        """Returns once the connection is lost (or `stop`); meanwhile runs `check` on the
        session every CHECK_EVERY_S and gives the connection up when it gets no answer."""
        while not (stop.is_set() or self._lost.is_set()):
            await _wait(stop, CHECK_EVERY_S, self._lost)
            session = self._session
            if self._check is None or session is None or stop.is_set() or self.blocked:
                continue  # a blocking broker is there; heartbeats still find a dead one
            try:
                await asyncio.wait_for(self._check(session), self._timeout_s)
            except ERRORS as exc:
                self.drop(f"no answer to a check in {self._timeout_s:.0f}s: {_describe(exc)}")

    async def _open(self) -> None:
        self._lost = asyncio.Event()
        connection = await asyncio.wait_for(
            aio_pika.connect(self._url, timeout=self._timeout_s), self._timeout_s
        )
        try:
            session = await asyncio.wait_for(self._setup(connection), self._timeout_s)
        except BaseException:
            await _close_quietly(connection)
            raise
        connection.close_callbacks.add(functools.partial(self._on_close, connection))
        self._unblocked = unblocked_event(connection)
        self._connection, self._session = connection, session
        self.problem = ""
        self._up.set()

    def _on_close(self, connection: AbstractConnection, _sender: object, exc: object) -> None:
        if connection is self._connection and self._session is not None:
            self.drop(_describe(exc) if isinstance(exc, BaseException) else "connection closed")

    async def _close(self) -> None:
        connection, self._connection, self._session = self._connection, None, None
        self._up.clear()
        if connection is not None:
            await _close_quietly(connection)


async def _close_quietly(connection: AbstractConnection) -> None:
    # a half-open connection would wait for the broker's Close-Ok: bounded
    with contextlib.suppress(*ERRORS):
        await asyncio.wait_for(connection.close(), 1.0)


async def _wait(stop: asyncio.Event, timeout_s: float | None, *also: asyncio.Event) -> None:
    """Returns after `timeout_s`, or as soon as `stop` or any of `also` is set."""
    waiters = [asyncio.ensure_future(e.wait()) for e in (stop, *also)]
    try:
        await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"


async def declare_queues(
    channel: AbstractChannel, queue: str, queue_type: RabbitQueueType = "classic"
) -> AbstractQueue:
    """Declares the durable work queue and its dead-letter queue `<queue>.dead` (a crashed
    broker may have lost a queue), both of `queue_type`; returns the work queue. A quorum
    queue is replicated over the cluster's nodes, and its confirm means a majority has the
    message; a classic one lives on one node."""
    arguments: dict[str, FieldValue] | None = None
    if queue_type != "classic":
        arguments = {"x-queue-type": queue_type}
    work = await channel.declare_queue(queue, durable=True, arguments=arguments)
    await channel.declare_queue(f"{queue}.dead", durable=True, arguments=arguments)
    return work


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """What a passive declare tells of a queue: its ready messages (not those delivered and
    still unacknowledged) and its consumers."""

    messages: int
    consumers: int


async def queue_depth(channel: AbstractChannel, queue: str, timeout_s: float) -> QueueDepth | None:
    """The queue's depth, read with a passive declare (which creates nothing; a missing queue
    closes the channel with NOT_FOUND); None if the answer carries no counts, which is never
    read as empty. Raises one of ERRORS when the broker does not answer within `timeout_s` or
    the channel or connection fails."""
    declared = await asyncio.wait_for(channel.declare_queue(queue, passive=True), timeout_s)
    result = declared.declaration_result
    if result.message_count is None or result.consumer_count is None:
        return None
    return QueueDepth(int(result.message_count), int(result.consumer_count))


async def publish_persistent(
    channel: AbstractChannel,
    queue: str,
    body: bytes,
    headers: dict[str, FieldValue],
    *,
    timeout_s: float | None,
    content_type: str | None = None,
    mandatory: bool = True,
) -> None:
    """Publishes a persistent message to `queue` through the default exchange; on a channel
    with publisher confirms, returns once the broker confirmed it."""
    await channel.default_exchange.publish(
        aio_pika.Message(
            body,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            content_type=content_type,
            headers=headers,
        ),
        routing_key=queue,
        mandatory=mandatory,
        timeout=timeout_s,
    )
