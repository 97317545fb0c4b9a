"""Plain functions that turn a validated spec into the manifests of a pipeline's children.

One module per component; each ``build(ctx)`` returns that component's objects (or none
when the spec does not need it). Nothing here talks to the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

from clima_operator.children import (
    api,
    consumers,
    credentials,
    grafana,
    kafka,
    network,
    placement,
    proxy,
    rabbitmq,
    valkey,
    writer,
)
from clima_operator.children._disk import kafka_problem
from clima_operator.children._meta import (
    CHECKSUM_ANNOTATION,
    COMPONENT_LABEL,
    IMAGE_ANNOTATION,
    MANAGED_BY,
    PIPELINE_LABEL,
    Context,
    KafkaUsers,
    Manifest,
    Owner,
    Passwords,
)
from clima_operator.children._store import kept_volumes, refused_change

__all__ = [
    "CHECKSUM_ANNOTATION",
    "COMPONENT_LABEL",
    "IMAGE_ANNOTATION",
    "MANAGED_BY",
    "PIPELINE_LABEL",
    "ComponentRef",
    "Context",
    "KafkaUsers",
    "Manifest",
    "Owner",
    "Passwords",
    "components",
    "desired",
    "kafka_problem",
    "kept_volumes",
    "refused_change",
]

_BUILDERS = (
    api.build,
    proxy.build,
    writer.build,
    consumers.build,
    kafka.build,
    rabbitmq.build,
    valkey.build,
    grafana.build,
    network.build,
)


def desired(ctx: Context) -> list[Manifest]:
    """Every object the pipeline should have, except the credentials Secret: each pod
    placed as the spec says, and a disruption budget for each component of several pods."""
    built = [manifest for build in _BUILDERS for manifest in build(ctx)]
    objects = credentials.seal(ctx, placement.place(ctx, built))
    return objects + placement.budgets(ctx, objects)


@dataclass(frozen=True)
class ComponentRef:
    """A component whose readiness becomes the condition ``condition``."""

    condition: str
    title: str
    kind: str
    name: str
    external: str | None = None
    min_ready: int = 0  # pods that must be available whatever spec.replicas says (HPA minimum)


def _backends(ctx: Context) -> list[ComponentRef]:
    spec, owner = ctx.spec, ctx.owner
    wanted: list[tuple[str, str, str, str | None]] = []
    if spec.uses_kafka:
        external = spec.kafka.external.address if spec.kafka.type == "external" else None
        wanted.append(("KafkaReady", "Kafka", "kafka", external))
    if spec.uses_rabbit:
        external = spec.rabbitmq.external.address if spec.rabbitmq.type == "external" else None
        wanted.append(("RabbitmqReady", "RabbitMQ", "rabbitmq", external))
    external = spec.valkey.external.address if spec.valkey.type == "external" else None
    wanted.append(("ValkeyReady", "Valkey", "valkey", external))
    return [
        ComponentRef(condition, title, "StatefulSet", owner.child(suffix), address)
        for condition, title, suffix, address in wanted
    ]


def components(ctx: Context) -> list[ComponentRef]:
    """The components the spec asks for, in the order their conditions are listed."""
    owner, spec = ctx.owner, ctx.spec
    scaling = spec.api.autoscaling
    floor = scaling.min_replicas if scaling.enabled else 0
    refs = [
        ComponentRef("ApiReady", "api", "Deployment", owner.child(api.COMPONENT), None, floor),
        ComponentRef("ProxyReady", "proxy", "Deployment", owner.child(proxy.COMPONENT)),
        ComponentRef("WriterReady", "writer", "Deployment", owner.child(writer.COMPONENT)),
    ]
    if spec.uses_kafka:
        name = owner.child(consumers.KAFKA_COMPONENT)
        refs.append(ComponentRef("KafkaConsumerReady", "kafka-consumer", "Deployment", name))
    if spec.uses_rabbit:
        name = owner.child(consumers.RABBIT_COMPONENT)
        refs.append(ComponentRef("RabbitConsumerReady", "rabbit-consumer", "Deployment", name))
    refs.extend(_backends(ctx))
    if spec.grafana.enabled:
        name = owner.child(grafana.COMPONENT)
        refs.append(ComponentRef("GrafanaReady", "grafana", "Deployment", name))
    return refs
