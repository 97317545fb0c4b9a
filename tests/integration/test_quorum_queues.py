"""The pipeline on quorum queues (what a managed RabbitMQ cluster gets), against the real
RabbitMQ: both queues are declared quorum, and every report is applied once."""

import asyncio
import time
from collections.abc import Callable

import aio_pika
import httpx
import pytest
import valkey

from clima.local import LocalPipeline

pytestmark = pytest.mark.integration
REPORTS = 60


async def _declared_as(url: str, queue: str, queue_type: str) -> bool:
    """Whether declaring `queue` as `queue_type` is accepted: RabbitMQ refuses a declaration
    whose type differs from the existing queue's (PRECONDITION_FAILED)."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        try:
            await channel.declare_queue(queue, durable=True, arguments={"x-queue-type": queue_type})
        except aio_pika.exceptions.ChannelPreconditionFailed:
            return False
        return True


def test_quorum_queues_carry_every_report_once(
    pipeline_factory: Callable[[str], LocalPipeline],
    store: "valkey.Valkey",
    infra: dict[str, str],
    names: dict[str, str],
) -> None:
    names["CLIMA_RABBIT_QUEUE_TYPE"] = "quorum"
    pipeline = pipeline_factory("rabbit")
    with httpx.Client(base_url=pipeline.api_url, timeout=10) as client:
        bodies = [{"id": f"q-{i}", "municipality": 1 + i % 4, "temperature": 20,
                   "humidity": 50, "weather": 1} for i in range(REPORTS)]  # fmt: skip
        answer = client.post("/clima/batch", json=bodies[: REPORTS // 2])
        assert answer.status_code == 202, answer.text
        for body in bodies[REPORTS // 2 :]:
            answer = client.post("/clima", json=body)
            assert answer.status_code == 202, answer.text
    deadline = time.monotonic() + 30
    while int(store.hget("clima:stats", "applied") or 0) < REPORTS:
        assert time.monotonic() < deadline, store.hgetall("clima:stats")
        time.sleep(0.2)
    time.sleep(1)
    assert int(store.hget("clima:stats", "applied") or 0) == REPORTS
    queue, url = names["CLIMA_RABBIT_QUEUE"], infra["RABBITMQ_URL"]
    for name in (queue, f"{queue}.dead"):
        assert asyncio.run(_declared_as(url, name, "quorum")), name
        assert not asyncio.run(_declared_as(url, name, "classic")), name
