"""Half-open connections to the real RabbitMQ and Valkey are noticed and replaced in bounded time.

A relay sits between the client and the real server and can freeze: bytes stop flowing both
ways while every socket stays open, as when the peer's node dies without sending a reset.
Connections opened while it is frozen are accepted and never answered, as by a peer that
accepts TCP before it is ready. (Kafka's clients cannot be relayed this way: the broker
advertises its own address; librdkafka's bounded request timeout covers them.)
"""

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from yarl import URL

from clima.common.amqp import CHECK_EVERY_S, SETUP_TIMEOUT_S
from clima.common.retry import RECONNECT_CAP_S
from clima.contract import Report
from clima.store import Store, StoreSettings, StoreUnavailableError
from clima.writer._rabbit import RabbitPublisher
from clima.writer.errors import BrokerUnavailableError

pytestmark = pytest.mark.integration
# an idle connection is checked every CHECK_EVERY_S, each check bounded by the set-up timeout
SILENCE_NOTICED_S = CHECK_EVERY_S + SETUP_TIMEOUT_S + 1.0
# an attempt that reached the frozen relay times out, then one back-off step
RECONNECTED_S = SETUP_TIMEOUT_S + RECONNECT_CAP_S + 1.0


class Relay:
    """A TCP relay to host:port that can freeze (see the module docstring)."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._generation = 0
        self._frozen = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def freeze(self) -> None:
        """Every open connection goes silent for good; new ones are accepted, never answered."""
        self._generation += 1
        self._frozen = True

    def thaw(self) -> None:
        """New connections are relayed again (the silent ones stay silent)."""
        self._frozen = False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        if self._frozen:
            await _discard(reader)
            return
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers.append(up_writer)
        generation = self._generation
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink, generation))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, generation: int
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await source.read(65536):
                if generation == self._generation:
                    sink.write(data)
                    await sink.drain()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()


async def _discard(reader: asyncio.StreamReader) -> None:
    with contextlib.suppress(ConnectionError):
        while await reader.read(65536):
            pass


@pytest.fixture
async def rabbit_relay(infra: dict[str, str]) -> AsyncIterator[tuple[Relay, str]]:
    """A relay to the real RabbitMQ, and the AMQP URL that goes through it."""
    url = URL(infra["RABBITMQ_URL"])
    relay = Relay(url.host or "127.0.0.1", url.port or 5672)
    await relay.start()
    yield relay, str(url.with_port(relay.port))
    await relay.close()


async def _until(predicate: Callable[[], bool], timeout_s: float) -> float:
    """Seconds until `predicate()` holds; fails after `timeout_s`."""
    began = time.monotonic()
    while not predicate():
        assert time.monotonic() - began < timeout_s, f"not within {timeout_s:.1f}s"
        await asyncio.sleep(0.05)
    return time.monotonic() - began


async def test_rabbit_half_open_while_idle_is_noticed_by_the_check(
    rabbit_relay: tuple[Relay, str],
) -> None:
    """No publishes: the silent connection is given up by the periodic check (5 s), and a
    new one is up within a connect timeout and one back-off step of the path healing."""
    relay, url = rabbit_relay
    publisher = RabbitPublisher(url, f"half-open-{uuid.uuid4().hex[:6]}", timeout_s=1.0)
    publisher.start()
    try:
        await _until(lambda: publisher.healthy, 10)
        relay.freeze()
        noticed = await _until(lambda: not publisher.healthy, SILENCE_NOTICED_S)
        assert publisher.problem
        relay.thaw()
        back = await _until(lambda: publisher.healthy, RECONNECTED_S)
        print(f"half-open noticed after {noticed:.1f}s, connected again {back:.1f}s after heal")
        await publisher.publish([(b"k", b"v")])
    finally:
        await publisher.close()


async def test_rabbit_half_open_under_load_fails_the_publish_and_reconnects(
    rabbit_relay: tuple[Relay, str],
) -> None:
    """A confirm that never comes fails its publish within the publish timeout (the caller
    answers 503) and gives the connection up at once; the next one is up after healing."""
    relay, url = rabbit_relay
    publisher = RabbitPublisher(url, f"half-open-{uuid.uuid4().hex[:6]}", timeout_s=1.0)
    publisher.start()
    try:
        await _until(lambda: publisher.healthy, 10)
        relay.freeze()
        began = time.monotonic()
        with pytest.raises(BrokerUnavailableError):
            await publisher.publish([(b"k", b"v")])
        assert time.monotonic() - began < 1.5
        assert not publisher.healthy
        relay.thaw()
        await _until(lambda: publisher.healthy, RECONNECTED_S)
        await publisher.publish([(b"k", b"v")])
    finally:
        await publisher.close()


async def test_valkey_half_open_fails_the_apply_and_the_next_connection_works(
    infra: dict[str, str],
) -> None:
    """A silent Valkey fails the apply within the socket timeout (the consumer keeps the
    reports and retries); after healing, the retry applies them on a new connection."""
    url = URL(infra["VALKEY_SERVICE_URL"])
    relay = Relay(url.host or "127.0.0.1", url.port or 6379)
    await relay.start()
    store = Store(StoreSettings(valkey_url=str(url.with_port(relay.port))))
    report = Report(
        id=f"half-open-{uuid.uuid4().hex}",
        event_time_ms=int(time.time() * 1000),
        municipality=1,
        weather=1,
        temperature_c=20,
        humidity_pct=50,
    )
    try:
        assert await store.ping()
        relay.freeze()
        began = time.monotonic()
        with pytest.raises(StoreUnavailableError):
            await store.apply([report])
        assert time.monotonic() - began < 6.0
        relay.thaw()
        stop = asyncio.Event()
        applied = await asyncio.wait_for(store.apply_until_done([report], 0, stop), 5)
        assert applied.applied + applied.duplicates == 1
    finally:
        await store.close()
        await relay.close()
