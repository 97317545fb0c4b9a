"""Start-up settings of the operator process, read once from ``CLIMA_OPERATOR_*`` variables."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class OperatorSettings(BaseSettings):
    """How the operator process runs; every field maps to ``CLIMA_OPERATOR_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="CLIMA_OPERATOR_", extra="ignore")

    namespaces: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("CLIMA_OPERATOR_NAMESPACES", "CLIMA_OPERATOR_NAMESPACE"),
        description="Comma-separated namespaces to serve (the singular name of earlier "
        "releases is accepted too); unset or empty serves every namespace, which the Helm "
        "chart never does.",
    )
    reconcile_interval: float = Field(
        30.0, gt=0, description="Seconds between two level-based reconciles of each pipeline."
    )
    liveness_port: int = Field(8080, ge=0, le=65535, description="Port of GET /healthz.")
    metrics_port: int = Field(
        9090, ge=0, le=65535, description="Port of the Prometheus /metrics endpoint; 0 disables."
    )
    bind_address: str = Field("0.0.0.0", description="Address the two HTTP endpoints bind to.")
    dashboards_dir: Path | None = Field(
        None, description="Folder of Grafana dashboard JSON files shipped to every pipeline."
    )
    default_image: str | None = Field(
        None,
        description="Clima image of a pipeline whose spec.image is empty; the Helm chart sets "
        "the operator's own image.",
    )
    log_format: Literal["text", "json"] = Field("text", description="Log line format.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO")
    pod_namespace: str | None = Field(
        None,
        description="The namespace the operator runs in (the Helm chart sets it): each "
        "pipeline's Valkey admits it, for the DedupeWindowFits sampling.",
    )
    request_timeout: float = Field(
        30.0, gt=0, description="Seconds before a request to the API server is abandoned."
    )

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split_namespaces(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        names = [name.strip() for name in value.split(",") if name.strip()]
        for name in names:
            if not _NAMESPACE.match(name):
                raise ValueError(f"CLIMA_OPERATOR_NAMESPACES: {name!r} is not a namespace name")
        return list(dict.fromkeys(names))

    @property
    def clusterwide(self) -> bool:
        """Whether the operator serves every namespace."""
        return not self.namespaces

    @property
    def liveness_endpoint(self) -> str:
        """The URL kopf serves its liveness probe on."""
        return f"http://{self.bind_address}:{self.liveness_port}/healthz"
