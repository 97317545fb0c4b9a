"""Spec of the Clima processes and of Grafana, the Ingress and retention."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from clima_operator import images
from clima_operator.spec._base import (
    RESOURCES_HELP,
    DnsName,
    Image,
    Resources,
    SpecModel,
    cel,
    cel_rules,
    default_resources,
    given,
)
from clima_operator.spec.pods import POD_HELP, PodSettings

GRAFANA_IMAGE = images.GRAFANA.reference

_REPLICAS = Field(1, ge=0, le=100, description="Number of pods (0 stops the component).")
_IMAGE_OVERRIDE = Field(None, description="Image of this component; defaults to spec.image.")


class ComponentSpec(SpecModel):
    """Replicas, image and resources of one Clima process."""

    replicas: int = _REPLICAS
    image: Image | None = _IMAGE_OVERRIDE
    resources: Resources = Field(
        default_resources("100m", "128Mi", "256Mi"), description=RESOURCES_HELP
    )
    pod: PodSettings = Field(given(), description=POD_HELP)


class ConsumerSpec(ComponentSpec):
    """Replicas, image and resources of one broker consumer."""

    resources: Resources = Field(
        default_resources("50m", "96Mi", "256Mi"), description=RESOURCES_HELP
    )


class WriterSpec(ComponentSpec):
    """Replicas, image and resources of the writer, and the backlog past which it refuses."""

    max_backlog_messages: int = Field(
        100_000,
        ge=0,
        le=1_000_000_000,
        description="Refuse new reports (503, outcome refused) while Kafka or RabbitMQ holds "
        "more messages than this that the consumers have not applied yet (they hold when "
        "Valkey is full); measured every second. 0: no bound.",
    )


class Autoscaling(SpecModel):
    """A HorizontalPodAutoscaler (autoscaling/v2) for the api, scaling on CPU."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            cel(
                "!has(self.minReplicas) || !has(self.maxReplicas) || "
                "self.minReplicas <= self.maxReplicas",
                "spec.api.autoscaling.minReplicas must be less than or equal to maxReplicas",
                ".minReplicas",
                "FieldValueInvalid",
            )
        )
    )

    enabled: bool = Field(False, description="Scale the api with an HPA instead of api.replicas.")
    min_replicas: int = Field(1, ge=1, le=100, description="Fewest api pods the HPA keeps.")
    max_replicas: int = Field(5, ge=1, le=100, description="Most api pods the HPA starts.")
    target_cpu_utilization_percentage: int = Field(
        70,
        ge=1,
        le=100,
        alias="targetCPUUtilizationPercentage",
        description="Average CPU use, in percent of the request, the HPA aims for.",
    )

    @model_validator(mode="after")
    def _bounds_in_order(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError("minReplicas must be less than or equal to maxReplicas")
        return self


class ApiSpec(ComponentSpec):
    """The HTTP api (port 8080) that accepts weather reports."""

    autoscaling: Autoscaling = Field(
        given(), description="Optional CPU-based autoscaling of the api."
    )


PluginUrl = Annotated[
    str, StringConstraints(min_length=1, max_length=2048, pattern=r"^https?://[^\s,;]+$")
]


class GrafanaSpec(SpecModel):
    """A Grafana with the Valkey data source and the Clima dashboards provisioned."""

    enabled: bool = Field(True, description="Deploy Grafana for this pipeline.")
    image: Image = Field(GRAFANA_IMAGE, description="Grafana container image.")
    pod: PodSettings = Field(given(), description=POD_HELP)
    plugin_url: PluginUrl | None = Field(
        None,
        description=(
            "URL of the redis-datasource plugin zip for clusters without internet access "
            "(served inside the cluster, e.g. the release zip of the pinned version); unset, "
            "Grafana downloads the pinned version from grafana.com at start-up."
        ),
    )
    resources: Resources = Field(
        default_resources("50m", "128Mi", "256Mi"), description=RESOURCES_HELP
    )


class IngressSpec(SpecModel):
    """An Ingress (networking.k8s.io/v1) in front of the api Service."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            cel(
                "!has(self.tlsSecretName) || has(self.host)",
                "spec.ingress.host is required when spec.ingress.tlsSecretName is set",
                ".host",
                "FieldValueRequired",
            )
        )
    )

    enabled: bool = Field(False, description="Create the Ingress.")
    class_name: DnsName | None = Field(
        None, description="IngressClass to use; unset uses the cluster's default class."
    )
    host: (
        Annotated[
            str,
            StringConstraints(
                max_length=253,
                pattern=r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
            ),
        ]
        | None
    ) = Field(None, description="Host name the api answers on; unset matches any host.")
    path: Annotated[str, StringConstraints(max_length=256, pattern=r"^/\S*$")] = Field(
        "/", description="Path prefix routed to the api."
    )
    tls_secret_name: DnsName | None = Field(
        None, description="Secret with the TLS certificate for host; unset serves plain HTTP."
    )

    @model_validator(mode="after")
    def _tls_needs_host(self) -> IngressSpec:
        if self.tls_secret_name is not None and self.host is None:
            raise ValueError("host is required when tlsSecretName is set")
        return self


class NetworkPoliciesSpec(SpecModel):
    """NetworkPolicies (networking.k8s.io/v1) that admit only the connections Clima makes."""

    enabled: bool = Field(
        True,
        description="One NetworkPolicy per component admitting only the connections Clima "
        "makes: the api, Grafana and the proxy's HTTP port from anywhere, the proxy's gRPC port "
        "from the api, the writer from the proxy, each broker from the writer and its consumer, "
        "Valkey from the consumers and Grafana, the consumers from nobody. Enforced only where "
        "the cluster's network plugin implements NetworkPolicy.",
    )


_WINDOW = r"^[1-9][0-9]{0,5}(m|h|d)$"


class RetentionSpec(SpecModel):
    """How much history Valkey keeps."""

    stream_max_len: int = Field(
        10000,
        ge=10,  # the consumers' floor (CLIMA_STREAM_MAXLEN): below it they refuse to start
        le=100_000_000,
        description="Approximate cap on entries of each municipality stream (XADD MAXLEN ~).",
    )
    dedupe_window: Annotated[str, StringConstraints(pattern=_WINDOW)] = Field(
        "24h",
        description="W: a report sent again within this long of its first apply counts once, "
        "whatever its event time (docs/guarantees.md). Minutes, hours or days: 90m, 24h, 7d; "
        "at least 1h, at most 365d. Valkey keeps one key of about 140 bytes per id for W: "
        "size its memory limit to at least (reports/s x W x 140 B + 16 MB) / 0.75.",
    )

    @model_validator(mode="after")
    def _window_in_range(self) -> RetentionSpec:
        if not 3600 <= self.dedupe_window_s <= 365 * 86400:
            window = self.dedupe_window
            raise ValueError(f"retention.dedupeWindow {window!r} must be from 1h to 365d")
        return self

    @property
    def dedupe_window_s(self) -> int:
        """W in seconds."""
        number, unit = int(self.dedupe_window[:-1]), self.dedupe_window[-1]
        return number * {"m": 60, "h": 3600, "d": 86400}[unit]
