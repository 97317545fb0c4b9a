"""The writer: gRPC on 50051, sending each report to the brokers the mode chooses."""

from __future__ import annotations

from typing import Any

from clima import wiring
from clima_operator.children._clima import Process, clima_deployment
from clima_operator.children._connections import kafka_env, rabbitmq_env, tls_volumes
from clima_operator.children._disk import kafka_disk, rabbit_backlog_bound
from clima_operator.children._meta import Context, Manifest
from clima_operator.children._pods import env, grpc_probe, http_probe, port, service

COMPONENT = "writer"
GRPC_PORT = wiring.WRITER_GRPC_PORT
HTTP_PORT = wiring.WRITER_PROBE_PORT
#: the writer's bounds in bytes, sized to the managed brokers' volumes
KAFKA_BYTES_ENV = f"{wiring.WRITER_PREFIX}KAFKA_MAX_PARTITION_BACKLOG_BYTES"
RABBIT_BYTES_ENV = f"{wiring.WRITER_PREFIX}RABBIT_MAX_BACKLOG_BYTES"


def environment(ctx: Context) -> list[dict[str, Any]]:
    """The writer's environment: the mode and only the brokers that mode uses."""
    values = [
        env(wiring.MODE_ENV.name, ctx.spec.mode),
        env(wiring.KAFKA_TOPIC_ENV.name, wiring.KAFKA_TOPIC),
        env(wiring.RABBIT_QUEUE_ENV.name, wiring.RABBIT_QUEUE),
        env("CLIMA_WRITER_MAX_BACKLOG_MESSAGES", str(ctx.spec.writer.max_backlog_messages)),
    ]
    if ctx.spec.uses_kafka:
        values.extend(kafka_env(ctx))
        values.append(env(wiring.KAFKA_PARTITIONS_ENV.name, str(ctx.spec.kafka.partitions)))
        if ctx.spec.kafka.type == "managed":
            bound = kafka_disk(ctx.spec).backlog_bound
            values.append(env(KAFKA_BYTES_ENV, str(bound)))
    if ctx.spec.uses_rabbit:
        values.extend(rabbitmq_env(ctx))
        if ctx.spec.rabbitmq.type == "managed":
            values.append(env(RABBIT_BYTES_ENV, str(rabbit_backlog_bound(ctx.spec))))
    return values


def process(ctx: Context) -> Process:
    """The writer process."""
    return Process(
        component=COMPONENT,
        settings=ctx.spec.writer,
        args=["writer"],
        env=environment(ctx),
        ports=[port("grpc", GRPC_PORT), port("http", HTTP_PORT)],
        liveness=http_probe("/healthz", "http"),
        readiness=grpc_probe(GRPC_PORT, period=5),
        replicas=ctx.spec.writer.replicas,
        volumes=tls_volumes(ctx, _stores(ctx)),
    )


def _stores(ctx: Context) -> tuple[str, ...]:
    return tuple(store for used, store in ((ctx.spec.uses_kafka, "kafka"),
                                           (ctx.spec.uses_rabbit, "rabbitmq")) if used)  # fmt: skip


def build(ctx: Context) -> list[Manifest]:
    """Deployment and Service of the writer."""
    ports = [
        {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "appProtocol": "grpc"},
        {"name": "http", "port": HTTP_PORT, "targetPort": "http"},
    ]
    return [
        clima_deployment(ctx, process(ctx)),
        service(ctx.owner, COMPONENT, ctx.owner.child(COMPONENT), ports),
    ]
