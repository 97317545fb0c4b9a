"""The proxy process: a gRPC pass-through and HTTP /tweet and /health, on one event loop."""

import logging

import grpc
import orjson
import uvloop
from fastapi import FastAPI, Response

from clima.common.grpc_server import GrpcServer
from clima.common.lifecycle import wait_for_signal
from clima.common.limits import BodyLimit, InFlight
from clima.common.logs import configure
from clima.common.refusal import Refusal, refusal_of
from clima.common.upstream import Upstream
from clima.common.web import start_http
from clima.contract import add_forwarding_service
from clima.contract.http import ReportIn
from clima.contract.outcome import REFUSED
from clima.proxy._forward import Forwarder
from clima.proxy.settings import ProxySettings

logger = logging.getLogger(__name__)


def create_http(upstream: Upstream, settings: ProxySettings) -> FastAPI:
    """The seed's HTTP face of the proxy: POST /tweet, GET /health (= /readyz), /healthz."""
    app = FastAPI(title="Clima proxy", version="0.1.0")
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    inflight = InFlight(settings.max_inflight, "CLIMA_PROXY_MAX_INFLIGHT")

    @app.post("/tweet", status_code=202)
    async def tweet(report: ReportIn) -> Response:
        """Forwards one report to the writer; 202 once durable."""
        built = report.to_report()
        if not inflight.take(1):
            return Refusal(503, f"proxy {inflight.refusal(1)}", REFUSED).response([built.id])
        try:
            await upstream.send_report(built, settings.max_timeout_s)
        except grpc.aio.AioRpcError as exc:
            return refusal_of(exc).response([built.id])
        finally:
            inflight.give(1)
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
    forward = Forwarder(upstream, settings.max_timeout_s)
    server = GrpcServer(
        settings.host, settings.grpc_port, lambda s: add_forwarding_service(forward, s)
    )
    await server.start()
    await server.set_serving(True)
    app = create_http(upstream, settings)
    http, http_task = start_http(app, settings.host, settings.http_port)
    logger.info(
        "proxy gRPC on %s, HTTP on %s, writer at %s",
        server.port,
        settings.http_port,
        settings.writer,
    )
    await wait_for_signal()
    await server.stop()
    http.should_exit = True
    await http_task
    await upstream.close()


def main() -> None:
    """Entry point of `clima proxy`."""
    settings = ProxySettings()
    configure(settings.log_level, settings.log_json)
    uvloop.run(serve(settings))
