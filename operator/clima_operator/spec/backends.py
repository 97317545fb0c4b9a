"""Spec of Kafka, RabbitMQ and Valkey: each managed by the operator or external."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from clima import wiring
from clima_operator import images
from clima_operator.spec._base import (
    RESOURCES_HELP,
    BootstrapServers,
    DnsName,
    HostPort,
    Image,
    Quantity,
    Resources,
    SpecModel,
    cel,
    cel_rules,
    default_resources,
    given,
)
from clima_operator.spec.pods import POD_HELP, PodSettings

KAFKA_IMAGE = images.KAFKA.reference
RABBITMQ_IMAGE = images.RABBITMQ.reference
VALKEY_IMAGE = images.VALKEY.reference


class Storage(SpecModel):
    """The PersistentVolumeClaim of a managed broker or store."""

    size: Quantity = Field(description="Requested volume size, e.g. 5Gi; fixed after creation.")
    storage_class_name: DnsName | None = Field(
        None, description="StorageClass of the claim; unset uses the cluster's default class."
    )
    retain_on_delete: bool = Field(
        True,
        description="Keep the claim, and the reports it holds, when the StatefulSet is deleted "
        "(the pipeline deleted, or a broker removed after its drain); false deletes it with the "
        "StatefulSet. On by default so that deleting a pipeline by mistake loses no data.",
    )


class SecretKeyRef(SpecModel):
    """A key of a Secret in the pipeline's namespace."""

    name: DnsName = Field(description="Name of the Secret.")
    key: Annotated[str, StringConstraints(min_length=1, max_length=253)] = Field(
        "password", description="Key inside the Secret that holds the password."
    )


class CaSecretRef(SpecModel):
    """A PEM CA bundle in a Secret of the pipeline's namespace."""

    name: DnsName = Field(description="Name of the Secret.")
    key: Annotated[str, StringConstraints(min_length=1, max_length=253)] = Field(
        "ca.crt", description="Key inside the Secret that holds the PEM certificates."
    )


class ExternalTls(SpecModel):
    """TLS to a store the operator does not run."""

    enabled: bool = Field(
        False,
        description="Connect over TLS and verify the server's certificate (Kafka SSL or "
        "SASL_SSL, amqps://, rediss://).",
    )
    ca_secret_ref: CaSecretRef | None = Field(
        None,
        description="Secret key holding the PEM CA bundle the server's certificate is checked "
        "against; unset: the certificate authorities the Clima image trusts (enough for a "
        "managed service whose certificate is publicly trusted).",
    )


class KafkaSasl(SpecModel):
    """How the writer and the consumers authenticate to an external Kafka."""

    mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism."
    )
    username: Annotated[str, StringConstraints(min_length=1, max_length=255)] = Field(
        description="SASL user."
    )
    secret_ref: SecretKeyRef = Field(description="Secret key holding the user's password.")


_MANAGED_IMAGE = "Container image of the managed StatefulSet."
_STORAGE = "Persistent storage of the managed StatefulSet."


class ManagedKafka(SpecModel):
    """A KRaft Kafka StatefulSet created by the operator: every pod is a broker and a
    controller."""

    image: Image = Field(KAFKA_IMAGE, description=_MANAGED_IMAGE)
    replicas: int = Field(
        1,
        ge=1,
        le=9,
        description="Kafka nodes, each a broker and a KRaft controller on its own volume. "
        "With 3 or more, every partition has 3 copies and a write is acknowledged once 2 "
        "hold it, so a lost pod, disk or node loses no acknowledged report; with 2, two "
        "copies; with 1, one disk holds every report. Fixed once Kafka exists (its "
        'controller quorum is static): see docs/operator.md, "Replicated stores".',
    )
    resources: Resources = Field(
        default_resources("250m", "768Mi", "1Gi"), description=RESOURCES_HELP
    )
    storage: Storage = Field(given(size="5Gi"), description=_STORAGE)
    retention_bytes: Quantity | None = Field(
        None,
        description="Most bytes one copy of a partition keeps (Kafka's log.retention.bytes): "
        "past it Kafka deletes the partition's oldest data, read or not, and the writer "
        "refuses new reports (503, outcome refused) once a partition holds 3/4 of it not yet "
        "applied. Unset: sized to the volume, 4/5 of storage.size shared among the partition "
        "copies one node holds; more than that is refused. See docs/operator.md, "
        '"Disks".',
    )
    pod: PodSettings = Field(given(), description=POD_HELP)


class ManagedRabbitmq(SpecModel):
    """A RabbitMQ StatefulSet created by the operator: one node, or a cluster."""

    image: Image = Field(RABBITMQ_IMAGE, description=_MANAGED_IMAGE)
    replicas: int = Field(
        1,
        ge=1,
        le=9,
        description="RabbitMQ nodes, each on its own volume. With 2 or more they form one "
        "cluster and the work queue and its dead-letter queue are quorum queues, replicated "
        "on every node: a report is confirmed once a majority holds it, and with 3 a lost "
        "pod, disk or node loses no confirmed report. With 1, a classic queue on one disk. "
        "Fixed once RabbitMQ exists (the queues' type is chosen when they are created): see "
        'docs/operator.md, "Replicated stores".',
    )
    resources: Resources = Field(
        default_resources("100m", "256Mi", "512Mi"), description=RESOURCES_HELP
    )
    storage: Storage = Field(given(size="2Gi"), description=_STORAGE)
    pod: PodSettings = Field(given(), description=POD_HELP)


class ManagedValkey(SpecModel):
    """A Valkey StatefulSet created by the operator: one node, or a primary with replicas
    and a Sentinel beside each."""

    image: Image = Field(VALKEY_IMAGE, description=_MANAGED_IMAGE)
    replicas: int = Field(
        1,
        ge=1,
        le=9,
        description="Valkey nodes, each on its own volume. With 2 or more, one is the primary "
        "and the others replicate it; a Sentinel in every pod promotes a replica when the "
        "primary is lost, and the consumers find the primary through the Sentinels. An "
        "apply counts as done (offset committed, message acknowledged) only once a replica "
        "confirms it, so with 3 a lost pod, disk or node loses no applied report. With 1, "
        "one disk holds every count.",
    )
    resources: Resources = Field(
        default_resources("50m", "64Mi", "256Mi"), description=RESOURCES_HELP
    )
    storage: Storage = Field(given(size="1Gi"), description=_STORAGE)
    pod: PodSettings = Field(given(), description=POD_HELP)
    append_fsync: Literal["everysec", "always"] = Field(
        "everysec",
        description="When Valkey fsyncs its append-only file: everysec (a node crash may lose "
        "about the last second of applies) or always (every apply is on disk before the "
        "consumers commit it; slower, see docs/guarantees.md).",
    )


class ExternalKafka(SpecModel):
    """A Kafka cluster the operator does not run."""

    address: BootstrapServers | None = Field(
        None, description="Bootstrap servers as host:port[,host:port...]."
    )
    tls: ExternalTls = Field(given(), description="TLS to the brokers.")
    sasl: KafkaSasl | None = Field(None, description="SASL authentication; unset: none.")


class ExternalRabbitmq(SpecModel):
    """A RabbitMQ server the operator does not run."""

    address: HostPort | None = Field(
        None,
        description=f"host or host:port (port {wiring.RABBITMQ_PORT} if absent, "
        f"{wiring.RABBITMQ_TLS_PORT} with TLS).",
    )
    tls: ExternalTls = Field(given(), description="TLS to the server (amqps://).")
    username: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        "clima", description="User the writer and consumer log in as."
    )
    secret_ref: SecretKeyRef | None = Field(
        None, description="Secret key holding the password (URL-safe characters only)."
    )
    queue_type: wiring.RabbitQueueType = Field(
        "classic",
        description="Type the work queue and its dead-letter queue are declared with: quorum "
        "on a RabbitMQ cluster (replicated; a confirm means a majority holds the report), "
        "classic on a single node. A queue that exists keeps its type: declaring another "
        "fails, so change it only together with new queue names or an emptied server.",
    )


class ExternalValkey(SpecModel):
    """A Valkey (or Redis 7) server the operator does not run."""

    address: HostPort | None = Field(
        None, description=f"host or host:port (port {wiring.VALKEY_PORT} if absent)."
    )
    secret_ref: SecretKeyRef | None = Field(
        None, description="Secret key holding the password (URL-safe characters only)."
    )
    tls: ExternalTls = Field(given(), description="TLS to the server (rediss://).")


def _external_rules(path: str, needs_secret: bool) -> dict[str, Any]:
    # has() guards: the API server also checks these rules against the bare default {}.
    guard = (
        "!has(self.type) || self.type != 'external' || "
        "(has(self.external) && has(self.external.{}))"
    )
    rules = [
        cel(
            guard.format("address"),
            f"{path}.external.address is required when {path}.type is external",
            ".external.address",
            "FieldValueRequired",
        )
    ]
    if needs_secret:
        rules.append(
            cel(
                guard.format("secretRef"),
                f"{path}.external.secretRef is required when {path}.type is external",
                ".external.secretRef",
                "FieldValueRequired",
            )
        )
    return cel_rules(*rules)


def _check_external(external: Any, needs_secret: bool) -> None:
    if external.address is None:
        raise ValueError("external.address is required when type is external")
    if needs_secret and external.secret_ref is None:
        raise ValueError("external.secretRef is required when type is external")


_TYPE = (
    "managed: the operator runs a StatefulSet; external: use the address below; "
    "disabled: not used (only valid when spec.mode does not need it)."
)


class KafkaSpec(SpecModel):
    """Where the Kafka the writer and kafka-consumer use comes from."""

    model_config = ConfigDict(json_schema_extra=_external_rules("spec.kafka", False))

    type: Literal["managed", "external", "disabled"] = Field("managed", description=_TYPE)
    managed: ManagedKafka = Field(given(), description="Settings used when type is managed.")
    external: ExternalKafka = Field(given(), description="Settings used when type is external.")
    partitions: int = Field(
        wiring.KAFKA_PARTITIONS,
        ge=1,
        le=1000,
        description="Partitions of the reports topic: how many kafka-consumer pods can share "
        "the work. Raising it adds partitions to the existing topic when the writer restarts "
        "(the operator rolls it); it can never be lowered.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self >= oldSelf",
                    "message": "spec.kafka.partitions cannot be lowered: Kafka cannot remove a "
                    "topic's partitions (run fewer kafka-consumer pods instead)",
                    "reason": "FieldValueForbidden",
                }
            ]
        },
    )

    @model_validator(mode="after")
    def _external_complete(self) -> KafkaSpec:
        if self.type == "external":
            _check_external(self.external, needs_secret=False)
        return self


class RabbitmqSpec(SpecModel):
    """Where the RabbitMQ the writer and rabbit-consumer use comes from."""

    model_config = ConfigDict(json_schema_extra=_external_rules("spec.rabbitmq", True))

    type: Literal["managed", "external", "disabled"] = Field("managed", description=_TYPE)
    managed: ManagedRabbitmq = Field(given(), description="Settings used when type is managed.")
    external: ExternalRabbitmq = Field(given(), description="Settings used when type is external.")

    @model_validator(mode="after")
    def _external_complete(self) -> RabbitmqSpec:
        if self.type == "external":
            _check_external(self.external, needs_secret=True)
        return self

    @property
    def queue_type(self) -> wiring.RabbitQueueType:
        """The type of the work and dead-letter queues: quorum on a cluster."""
        if self.type == "external":
            return self.external.queue_type
        return "quorum" if self.managed.replicas > 1 else "classic"


class ValkeySpec(SpecModel):
    """Where the Valkey the consumers write to and Grafana reads from comes from."""

    model_config = ConfigDict(json_schema_extra=_external_rules("spec.valkey", True))

    type: Literal["managed", "external"] = Field(
        "managed",
        description="managed: the operator runs a StatefulSet; external: use the address below.",
    )
    managed: ManagedValkey = Field(given(), description="Settings used when type is managed.")
    external: ExternalValkey = Field(given(), description="Settings used when type is external.")

    @model_validator(mode="after")
    def _external_complete(self) -> ValkeySpec:
        if self.type == "external":
            _check_external(self.external, needs_secret=True)
        return self
