"""The gRPC server set-up the proxy and the writer share: Clima's server options (keepalive
pings the channels send, no shared port), the ReportWriter service, gRPC health (what
Kubernetes probes) under both names, and a drain that turns health off first."""

from collections.abc import Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from clima.common.upstream import SERVER_OPTIONS
from clima.contract import SERVICE_NAME

GRACE_S = 10.0
"""How long calls in flight may take to finish once the server stops."""


class GrpcServer:
    """One gRPC server on host:port serving what `register` adds, plus gRPC health."""

    def __init__(self, host: str, port: int, register: Callable[[grpc.aio.Server], None]) -> None:
        self._server = grpc.aio.server(options=SERVER_OPTIONS)
        register(self._server)
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        self.port = self._server.add_insecure_port(f"{host}:{port}")

    async def start(self) -> None:
        """Starts serving; health answers SERVICE_UNKNOWN until `set_serving` is called."""
        await self._server.start()

    async def set_serving(self, serving: bool) -> None:
        """SERVING or NOT_SERVING, for the whole server and for clima.v1.ReportWriter."""
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", SERVICE_NAME):
            await self._health.set(name, status)

    async def stop(self, grace_s: float = GRACE_S) -> None:
        """Health says NOT_SERVING, then calls in flight get `grace_s` to finish."""
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace=grace_s)
