"""A RabbitMQ queue deleted under a running pipeline comes back, and consuming resumes by
itself: the broker cancels the consumer, which declares the queue again and resubscribes.
(A deleted Kafka topic is not re-created by the pipeline: docs/faults.md, F18.)"""

import asyncio
import time
from collections.abc import Callable

import aio_pika
import httpx
import pytest
import valkey
from clima_amqp_support import queue_state

from clima.local import LocalPipeline

pytestmark = pytest.mark.integration


def _post_until_accepted(api_url: str, ids: list[str], timeout_s: float = 60) -> None:
    """Sends each report with its id, again and again, until it is answered 202."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=api_url, timeout=10) as client:
        for ident in ids:
            body = {"id": ident, "municipality": 1, "temperature": 20, "humidity": 50,
                    "weather": 1}  # fmt: skip
            while client.post("/clima", json=body).status_code != 202:
                assert time.monotonic() < deadline, f"{ident} never accepted"
                time.sleep(0.2)


def _applied(store: "valkey.Valkey", count: int, timeout_s: float = 30) -> int:
    deadline = time.monotonic() + timeout_s
    applied = 0
    while time.monotonic() < deadline:
        applied = int(store.hget("clima:stats", "applied") or 0)
        if applied >= count:
            break
        time.sleep(0.2)
    return applied


async def _consumers(url: str, queue: str) -> int:
    """The queue's consumers (0 while it is missing)."""
    state = await queue_state(url, queue)
    return 0 if state is None else state.consumers


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
def test_a_deleted_queue_is_declared_again_and_consumed(
    pipeline_factory: Callable[[str], LocalPipeline],
    store: "valkey.Valkey",
    infra: dict[str, str],
    names: dict[str, str],
    queue_type: str,
) -> None:
    """Reports before and after the queue's deletion are all applied, each once; the
    consumer is attached to the new queue within seconds, with nobody restarting anything.
    The same for the quorum queues of a RabbitMQ cluster."""
    names["CLIMA_RABBIT_QUEUE_TYPE"] = queue_type
    pipeline = pipeline_factory("rabbit")
    queue, url = names["CLIMA_RABBIT_QUEUE"], infra["RABBITMQ_URL"]
    _post_until_accepted(pipeline.api_url, [f"before-{i}" for i in range(20)])
    assert _applied(store, 20) == 20

    async def delete() -> None:
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(queue)

    asyncio.run(delete())
    deleted = time.monotonic()
    while asyncio.run(_consumers(url, queue)) < 1:
        assert time.monotonic() - deleted < 20, "no consumer on the queue 20 s after its deletion"
        time.sleep(0.2)
    back = time.monotonic() - deleted
    _post_until_accepted(pipeline.api_url, [f"after-{i}" for i in range(20)])
    assert _applied(store, 40) == 40, f"consumer attached again after {back:.1f}s"
    assert int(store.hget("clima:stats", "duplicates") or 0) == 0
