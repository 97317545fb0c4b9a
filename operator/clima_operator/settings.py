"""Start-up settings of the operator process, read once from ``CLIMA_OPERATOR_*`` variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OperatorSettings(BaseSettings):
    """How the operator process runs; every field maps to ``CLIMA_OPERATOR_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="CLIMA_OPERATOR_", extra="ignore")

    namespace: str | None = Field(
        None,
        description="Serve only this namespace; unset serves ClimaPipelines cluster-wide.",
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
    log_format: Literal["text", "json"] = Field("text", description="Log line format.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO")
    request_timeout: float = Field(
        30.0, gt=0, description="Seconds before a request to the API server is abandoned."
    )

    @property
    def liveness_endpoint(self) -> str:
        """The URL kopf serves its liveness probe on."""
        return f"http://{self.bind_address}:{self.liveness_port}/healthz"
