"""The broker consumers, one Deployment per broker the mode uses, writing into Valkey."""

from __future__ import annotations

from typing import Any

from clima import wiring
from clima_operator.children._clima import Process, clima_deployment
from clima_operator.children._connections import (
    kafka_env,
    rabbitmq_env,
    tls_volumes,
    valkey_env,
)
from clima_operator.children._meta import Context, Manifest
from clima_operator.children._pods import env, http_probe, port
from clima_operator.spec import ConsumerSpec

KAFKA_COMPONENT = "kafka-consumer"
RABBIT_COMPONENT = "rabbit-consumer"
HTTP_PORT = wiring.CONSUMER_PROBE_PORT


def _process(
    ctx: Context,
    component: str,
    settings: ConsumerSpec,
    broker: wiring.Broker,
    source: list[dict[str, Any]],
) -> Process:
    retention = [
        env(wiring.STREAM_MAXLEN_ENV.name, str(ctx.spec.retention.stream_max_len)),
        env(wiring.DEDUPE_WINDOW_ENV.name, str(ctx.spec.retention.dedupe_window_s)),
    ]
    return Process(
        component=component,
        settings=settings,
        args=["consumer", broker],
        env=[*source, *valkey_env(ctx), *retention],
        ports=[port("http", HTTP_PORT)],
        liveness=http_probe("/healthz", "http"),
        # /readyz fails while the consumer holds a batch Valkey cannot take (full, away), or
        # has no broker connection; liveness stays /healthz: a restart would not help
        readiness=http_probe("/readyz", "http", period=5),
        replicas=settings.replicas,
        volumes=tls_volumes(ctx, ("kafka" if broker == wiring.KAFKA else "rabbitmq", "valkey")),
    )


def kafka_process(ctx: Context) -> Process:
    """The Kafka consumer process."""
    source = [
        *kafka_env(ctx),
        env(wiring.KAFKA_TOPIC_ENV.name, wiring.KAFKA_TOPIC),
        env(wiring.KAFKA_PARTITIONS_ENV.name, str(ctx.spec.kafka.partitions)),
    ]
    return _process(ctx, KAFKA_COMPONENT, ctx.spec.kafka_consumer, wiring.KAFKA, source)


def rabbit_process(ctx: Context) -> Process:
    """The RabbitMQ consumer process."""
    source = [*rabbitmq_env(ctx), env(wiring.RABBIT_QUEUE_ENV.name, wiring.RABBIT_QUEUE)]
    return _process(ctx, RABBIT_COMPONENT, ctx.spec.rabbit_consumer, wiring.RABBIT, source)


def build(ctx: Context) -> list[Manifest]:
    """The consumers of the brokers ``spec.mode`` uses (no Service: nothing calls them)."""
    objects = []
    if ctx.spec.uses_kafka:
        objects.append(clima_deployment(ctx, kafka_process(ctx)))
    if ctx.spec.uses_rabbit:
        objects.append(clima_deployment(ctx, rabbit_process(ctx)))
    return objects
