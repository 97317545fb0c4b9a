"""The ClimaPipeline spec as one pydantic model.

It is both what the operator validates each object against and the single source of the
CRD's OpenAPI schema (``clima_operator.crd`` derives the schema, descriptions, defaults,
bounds and CEL rules from these classes), so the two cannot drift apart. Field names are
snake_case here and camelCase in the CRD.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, model_validator

from clima import wiring
from clima_operator.errors import InvalidSpecError
from clima_operator.spec._base import Image, Quantity, Resources, SpecModel, cel, cel_rules, given
from clima_operator.spec.backends import (
    KAFKA_IMAGE,
    RABBITMQ_IMAGE,
    VALKEY_IMAGE,
    CaSecretRef,
    ExternalKafka,
    ExternalRabbitmq,
    ExternalTls,
    ExternalValkey,
    KafkaSasl,
    KafkaSpec,
    ManagedKafka,
    ManagedRabbitmq,
    ManagedValkey,
    RabbitmqSpec,
    SecretKeyRef,
    Storage,
    ValkeySpec,
)
from clima_operator.spec.components import (
    GRAFANA_IMAGE,
    ApiSpec,
    Autoscaling,
    ComponentSpec,
    ConsumerSpec,
    GrafanaSpec,
    IngressSpec,
    NetworkPoliciesSpec,
    RetentionSpec,
    WriterSpec,
)
from clima_operator.spec.pods import PodSettings, Toleration

__all__ = [
    "BROKER_FIELDS",
    "GRAFANA_IMAGE",
    "KAFKA_IMAGE",
    "MAX_NAME_LENGTH",
    "RABBITMQ_IMAGE",
    "VALKEY_IMAGE",
    "ApiSpec",
    "Autoscaling",
    "CaSecretRef",
    "ComponentSpec",
    "ConsumerSpec",
    "ExternalKafka",
    "ExternalRabbitmq",
    "ExternalTls",
    "ExternalValkey",
    "GrafanaSpec",
    "Image",
    "IngressSpec",
    "KafkaSasl",
    "KafkaSpec",
    "ManagedKafka",
    "ManagedRabbitmq",
    "ManagedValkey",
    "NetworkPoliciesSpec",
    "PipelineSpec",
    "PodSettings",
    "Quantity",
    "RabbitmqSpec",
    "Resources",
    "RetentionSpec",
    "SecretKeyRef",
    "Storage",
    "Toleration",
    "ValkeySpec",
    "WriterSpec",
    "parse_spec",
    "validate_name",
]

MAX_NAME_LENGTH = 40
_NAME_PATTERN = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

#: The spec's field of each broker (clima.wiring names the brokers).
BROKER_FIELDS: dict[wiring.Broker, str] = {wiring.KAFKA: "kafka", wiring.RABBIT: "rabbitmq"}


def _mode_rule(broker: wiring.Broker) -> dict[str, Any]:
    """The CEL rule refusing a disabled broker that spec.mode writes to."""
    field, modes = BROKER_FIELDS[broker], wiring.modes_using(broker)
    listed = ", ".join(f"'{mode}'" for mode in modes)
    spoken = ", ".join(modes[:-1]) + f" or {modes[-1]}"
    return cel(
        f"!has(self.mode) || !(self.mode in [{listed}]) || !has(self.{field}) || "
        f"!has(self.{field}.type) || self.{field}.type != 'disabled'",
        f"spec.{field}.type must not be disabled when spec.mode is {spoken}",
        f".{field}.type",
        "FieldValueInvalid",
    )


class PipelineSpec(SpecModel):
    """Desired state of a Clima pipeline: api, proxy, writer, brokers, consumers, Valkey."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(*(_mode_rule(broker) for broker in wiring.BROKERS))
    )

    mode: wiring.Mode = Field(
        wiring.DEFAULT_MODE,
        description="Where the writer sends reports: kafka, rabbit, both (each report to both) "
        "or random (one of the two per report).",
    )
    image: Image | None = Field(
        None,
        description="Clima image used by every Clima component; empty: the image the operator "
        "itself runs (the Helm chart's image.*), so pipelines match their operator's version.",
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        "IfNotPresent", description="Pull policy of every container."
    )
    suspend: bool = Field(
        False, description="Stop reconciling: children are neither updated nor repaired."
    )
    pod: PodSettings = Field(
        given(),
        description="Scheduling (nodeSelector, tolerations, affinity, priorityClassName) and "
        "extra labels and annotations of every pod of the pipeline; each component's pod "
        "settings are merged over these.",
    )
    api: ApiSpec = Field(given(), description="The HTTP api.")
    proxy: ComponentSpec = Field(
        given(),
        description=f"The proxy (HTTP :{wiring.PROXY_HTTP_PORT}, gRPC :{wiring.PROXY_GRPC_PORT}).",
    )
    writer: WriterSpec = Field(
        given(), description=f"The writer (gRPC :{wiring.WRITER_GRPC_PORT}) feeding the brokers."
    )
    kafka_consumer: ConsumerSpec = Field(
        given(), description="The Kafka consumer; deployed when spec.mode uses Kafka."
    )
    rabbit_consumer: ConsumerSpec = Field(
        given(), description="The RabbitMQ consumer; deployed when spec.mode uses RabbitMQ."
    )
    kafka: KafkaSpec = Field(given(), description="The Kafka broker.")
    rabbitmq: RabbitmqSpec = Field(given(), description="The RabbitMQ broker.")
    valkey: ValkeySpec = Field(given(), description="The Valkey store.")
    grafana: GrafanaSpec = Field(given(), description="Grafana with the Clima dashboards.")
    ingress: IngressSpec = Field(given(), description="Ingress to the api.")
    retention: RetentionSpec = Field(given(), description="Retention of the data in Valkey.")
    network_policies: NetworkPoliciesSpec = Field(
        given(), description="NetworkPolicies between the pipeline's components."
    )

    @model_validator(mode="after")
    def _brokers_of_mode_enabled(self) -> PipelineSpec:
        for broker in wiring.brokers_of(self.mode):
            field = BROKER_FIELDS[broker]
            if getattr(self, field).type == "disabled":
                raise ValueError(f"{field}.type must not be disabled when mode is {self.mode}")
        return self

    @property
    def uses_kafka(self) -> bool:
        """Whether the mode sends reports through Kafka."""
        return wiring.KAFKA in wiring.brokers_of(self.mode)

    @property
    def uses_rabbit(self) -> bool:
        """Whether the mode sends reports through RabbitMQ."""
        return wiring.RABBIT in wiring.brokers_of(self.mode)


def validate_name(name: str) -> None:
    """Refuse pipeline names whose children would not be valid Service names."""
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidSpecError("metadata.name", f"must be at most {MAX_NAME_LENGTH} characters")
    if not _NAME_PATTERN.match(name):
        raise InvalidSpecError(
            "metadata.name", "must start with a letter and hold only a-z, 0-9 and '-'"
        )


def parse_spec(raw: Mapping[str, Any], default_image: str | None = None) -> PipelineSpec:
    """Validate a raw ``spec`` mapping; the error names the first offending field. An empty
    ``spec.image`` becomes ``default_image`` (the operator's own image) when one is given."""
    try:
        spec = PipelineSpec.model_validate(dict(raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(["spec", *(str(part) for part in first["loc"])])
        message = first["msg"].removeprefix("Value error, ")
        raise InvalidSpecError(field, message) from exc
    if spec.image is None and default_image:
        spec = spec.model_copy(update={"image": default_image})
    return spec
