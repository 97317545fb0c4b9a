"""The proxy process: a gRPC pass-through and HTTP /tweet and /health, on one event loop."""

import logging

import grpc
import orjson
import uvloop
from fastapi import FastAPI, Response
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from clima.common.lifecycle import wait_for_signal
from clima.common.limits import BodyLimit
from clima.common.logs import configure
from clima.common.upstream import SERVER_OPTIONS, Upstream
from clima.common.web import start_http
from clima.contract import SERVICE_NAME, add_writer_service
from clima.contract.http import ReportIn
from clima.contract.outcome import outcome_of, unavailable_body
from clima.proxy._forward import ForwardingService
from clima.proxy.settings import ProxySettings

logger = logging.getLogger(__name__)


def create_http(upstream: Upstream, settings: ProxySettings) -> FastAPI:
    """The seed's HTTP face of the proxy: POST /tweet, GET /health (= /readyz), /healthz."""
    app = FastAPI(title="Clima proxy", version="0.1.0")
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    @app.post("/tweet", status_code=202)
    async def tweet(report: ReportIn) -> Response:
        """Forwards one report to the writer; 202 once durable."""
        built = report.to_report()
        try:
            await upstream.send_report(built, settings.max_timeout_s)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                return Response(
                    orjson.dumps({"detail": exc.details()}), 422, media_type="application/json"
                )
            outcome = outcome_of(exc.trailing_metadata())
            body = unavailable_body(f"{exc.code().name}: {exc.details()}", outcome, [built.id])
            return Response(body, 503, {"Retry-After": "1"}, media_type="application/json")
        return Response(
            orjson.dumps({"id": built.id, "status": "accepted"}), 202, media_type="application/json"
        )

    @app.get("/health")
    @app.get("/readyz")
    async def health_check() -> Response:
        """Readiness (the seed's /health): the writer is not known to be down."""
        if upstream.reachable():
            return Response(b'{"status":"ok"}', media_type="application/json")
        return Response(b'{"status":"writer unreachable"}', 503, media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> Response:
        """Liveness: the process serves requests. Never the writer's state: a proxy restarted
        because its writer is away comes back to the same writer, and only adds an outage."""
        return Response(b'{"status":"ok"}', media_type="application/json")

    return app


async def serve(settings: ProxySettings) -> None:
    """Runs both servers until SIGTERM/SIGINT, then drains them."""
    upstream = Upstream(settings.writer)
    server = grpc.aio.server(options=SERVER_OPTIONS)
    add_writer_service(ForwardingService(upstream, settings.max_timeout_s), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port(f"{settings.host}:{settings.grpc_port}")
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    app = create_http(upstream, settings)
    http, http_task = start_http(app, settings.host, settings.http_port)
    logger.info(
        "proxy gRPC on %s, HTTP on %s, writer at %s", port, settings.http_port, settings.writer
    )
    await wait_for_signal()
    await health_servicer.enter_graceful_shutdown()
    await server.stop(grace=10)
    http.should_exit = True
    await http_task
    await upstream.close()


def main() -> None:
    """Entry point of `clima proxy`."""
    settings = ProxySettings()
    configure(settings.log_level, settings.log_json)
    uvloop.run(serve(settings))
