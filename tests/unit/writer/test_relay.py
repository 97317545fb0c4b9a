"""The proxy forwards request bytes untouched and relays the writer's answer as it was:
refusals with their trailing metadata, and the writer's refusal of undecodable bytes naming
the message it expected (in-process gRPC on loopback)."""

from collections.abc import AsyncIterator

import grpc
import pytest

from clima.common.upstream import Upstream
from clima.contract import (
    Ack,
    Report,
    ReportBatch,
    Undecodable,
    add_forwarding_service,
    add_writer_service,
    refuse_undecodable,
)
from clima.contract.outcome import OUTCOME_KEY, REFUSED, outcome_of
from clima.proxy._forward import Forwarder


class RefusingWriter:
    """Refuses every batch as the writer does when a broker of the mode is known down."""

    async def SendReport(
        self, request: Report | Undecodable, context: grpc.aio.ServicerContext
    ) -> Ack:
        if isinstance(request, Undecodable):
            await refuse_undecodable(request, context)
        await context.abort(
            grpc.StatusCode.UNAVAILABLE, "kafka: unavailable", ((OUTCOME_KEY, REFUSED),)
        )
        raise AssertionError

    async def SendBatch(
        self, request: ReportBatch | Undecodable, context: grpc.aio.ServicerContext
    ) -> Ack:
        if isinstance(request, Undecodable):
            await refuse_undecodable(request, context)
        await context.abort(
            grpc.StatusCode.UNAVAILABLE, "kafka: unavailable", ((OUTCOME_KEY, REFUSED),)
        )
        raise AssertionError


class RecordingWriter:
    """Keeps the request bytes exactly as they arrived and accepts them."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []

    async def __call__(
        self, method: str, request: bytes, context: grpc.aio.ServicerContext
    ) -> bytes:
        self.received.append((method, request))
        return Ack(accepted=1, brokers=["kafka"]).SerializeToString()


async def _serve(servicer: object) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    if isinstance(servicer, (Forwarder, RecordingWriter)):
        add_forwarding_service(servicer, server)
    else:
        add_writer_service(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


@pytest.fixture
async def proxy_target() -> AsyncIterator[str]:
    writer, writer_target = await _serve(RefusingWriter())
    upstream = Upstream(writer_target)
    proxy, proxy_target = await _serve(Forwarder(upstream, 5.0))
    yield proxy_target
    await proxy.stop(None)
    await upstream.close()
    await writer.stop(None)


async def test_refusal_keeps_its_outcome_through_the_proxy(proxy_target: str) -> None:
    """`clima-outcome: refused` reaches the api's side of the proxy unchanged."""
    upstream = Upstream(proxy_target)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await upstream.send_batch(ReportBatch(reports=[Report(id="a")]), 5)
    finally:
        await upstream.close()
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert refused.value.details() == "kafka: unavailable"
    assert outcome_of(refused.value.trailing_metadata()) == "refused"


@pytest.mark.parametrize("method", ["SendBatch", "SendReport"])
async def test_undecodable_bytes_are_invalid_argument(proxy_target: str, method: str) -> None:
    """Bytes that are not the method's message: INVALID_ARGUMENT naming it, not UNKNOWN."""
    expected = "ReportBatch" if method == "SendBatch" else "Report"
    async with grpc.aio.insecure_channel(proxy_target) as channel:
        call = channel.unary_unary(
            f"/clima.v1.ReportWriter/{method}",
            request_serializer=lambda raw: raw,
            response_deserializer=Ack.FromString,
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(b"\x0a\xff\xff\xff\xff\x0f", timeout=5)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"request: not a clima.v1.{expected} (" in (refused.value.details() or "")


async def test_the_proxy_forwards_the_request_bytes_untouched() -> None:
    """A batch encoded unusually (a field given twice, which a decode and re-encode would
    fold into one) reaches the writer byte for byte, and the writer's Ack comes back."""
    recording = RecordingWriter()
    writer, writer_target = await _serve(recording)
    upstream = Upstream(writer_target)
    proxy, proxy_target = await _serve(Forwarder(upstream, 5.0))
    # one report whose id is given twice (the last wins): valid protobuf, not canonical
    inner = Report(id="x").SerializeToString() + Report(id="a", municipality=1).SerializeToString()
    odd = b"\x0a" + bytes([len(inner)]) + inner  # field 1 (reports), length-delimited
    assert ReportBatch.FromString(odd).reports[0].id == "a"
    assert ReportBatch.FromString(odd).SerializeToString() != odd
    try:
        async with grpc.aio.insecure_channel(proxy_target) as channel:
            call = channel.unary_unary(
                "/clima.v1.ReportWriter/SendBatch",
                request_serializer=lambda raw: raw,
                response_deserializer=Ack.FromString,
            )
            ack = await call(odd, timeout=5)
    finally:
        await proxy.stop(None)
        await upstream.close()
        await writer.stop(None)
    assert recording.received == [("SendBatch", odd)]
    assert ack.accepted == 1
