"""The proxy: HTTP /tweet on 8081 and gRPC on 50052, forwarding to the writer."""

from __future__ import annotations

from clima import wiring
from clima_operator.children import writer
from clima_operator.children._clima import Process, clima_deployment
from clima_operator.children._meta import Context, Manifest
from clima_operator.children._pods import env, http_probe, port, service

COMPONENT = "proxy"
HTTP_PORT = wiring.PROXY_HTTP_PORT
GRPC_PORT = wiring.PROXY_GRPC_PORT


def process(ctx: Context) -> Process:
    """The proxy process."""
    return Process(
        component=COMPONENT,
        settings=ctx.spec.proxy,
        args=["proxy"],
        env=[
            env(wiring.UPSTREAM_ENV.name, f"{ctx.owner.child(writer.COMPONENT)}:{writer.GRPC_PORT}")
        ],
        ports=[port("http", HTTP_PORT), port("grpc", GRPC_PORT)],
        liveness=http_probe("/healthz", "http"),
        readiness=http_probe("/readyz", "http", period=5),
        replicas=ctx.spec.proxy.replicas,
    )


def build(ctx: Context) -> list[Manifest]:
    """Deployment and Service of the proxy."""
    ports = [
        {"name": "http", "port": HTTP_PORT, "targetPort": "http"},
        {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "appProtocol": "grpc"},
    ]
    return [
        clima_deployment(ctx, process(ctx)),
        service(ctx.owner, COMPONENT, ctx.owner.child(COMPONENT), ports),
    ]
