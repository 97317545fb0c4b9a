"""The api as served: one body limit in front of both lanes, and one ingest that both lanes
use, started by the app's lifespan (a fake writer on loopback gRPC)."""

import asyncio
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp, Message

from clima.api._fast import FastIngest
from clima.api.app import create_api
from clima.api.settings import ApiSettings
from clima.common.limits import BodyLimit
from clima.contract import Ack, Report, ReportBatch, add_writer_service

BODY = {"municipality": 1, "temperature": 21.5, "humidity": 60, "weather": "sunny"}


class CountingWriter:
    """Accepts every batch and counts the reports."""

    def __init__(self) -> None:
        self.reports = 0

    async def SendReport(self, request: Report, context: grpc.aio.ServicerContext) -> Ack:
        self.reports += 1
        return Ack(accepted=1, brokers=["kafka"])

    async def SendBatch(self, request: ReportBatch, context: grpc.aio.ServicerContext) -> Ack:
        self.reports += len(request.reports)
        return Ack(accepted=len(request.reports), brokers=["kafka"])


def _layers(app: object) -> list[object]:
    layers = []
    while app is not None:
        layers.append(app)
        app = getattr(app, "app", None) if not isinstance(app, FastAPI) else None
    return layers


def test_one_body_limit_wraps_both_lanes() -> None:
    """BodyLimit is the outermost layer, once; the FastAPI app adds no second one."""
    stack = create_api(ApiSettings(max_body_bytes=2048))
    layers = _layers(stack)
    assert [type(layer) for layer in layers] == [BodyLimit, FastIngest, FastAPI]
    fastapi_app = layers[-1]
    assert isinstance(fastapi_app, FastAPI)
    assert not [m for m in fastapi_app.user_middleware if m.cls is BodyLimit]


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
async def test_oversized_bodies_are_413_in_either_lane(content_type: str) -> None:
    """A body over the limit is refused whichever lane its content type leads to."""
    stack = create_api(ApiSettings(max_body_bytes=1024))
    transport = httpx.ASGITransport(app=stack)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        answer = await client.post(
            "/clima", content=b"[" + b"1," * 2000 + b"1]", headers={"content-type": content_type}
        )
    assert answer.status_code == 413
    assert answer.json() == {"detail": "body: larger than 1024 bytes"}


@pytest.fixture
async def writer() -> AsyncIterator[tuple[CountingWriter, str]]:
    counting = CountingWriter()
    server = grpc.aio.server()
    add_writer_service(counting, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield counting, f"127.0.0.1:{port}"
    await server.stop(None)


async def _lifespan(app: ASGIApp, event: str, state: list[asyncio.Queue[Message]]) -> None:
    """Drives the ASGI lifespan protocol by hand: startup (keeping the task), or shutdown."""
    if event == "startup":
        inbox: asyncio.Queue[Message] = asyncio.Queue()
        outbox: asyncio.Queue[Message] = asyncio.Queue()
        state += [inbox, outbox]
        asyncio.get_running_loop().create_task(
            app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put)
        )
    inbox, outbox = state
    await inbox.put({"type": f"lifespan.{event}"})
    answer = await asyncio.wait_for(outbox.get(), 10)
    assert answer["type"] == f"lifespan.{event}.complete", answer


async def test_both_lanes_answer_from_the_one_ingest_the_lifespan_started(
    writer: tuple[CountingWriter, str],
) -> None:
    """The fast lane (plainly valid POSTs) and FastAPI (/readyz) both use the ingest whose
    channel the app's lifespan opened: an ingest of their own would not be started."""
    counting, target = writer
    stack = create_api(ApiSettings.model_validate({"CLIMA_API_UPSTREAM": target}))
    lifespan: list[asyncio.Queue[Message]] = []
    await _lifespan(stack, "startup", lifespan)
    try:
        transport = httpx.ASGITransport(app=stack)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            fast = await client.post("/clima", json=BODY)
            # a named weather in another case is still plainly valid: fast lane again
            batch = await client.post("/clima/batch", json=[BODY, {**BODY, "weather": "RAINY"}])
            ready = await client.get("/readyz")
    finally:
        await _lifespan(stack, "shutdown", lifespan)
    assert fast.status_code == 202, fast.text
    assert batch.status_code == 202, batch.text
    assert ready.status_code == 200, ready.text
    assert counting.reports == 3
