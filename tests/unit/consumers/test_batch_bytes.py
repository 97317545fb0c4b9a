"""A batch is bounded in bytes as well as in messages, whatever the size of the messages, and
Kafka's fetching ahead is bounded in bytes (no broker needed)."""

import asyncio
from typing import Any

import pytest

from clima.consumers import _kafka, _rabbit
from clima.consumers.settings import ConsumerSettings
from clima.store import Store, StoreSettings


class Message:
    """A message of `size` bytes, for either source."""

    def __init__(self, size: int) -> None:
        self.body = b"x" * size

    def value(self) -> bytes:
        return self.body

    def error(self) -> None:
        return None


class Fetched:
    """librdkafka's queue of fetched messages: `consume(n, 0)` takes up to n of them."""

    def __init__(self, sizes: list[int]) -> None:
        self.queue = [Message(size) for size in sizes]
        self.asked: list[int] = []

    def poll(self, _timeout: float) -> Message | None:
        return self.queue.pop(0) if self.queue else None

    def consume(self, count: int, _timeout: float) -> list[Message]:
        self.asked.append(count)
        taken, self.queue = self.queue[:count], self.queue[count:]
        return taken


def _limits(source: Any, messages: int, size: int) -> None:
    source._settings = source._settings.model_copy(
        update={"max_batch_messages": messages, "max_batch_bytes": size, "linger_s": 0}
    )


@pytest.mark.parametrize(
    ("sizes", "messages", "size", "taken"),
    [
        ([60_000] * 100, 500, 2**20, 21),  # large: the first, then one chunk passes 1 MiB
        ([60] * 1000, 500, 2**20, 500),  # small ones: the message bound, as before
        ([5 * 2**20, 10], 500, 2**20, 1),  # one message over the bound is a batch of its own
        ([100] * 30, 500, 2**20, 30),  # whatever is fetched, when less
    ],
)
def test_kafka_batch_stops_at_either_bound(
    source: _kafka.KafkaSource, sizes: list[int], messages: int, size: int, taken: int
) -> None:
    real = source._consumer
    fetched = Fetched(sizes)
    source._consumer = fetched  # type: ignore[assignment]
    _limits(source, messages, size)
    batch = source._take()
    assert len(batch) == taken
    assert all(count <= _kafka.TAKE_CHUNK for count in fetched.asked)
    real.close()


def test_kafka_fetching_ahead_is_bounded_in_bytes() -> None:
    settings = ConsumerSettings(kafka_broker="127.0.0.1:9", prefetch_bytes=8 * 2**20)
    store = Store(StoreSettings(valkey_url="redis://127.0.0.1:9/0"))
    made = _kafka.KafkaSource(settings, store)
    config = made.consumer_config()
    assert config["queued.max.messages.kbytes"] == 8 * 1024
    assert config["fetch.max.bytes"] == 8 * 2**20
    made._consumer.close()
    made._dead.purge()


@pytest.mark.parametrize(
    ("sizes", "messages", "size", "taken"),
    [
        ([60_000] * 100, 500, 2**20, 18),  # 18 x 60,000 bytes pass 1 MiB
        ([60] * 1000, 500, 2**20, 500),
        ([5 * 2**20, 10], 500, 2**20, 1),
    ],
)
async def test_rabbit_batch_stops_at_either_bound(
    sizes: list[int], messages: int, size: int, taken: int
) -> None:
    settings = ConsumerSettings(rabbitmq_url="amqp://u:p@127.0.0.1:9/", linger_s=0)
    source = _rabbit.RabbitSource(settings, Store(StoreSettings(valkey_url="redis://x:9/0")))
    _limits(source, messages, size)
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    for message_size in sizes:
        inbox.put_nowait(Message(message_size))
    batch = await source._next_batch(inbox, asyncio.Event())
    assert len(batch) == taken
