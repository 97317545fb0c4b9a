"""The writer and the proxy bound the reports they hold at once: past the bound a request is
refused at once as 503 refused (nothing published, resend) instead of queueing without end
behind a slow broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from clima_unit_support import sample_reports

from clima.common.limits import InFlight
from clima.common.upstream import Upstream
from clima.contract import ReportBatch, add_writer_service
from clima.contract.outcome import REFUSED, outcome_of
from clima.proxy.server import create_http
from clima.proxy.settings import ProxySettings
from clima.writer._core import Writer
from clima.writer.server import ReportWriterService


class SlowPublisher:
    """A healthy broker that confirms only once the test opens its gate."""

    healthy = alive = True
    problem = ""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.published = 0

    async def publish(self, messages: list[tuple[bytes, bytes]]) -> None:
        await self.gate.wait()
        self.published += len(messages)

    async def close(self) -> None:
        return None


def test_the_bound_admits_up_to_its_reports_and_one_large_request_alone() -> None:
    inflight = InFlight(10, "CLIMA_X")
    assert inflight.take(6)
    assert inflight.take(4)
    assert not inflight.take(1)
    assert "10 reports in flight, 1 more would pass the bound of 10 (CLIMA_X)" in (
        inflight.refusal(1)
    )
    inflight.give(10)
    assert inflight.take(25), "a request larger than the bound is admitted when alone"
    assert not inflight.take(1)
    inflight.give(25)
    assert inflight.reports == 0


@pytest.fixture
async def slow_writer() -> AsyncIterator[tuple[str, SlowPublisher]]:
    broker = SlowPublisher()
    writer = Writer("kafka", {"kafka": broker})
    server = grpc.aio.server()
    bound = InFlight(6, "CLIMA_WRITER_MAX_INFLIGHT_REPORTS")
    add_writer_service(ReportWriterService(writer, bound), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}", broker
    broker.gate.set()
    await server.stop(None)


async def test_the_writer_refuses_past_its_bound_and_admits_again_once_answered(
    slow_writer: tuple[str, SlowPublisher],
) -> None:
    """4 reports wait for the broker; 4 more would pass the bound of 6: UNAVAILABLE with
    outcome refused naming the bound's variable, and never published. Once the first are
    confirmed the next are admitted."""
    address, broker = slow_writer
    upstream = Upstream(address)
    try:
        first = asyncio.create_task(upstream.send_batch(ReportBatch(reports=sample_reports(4)), 5))
        await asyncio.sleep(0.3)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await upstream.send_batch(ReportBatch(reports=sample_reports(4)), 5)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert outcome_of(caught.value.trailing_metadata()) == REFUSED
        assert "CLIMA_WRITER_MAX_INFLIGHT_REPORTS" in (caught.value.details() or "")
        broker.gate.set()
        assert (await first).accepted == 4
        assert (await upstream.send_batch(ReportBatch(reports=sample_reports(4)), 5)).accepted == 4
        assert broker.published == 8
    finally:
        await upstream.close()


class _HeldWriter:
    """A writer that answers /tweet's calls only once released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def send_report(self, report: object, timeout_s: float) -> None:
        await self.release.wait()

    def reachable(self) -> bool:
        return True


async def test_the_proxy_refuses_tweets_past_its_bound() -> None:
    """With one /tweet in flight and a bound of 1, the next is 503 refused naming the bound;
    once the first is answered the next is forwarded."""
    writer = _HeldWriter()
    app = create_http(writer, ProxySettings(max_inflight=1))  # type: ignore[arg-type]
    body = {"municipality": 1, "temperature": 20, "humidity": 50, "weather": 1}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
        first = asyncio.create_task(client.post("/tweet", json={**body, "id": "held-1"}))
        await asyncio.sleep(0.2)
        refused = await client.post("/tweet", json={**body, "id": "held-2"})
        writer.release.set()
        assert (await first).status_code == 202
        again = await client.post("/tweet", json={**body, "id": "held-2"})
    assert refused.status_code == 503
    assert refused.json()["outcome"] == "refused"
    assert "CLIMA_PROXY_MAX_INFLIGHT" in refused.json()["detail"]
    assert refused.json()["ids"] == ["held-2"]
    assert again.status_code == 202
