"""The proxy's and the writer's gRPC server set-up: health under both names, follows
`set_serving`, turns off on stop; Clima's options applied (no port sharing)."""

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clima.common.grpc_server import GrpcServer
from clima.contract import SERVICE_NAME

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _statuses(port: int) -> list[int]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        answers = [
            await stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            for name in ("", SERVICE_NAME)
        ]
    return [answer.status for answer in answers]


async def test_health_follows_set_serving_under_both_names() -> None:
    """SERVING, then NOT_SERVING, for the server and for clima.v1.ReportWriter alike."""
    registered: list[grpc.aio.Server] = []
    server = GrpcServer("127.0.0.1", 0, registered.append)
    assert len(registered) == 1
    await server.start()
    try:
        await server.set_serving(True)
        assert await _statuses(server.port) == [SERVING, SERVING]
        await server.set_serving(False)
        assert await _statuses(server.port) == [NOT_SERVING, NOT_SERVING]
    finally:
        await server.stop(grace_s=0)


async def test_a_second_server_cannot_share_the_port() -> None:
    """SO_REUSEPORT is off: a second server on a port in use fails instead of taking half of
    the first one's connections."""
    first = GrpcServer("127.0.0.1", 0, lambda _: None)
    await first.start()
    try:
        with pytest.raises(RuntimeError):
            GrpcServer("127.0.0.1", first.port, lambda _: None)
    finally:
        await first.stop(grace_s=0)
