"""The batcher coalesces concurrent submissions and tells each caller its own fate."""

import asyncio

import pytest

from clima.api._batcher import Batcher
from clima.api.errors import PipelineUnavailableError
from clima.contract import Report


async def test_concurrent_submissions_share_batches() -> None:
    """While one batch is in flight, later submissions leave together in the next."""
    sent: list[int] = []
    gate = asyncio.Event()

    async def send(reports: list[Report]) -> None:
        sent.append(len(reports))
        await gate.wait()

    batcher = Batcher(send, max_reports=100, max_inflight=1, max_pending=1000)
    runner = asyncio.create_task(batcher.run())
    calls = [asyncio.create_task(batcher.submit([Report(id="first")]))]
    await asyncio.sleep(0.02)
    calls += [asyncio.create_task(batcher.submit([Report(id=str(i))])) for i in range(9)]
    await asyncio.sleep(0.02)
    gate.set()
    await asyncio.gather(*calls)
    runner.cancel()
    assert sent[0] == 1
    assert sum(sent) == 10
    assert len(sent) == 2


async def test_failure_reaches_every_caller_of_the_batch() -> None:
    """When the upstream fails, every submission in that batch raises the error."""

    async def send(reports: list[Report]) -> None:
        raise PipelineUnavailableError("down")

    batcher = Batcher(send, max_reports=100, max_inflight=2, max_pending=1000)
    runner = asyncio.create_task(batcher.run())
    results = await asyncio.gather(
        *(batcher.submit([Report(id=str(i))]) for i in range(3)), return_exceptions=True
    )
    runner.cancel()
    assert all(isinstance(r, PipelineUnavailableError) for r in results)


async def test_overload_is_refused_at_once() -> None:
    """Submissions beyond the pending limit fail fast instead of queueing without bound."""

    async def send(reports: list[Report]) -> None:
        await asyncio.sleep(10)

    batcher = Batcher(send, max_reports=1, max_inflight=1, max_pending=2)
    with pytest.raises(PipelineUnavailableError, match="overloaded") as caught:
        await batcher.submit([Report(id=str(i)) for i in range(3)])
    assert caught.value.outcome == "refused"
