"""A RabbitMQ consumer whose dead letters the broker does not confirm holds its batch and
publishes them again on the same connection: no re-apply loop, no count that grows with
every attempt, readiness says why. A dead-letter queue deleted under it is declared again,
and the letter lands in it instead of being confirmed into nothing."""

import asyncio
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aio_pika
import httpx
import pytest
import valkey
from clima_amqp_support import queue_state

from clima.local import LocalPipeline

pytestmark = pytest.mark.integration
GARBAGE = b"\\xff not a ReportBatch"


async def _publish(url: str, queue: str, body: bytes) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        await channel.default_exchange.publish(message, routing_key=queue)


async def _delete(url: str, queue: str) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(queue)


async def _depth(url: str, queue: str) -> int:
    """The queue's ready messages (-1 while it is missing)."""
    state = await queue_state(url, queue)
    return -1 if state is None else state.messages


def _dead(store: "valkey.Valkey") -> int:
    return int(store.hget("clima:stats", "dead_letters") or 0)


def _wait(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s:.0f}s"
        time.sleep(0.2)


@pytest.fixture
def alarm(infra: dict[str, str], infra_sh: Path) -> Iterator[Callable[[str], None]]:
    def limit(value: str) -> None:
        subprocess.run([infra_sh, "rabbitmqctl", "-q", "set_disk_free_limit", value], check=True)

    yield limit
    limit("50MB")


def test_unconfirmed_dead_letters_are_held_not_applied_again(
    pipeline_factory: Callable[[str], LocalPipeline],
    store: "valkey.Valkey",
    infra: dict[str, str],
    names: dict[str, str],
    alarm: Callable[[str], None],
) -> None:
    """A message that can only be dead-lettered arrives while RabbitMQ blocks publishing:
    the consumer holds it (readiness names the hold) for as long as the alarm lasts, then
    publishes the letter once; it is counted once and nothing was applied again."""
    url, queue = infra["RABBITMQ_URL"], names["CLIMA_RABBIT_QUEUE"]
    pipeline = pipeline_factory("rabbit")
    pipeline.terminate("rabbit-consumer")
    asyncio.run(_publish(url, queue, GARBAGE))
    alarm("100000GB")
    pipeline.restart("rabbit-consumer")
    ready = f"http://127.0.0.1:{pipeline.ports.rabbit_consumer_probe}/readyz"
    answers: list[str] = []

    def holding() -> bool:
        answer = httpx.get(ready, timeout=5)
        answers.append(answer.text)
        return answer.status_code != 200 and "dead letters" in answer.text

    _wait(holding, 30, f"readiness naming the dead-letter hold (last: {answers[-1:]})")
    time.sleep(12)  # two of the old 5 s publish timeouts, each of which applied it again
    assert _dead(store) == 1
    alarm("50MB")
    _wait(lambda: asyncio.run(_depth(url, f"{queue}.dead")) == 1, 30, "the letter published")
    _wait(lambda: httpx.get(ready, timeout=5).status_code == 200, 30, "ready again")
    time.sleep(1)
    assert _dead(store) == 1
    assert asyncio.run(_depth(url, f"{queue}.dead")) == 1


def test_a_deleted_dead_letter_queue_is_declared_again(
    pipeline_factory: Callable[[str], LocalPipeline],
    store: "valkey.Valkey",
    infra: dict[str, str],
    names: dict[str, str],
) -> None:
    """The dead-letter queue deleted, then a message that can only be dead-lettered: the
    letter is in the queue declared again, not confirmed into nothing."""
    url, queue = infra["RABBITMQ_URL"], names["CLIMA_RABBIT_QUEUE"]
    pipeline_factory("rabbit")
    asyncio.run(_delete(url, f"{queue}.dead"))
    asyncio.run(_publish(url, queue, GARBAGE))
    _wait(lambda: _dead(store) >= 1, 30, "the message dead-lettered")
    _wait(lambda: asyncio.run(_depth(url, f"{queue}.dead")) == 1, 30, "the letter in its queue")
